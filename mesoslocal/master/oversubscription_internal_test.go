package master

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// TestCreateRefusesRevocableVolume: no persistent volume on revocable disk
// (Mesos' validateDiskInfo), while the same volume on regular disk is
// valid. An ACCEPT cannot reach this check through offers (revocable
// resources cannot be reserved in the first place), so it is called here.
func TestCreateRefusesRevocableVolume(t *testing.T) {
	m := New(Config{})
	a := &agent{id: "a"}
	vol := mesos.Resource{
		Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 100},
		Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("db"), Principal: ptr("p")}},
		Disk: &mesos.Resource_DiskInfo{
			Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "v1", Principal: ptr("p")},
			Volume:      &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()},
		},
	}
	if _, _, err := m.validateCreate(a, "db", []mesos.Resource{vol}); err != nil {
		t.Fatalf("a volume on regular reserved disk: %v", err)
	}
	vol.Revocable = &mesos.Resource_RevocableInfo{}
	if _, _, err := m.validateCreate(a, "db", []mesos.Resource{vol}); err == nil {
		t.Fatal("CREATE accepted a persistent volume on revocable disk")
	}
}
