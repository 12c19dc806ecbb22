package podtask

import (
	"errors"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

var testClaim = ClaimRef{Namespace: "default", Name: "data-web-0", UID: "0f3c9a52-8a4e-4f7e-9a2b-7d1f3c5e6a10"}

func TestVolumeResources(t *testing.T) {
	v := Volume{Claim: testClaim, Role: "kubemesos", Principal: "kubemesos", DiskMB: 1024}
	if got, want := v.PersistenceID(), "pvc-0f3c9a52-8a4e-4f7e-9a2b-7d1f3c5e6a10"; got != want || v.PVName() != want {
		t.Fatalf("PersistenceID = %q, PVName = %q, want %q", got, v.PVName(), want)
	}
	r, err := v.ReserveResource()
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "disk" || r.GetScalar().GetValue() != 1024 || r.GetRole() != "kubemesos" || r.GetReservation().GetPrincipal() != "kubemesos" ||
		r.GetAllocationInfo().GetRole() != "kubemesos" || r.Disk != nil || len(r.Reservations) != 0 {
		t.Errorf("ReserveResource = %v", r)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("reserved disk does not validate: %v", err)
	}
	if c, ok := ClaimOfResource(&r); !ok || c != testClaim {
		t.Errorf("ClaimOfResource(reserved disk) = %v, %v; want %v", c, ok, testClaim)
	}
	vol, err := v.CreateResource()
	if err != nil {
		t.Fatal(err)
	}
	if !vol.IsPersistentVolume() || vol.GetDisk().GetPersistence().GetID() != v.PersistenceID() || vol.GetDisk().GetPersistence().GetPrincipal() != "kubemesos" ||
		vol.GetDisk().GetVolume().GetContainerPath() != "volumes/"+v.PersistenceID() || vol.GetDisk().GetVolume().GetMode() != mesos.RW {
		t.Errorf("CreateResource = %v", vol)
	}
	// The same claim is found in the refinement format Mesos reports to
	// RESERVATION_REFINEMENT frameworks and operators.
	refined := vol
	refined.Role, refined.Reservation = nil, nil
	refined.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("kubemesos"), Labels: r.Reservation.Labels}}
	if c, ok := ClaimOfResource(&refined); !ok || c != testClaim {
		t.Errorf("ClaimOfResource(refinement format) = %v, %v", c, ok)
	}
	rs := []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}, r, vol}
	if got := FindVolume(rs, v.PersistenceID()); got == nil || got.GetDisk().GetPersistence().GetID() != v.PersistenceID() {
		t.Errorf("FindVolume = %v", got)
	}
	if FindVolume(rs, "pvc-other") != nil {
		t.Error("FindVolume found a volume that is not there")
	}
	if ids := VolumeIDs(rs); len(ids) != 1 || ids[0] != v.PersistenceID() {
		t.Errorf("VolumeIDs = %v", ids)
	}
	if _, ok := ClaimOfResource(&rs[0]); ok {
		t.Error("ClaimOfResource of unreserved cpus succeeded")
	}

	// Without a principal, neither the reservation nor the volume names one.
	v.Principal = ""
	vol, err = v.CreateResource()
	if err != nil || vol.GetReservation().Principal != nil || vol.GetDisk().GetPersistence().Principal != nil {
		t.Errorf("CreateResource without principal = %v, %v", vol, err)
	}
}

func TestVolumeRejects(t *testing.T) {
	good := Volume{Claim: testClaim, Role: "kubemesos", DiskMB: 1}
	for name, mutate := range map[string]func(*Volume){
		"no namespace":             func(v *Volume) { v.Claim.Namespace = "" },
		"no name":                  func(v *Volume) { v.Claim.Name = "" },
		"no UID":                   func(v *Volume) { v.Claim.UID = "" },
		"UID not a DNS label part": func(v *Volume) { v.Claim.UID = "A_B" },
		"no size":                  func(v *Volume) { v.DiskMB = 0 },
		"no role":                  func(v *Volume) { v.Role = "" },
		"role *":                   func(v *Volume) { v.Role = "*" },
		"invalid role":             func(v *Volume) { v.Role = "a b" },
	} {
		v := good
		mutate(&v)
		if _, err := v.ReserveResource(); !errors.Is(err, ErrBadVolume) {
			t.Errorf("%s: ReserveResource error %v, want ErrBadVolume", name, err)
		}
		if _, err := v.CreateResource(); !errors.Is(err, ErrBadVolume) {
			t.Errorf("%s: CreateResource error %v, want ErrBadVolume", name, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("valid volume: %v", err)
	}
}

// Every PV name of a claim UID as the API server makes them is a Mesos
// persistence ID: at most 255 characters, not "." or "..", no '/', '\' or
// control characters (Mesos' common::validation::validateID).
func TestPersistenceIDIsAMesosID(t *testing.T) {
	for range 1000 {
		id, err := PersistenceID(PVName(uuid.NewUUID()))
		if err != nil {
			t.Fatal(err)
		}
		if id == "" || len(id) > 255 || id == "." || id == ".." || strings.ContainsAny(id, `/\`) || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("persistence ID %q is not a Mesos ID", id)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "UPPER", strings.Repeat("a", 254), "-lead"} {
		if _, err := PersistenceID(bad); !errors.Is(err, ErrBadVolume) {
			t.Errorf("PersistenceID(%q) error %v, want ErrBadVolume", bad, err)
		}
	}
	if PVName(types.UID("x")) != "pvc-x" {
		t.Errorf("PVName = %q", PVName("x"))
	}
}
