package podtask

import (
	"errors"
	"fmt"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/roles"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Persistent volumes of pods (#8): a PVC of the StorageClass StorageClassName
// is provisioned as a Mesos persistent volume on the agent its first pod is
// placed on. The bridge RESERVEs disk for its role with labels naming the
// PVC, CREATEs the volume and LAUNCHes the pod's task with it in one ACCEPT,
// then creates the PV (PersistentVolume) and binds the PVC. The executor
// finds the volume's directory with VolumeHostPath.

// StorageClassName and Provisioner are kubemesos' storage class
// (manifests/storage/) and the provisioner name it and its PVs carry.
const (
	StorageClassName = "kubemesos-local"
	Provisioner      = "kubemesos.io/mesos-volume"
)

// Labels of the reservation of a volume's disk, naming its PVC. Mesos keeps
// them with the reservation and offers them back, so the bridge can tell
// which claim a reserved disk or volume belongs to even before its PV
// exists (after a failover between CREATE and the PV's creation).
const (
	LabelClaimNamespace = "kubemesos.io/pvc-namespace"
	LabelClaimName      = "kubemesos.io/pvc-name"
	LabelClaimUID       = "kubemesos.io/pvc-uid"
)

// volumeContainerDir holds the container paths of pod volumes in the
// executor's sandbox. Mesos requires a relative container path for the
// posix filesystem isolator, and one per volume keeps two volumes of one
// executor apart.
const volumeContainerDir = "volumes"

// ErrBadVolume marks a Volume that cannot be reserved or created: a claim
// without namespace, name or UID, an invalid role, or no size.
var ErrBadVolume = errors.New("invalid persistent volume")

// ClaimRef names a PVC.
type ClaimRef struct {
	Namespace string
	Name      string
	UID       types.UID
}

// String is the claim's namespace/name.
func (c ClaimRef) String() string { return c.Namespace + "/" + c.Name }

// PVName is the name of the PV provisioned for the claim with this UID:
// "pvc-<uid>", as Kubernetes' external provisioners name theirs. A claim
// deleted and created again has a new UID and so gets a new volume.
func PVName(claimUID types.UID) string { return "pvc-" + string(claimUID) }

// PersistenceID is the Mesos persistence ID of the volume of the PV with
// this name: the name itself. A PV name is a DNS subdomain (lowercase
// letters, digits, '-' and '.', starting and ending alphanumeric, at most
// 253 characters), so it is always a valid Mesos persistence ID (not empty,
// at most 255 characters, not "." or "..", no '/', '\' or control
// characters) and a valid path element. One name for both lets either side
// go from the volume to the PV and back without a lookup.
func PersistenceID(pvName string) (string, error) {
	if errs := validation.IsDNS1123Subdomain(pvName); len(errs) > 0 {
		return "", fmt.Errorf("%w: PV name %q: %s", ErrBadVolume, pvName, strings.Join(errs, "; "))
	}
	return pvName, nil
}

// Volume is a PVC's persistent volume on one agent, as the bridge reserves
// and creates it.
type Volume struct {
	Claim ClaimRef
	// Role is the framework role the disk is reserved for (the offer's
	// allocation role); Principal the framework's principal, empty when the
	// framework has none (Mesos then wants none in the reservation).
	Role, Principal string
	// DiskMB is the size in MiB (Mesos' disk unit): the PVC's storage
	// request rounded up to the MiB.
	DiskMB int64
}

// PVName is the name of the volume's PV.
func (v Volume) PVName() string { return PVName(v.Claim.UID) }

// PersistenceID is the volume's Mesos persistence ID.
func (v Volume) PersistenceID() string { return v.PVName() }

// ContainerPath is where the volume appears in the executor's sandbox
// under Mesos' posix isolator: volumes/<persistence id>.
func (v Volume) ContainerPath() string { return volumeContainerDir + "/" + v.PersistenceID() }

// Validate says why v cannot be reserved or created (ErrBadVolume), or nil.
func (v Volume) Validate() error {
	switch {
	case v.Claim.Namespace == "" || v.Claim.Name == "" || v.Claim.UID == "":
		return fmt.Errorf("%w: claim %q has no namespace, name or UID", ErrBadVolume, v.Claim)
	case v.DiskMB <= 0:
		return fmt.Errorf("%w: claim %s: size %d MiB", ErrBadVolume, v.Claim, v.DiskMB)
	case v.Role == "" || v.Role == "*":
		return fmt.Errorf("%w: claim %s: disk must be reserved for a role, not %q", ErrBadVolume, v.Claim, v.Role)
	}
	if err := roles.Validate(v.Role); err != nil {
		return fmt.Errorf("%w: claim %s: role %q: %w", ErrBadVolume, v.Claim, v.Role, err)
	}
	if _, err := PersistenceID(v.PVName()); err != nil {
		return fmt.Errorf("claim %s: %w", v.Claim, err)
	}
	return nil
}

// ReserveResource is the disk of a RESERVE for the volume: DiskMB reserved
// dynamically for Role by Principal, labelled with the claim, in the
// pre-refinement format (Resource.role and .reservation) a framework
// without RESERVATION_REFINEMENT uses, allocated to Role.
func (v Volume) ReserveResource() (mesos.Resource, error) {
	if err := v.Validate(); err != nil {
		return mesos.Resource{}, err
	}
	ri := &mesos.Resource_ReservationInfo{Labels: &mesos.Labels{Labels: []mesos.Label{
		{Key: LabelClaimNamespace, Value: ptr(v.Claim.Namespace)},
		{Key: LabelClaimName, Value: ptr(v.Claim.Name)},
		{Key: LabelClaimUID, Value: ptr(string(v.Claim.UID))},
	}}}
	if v.Principal != "" {
		ri.Principal = ptr(v.Principal)
	}
	return mesos.Resource{
		Name:           "disk",
		Type:           mesos.SCALAR.Enum(),
		Scalar:         &mesos.Value_Scalar{Value: float64(v.DiskMB)},
		Role:           ptr(v.Role),
		Reservation:    ri,
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: ptr(v.Role)},
	}, nil
}

// CreateResource is the volume of a CREATE, and the resource the pod's
// task lists to use it: the reserved disk with persistence ID (and the
// principal) and a read-write volume at ContainerPath.
func (v Volume) CreateResource() (mesos.Resource, error) {
	r, err := v.ReserveResource()
	if err != nil {
		return mesos.Resource{}, err
	}
	p := &mesos.Resource_DiskInfo_Persistence{ID: v.PersistenceID()}
	if v.Principal != "" {
		p.Principal = ptr(v.Principal)
	}
	r.Disk = &mesos.Resource_DiskInfo{
		Persistence: p,
		Volume:      &mesos.Volume{ContainerPath: v.ContainerPath(), Mode: mesos.RW.Enum()},
	}
	return r, nil
}

// ClaimOfResource returns the claim a reserved disk or persistent volume
// (in an offer, the agent's state or GET_AGENTS) was reserved for, from the
// labels of its reservation (either resource format), and false for any
// other resource.
func ClaimOfResource(r *mesos.Resource) (ClaimRef, bool) {
	var labels *mesos.Labels
	switch {
	case r.GetReservation() != nil:
		labels = r.GetReservation().GetLabels()
	case len(r.Reservations) > 0:
		labels = r.Reservations[len(r.Reservations)-1].GetLabels()
	}
	var c ClaimRef
	for _, l := range labels.GetLabels() {
		switch l.Key {
		case LabelClaimNamespace:
			c.Namespace = l.GetValue()
		case LabelClaimName:
			c.Name = l.GetValue()
		case LabelClaimUID:
			c.UID = types.UID(l.GetValue())
		}
	}
	if r.GetName() != "disk" || c.Namespace == "" || c.Name == "" || c.UID == "" {
		return ClaimRef{}, false
	}
	return c, true
}

// FindVolume returns the persistent volume with this persistence ID among
// rs (an offer's resources), or nil.
func FindVolume(rs []mesos.Resource, persistenceID string) *mesos.Resource {
	for i := range rs {
		if rs[i].IsPersistentVolume() && rs[i].GetDisk().GetPersistence().GetID() == persistenceID {
			return &rs[i]
		}
	}
	return nil
}

// VolumeIDs lists the persistence IDs of the persistent volumes among rs,
// in their order: what offermatcher.Offer.Volumes holds.
func VolumeIDs(rs []mesos.Resource) []string {
	var out []string
	for i := range rs {
		if rs[i].IsPersistentVolume() {
			out = append(out, rs[i].GetDisk().GetPersistence().GetID())
		}
	}
	return out
}
