package resources

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestStateJSONRevocableAndSummed(t *testing.T) {
	regular, err := Parse("cpus:2;mem:1024;ports:[31000-31010]")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := Parse("cpus:3;mem:256")
	if err != nil {
		t.Fatal(err)
	}
	reserved := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1},
		Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("db")}}}
	more := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31011, End: 31020}}},
		Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("db")}}}
	all := append(append(regular.Clone(), MakeRevocable(rev)...), reserved, more)
	got := StateJSON(all)
	want := map[string]any{"cpus": 3.0, "mem": 1024.0, "disk": 0.0, "gpus": 0.0, "cpus_revocable": 3.0, "mem_revocable": 256.0, "ports": "[31000-31020]"}
	if len(got) != len(want) {
		t.Fatalf("StateJSON = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("StateJSON[%s] = %v, want %v", k, got[k], v)
		}
	}
	if r, n := Revocable(all), NonRevocable(all); len(r) != 2 || len(n) != 5 || !r[0].IsRevocable() || n[0].IsRevocable() {
		t.Fatalf("Revocable %v / NonRevocable %v", r, n)
	}
	if !Equal(MakeRevocable(rev), MakeRevocable(rev)) || Equal(rev, MakeRevocable(rev)) {
		t.Fatal("Equal must tell revocable from regular resources")
	}
}

func ptr[T any](v T) *T { return &v }
