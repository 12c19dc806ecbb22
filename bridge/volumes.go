package bridge

import (
	"context"
	"errors"
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// Persistent volumes (#8; docs/decisions.md "Persistent volumes on Mesos
// reservations"). A PVC of the StorageClass podtask.StorageClassName is
// provisioned by the bridge as a Mesos persistent volume on the agent its
// first pod is placed on: one ACCEPT RESERVEs the disk for the framework's
// role (labels naming the claim), CREATEs the volume and LAUNCHes the
// pod's task with it, after the launch intent, which lists the volume, is
// stored. At the task's first status the volume exists and the PV is
// created, pre-bound to the claim. Later pods of the claim go only to an
// offer carrying the volume. The reclaim (volumereclaim.go) destroys the
// volume and unreserves the disk once its PV is released or deleted.
//
// This file is what placement and the ACCEPT need; volumebook.go the
// state kept between cycles.

// VolumeSource is what the scheduler reads of claims, PVs and storage
// classes (k8sapi.ClaimMirror).
type VolumeSource interface {
	Claim(namespace, name string) (*corev1.PersistentVolumeClaim, bool)
	Volume(name string) (*corev1.PersistentVolume, bool)
	Volumes() []*corev1.PersistentVolume
	ReclaimPolicy(class string) (corev1.PersistentVolumeReclaimPolicy, bool)
}

// VolumeWriter makes the scheduler's writes to PVs (k8sapi.VolumeWriter),
// through its PodWriter, off the loop. Both writes must be idempotent.
type VolumeWriter interface {
	// CreateVolume creates a PV; one that exists is success.
	CreateVolume(ctx context.Context, pv *corev1.PersistentVolume) error
	// ReleaseVolume deletes the PV name and removes finalizer from it.
	ReleaseVolume(ctx context.Context, name, finalizer string) error
}

// UseVolumes makes the scheduler provision and reclaim the Mesos volumes
// of claims of kubemesos' storage class, reading claims and PVs from src
// and writing PVs through w. Without it, pods are placed as if they had no
// claims. Call it before Run.
func (s *Scheduler) UseVolumes(src VolumeSource, w VolumeWriter) {
	s.volumes = newVolumeBook(src)
	s.report.volumes = w
}

// ErrClaimNotUsable marks a pod whose claim cannot be placed: the PVC does
// not exist, is being deleted or requests no storage. The pod waits, with
// the reason in its FailedScheduling event.
var ErrClaimNotUsable = errors.New("persistent volume claim not usable")

// isOurClaim reports whether kubemesos provisions the claim's volume.
func isOurClaim(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName == podtask.StorageClassName
}

// isOurVolume reports whether kubemesos provisioned the PV, and returns its
// Mesos volume: persistence ID, agent and role.
func isOurVolume(pv *corev1.PersistentVolume) (id, agent, role string, ok bool) {
	a := pv.Annotations
	id, agent, role = a[podtask.AnnPersistenceID], a[podtask.AnnAgentID], a[podtask.AnnRole]
	return id, agent, role, a[podtask.AnnProvisionedBy] == podtask.Provisioner && id != "" && agent != "" && role != ""
}

// claims are the pod's claims of kubemesos' class as placement needs them:
// bound to the volume of its PV, or to the volume being provisioned for it
// (an unsettled volume intent: the pod waits for that volume), else
// unbound with its request. Claims of other classes are left out, and so
// is a claim bound to a PV kubemesos did not make. A claim that cannot be
// placed is an error wrapping ErrClaimNotUsable.
func (b *volumeBook) claims(pod *corev1.Pod) ([]offermatcher.Claim, error) {
	if b == nil {
		return nil, nil
	}
	var out []offermatcher.Claim
	for _, name := range offermatcher.ClaimNames(pod) {
		pvc, ok := b.src.Claim(pod.Namespace, name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: persistentvolumeclaim %q not found", ErrClaimNotUsable, name)
		case !isOurClaim(pvc):
			continue
		case pvc.DeletionTimestamp != nil:
			return nil, fmt.Errorf("%w: persistentvolumeclaim %q is being deleted", ErrClaimNotUsable, name)
		}
		if pv, ok := b.src.Volume(podtask.PVName(pvc.UID)); ok {
			id, agent, _, ours := isOurVolume(pv)
			if !ours {
				return nil, fmt.Errorf("%w: persistentvolumeclaim %q: PV %s is not kubemesos'", ErrClaimNotUsable, name, pv.Name)
			}
			out = append(out, offermatcher.Claim{Name: name, PersistenceID: id, AgentID: agent})
			continue
		}
		if pvc.Spec.VolumeName != "" {
			continue // bound to a PV of someone else's making
		}
		if p, ok := b.provisioning[pvc.UID]; ok {
			out = append(out, offermatcher.Claim{Name: name, PersistenceID: p.PersistenceID, AgentID: p.AgentID})
			continue
		}
		mb := offermatcher.Mebibytes(pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		if mb <= 0 {
			return nil, fmt.Errorf("%w: persistentvolumeclaim %q requests no storage", ErrClaimNotUsable, name)
		}
		out = append(out, offermatcher.Claim{Name: name, DiskMB: mb})
	}
	return out, nil
}

// unreservedDiskMB is the disk of offer o a RESERVE can take: unreserved,
// not revocable, without disk info, less the executor's disk where it does
// not run yet (execDisk). It is 0 while the agent's work_dir is unknown:
// the PV of a volume made there would have no host path.
func (b *volumeBook) unreservedDiskMB(o *mesos.Offer, execDisk int64) int64 {
	if b == nil || b.workDirs[o.AgentID.Value] == "" {
		return 0
	}
	var mb float64
	for i := range o.Resources {
		r := &o.Resources[i]
		if r.Name == "disk" && r.Disk == nil && !r.IsRevocable() && r.IsUnreserved() {
			mb += r.GetScalar().GetValue()
		}
	}
	return max(int64(mb)-execDisk, 0)
}

// volumeLaunch is what launching pod (assignment a, task ti) on offer o
// needs for its claims: the RESERVE and CREATE of the unbound ones, in
// order, whose volumes it adds to the task's resources with the offered
// volumes of the bound ones, and the volume intents of the new volumes. An
// error means the pod cannot be launched now (its claim changed since
// placement, the agent's work_dir is unknown).
func (b *volumeBook) volumeLaunch(a offermatcher.Assignment, pod *corev1.Pod, o *mesos.Offer, principal string, ti *mesos.TaskInfo) ([]mesos.Offer_Operation, []VolumeIntent, error) {
	if b == nil || len(a.Pod.Claims) == 0 {
		return nil, nil, nil
	}
	var reserve, create []mesos.Resource
	var ins []VolumeIntent
	role := offerRole(*o)
	for _, c := range a.Pod.Claims {
		if c.Bound() {
			r := podtask.FindVolume(o.Resources, c.PersistenceID)
			if r == nil {
				return nil, nil, fmt.Errorf("%w: persistentvolumeclaim %q: volume %s is not in offer %s", ErrClaimNotUsable, c.Name, c.PersistenceID, o.ID.Value)
			}
			ti.Resources = append(ti.Resources, *r)
			continue
		}
		pvc, ok := b.src.Claim(pod.Namespace, c.Name)
		if !ok {
			return nil, nil, fmt.Errorf("%w: persistentvolumeclaim %q not found", ErrClaimNotUsable, c.Name)
		}
		in, err := b.newVolume(pvc, o, role, principal, c.DiskMB)
		if err != nil {
			return nil, nil, err
		}
		v := in.volume()
		rr, err := v.ReserveResource()
		if err != nil {
			return nil, nil, err
		}
		cr, err := v.CreateResource()
		if err != nil {
			return nil, nil, err
		}
		reserve, create = append(reserve, rr), append(create, cr)
		ti.Resources = append(ti.Resources, cr)
		ins = append(ins, in)
	}
	if len(reserve) == 0 {
		return nil, nil, nil
	}
	return []mesos.Offer_Operation{calls.OpReserve(reserve...), calls.OpCreate(create...)}, ins, nil
}

// newVolume is the volume intent of a new volume of pvc on offer o.
func (b *volumeBook) newVolume(pvc *corev1.PersistentVolumeClaim, o *mesos.Offer, role, principal string, mb int64) (VolumeIntent, error) {
	workDir := b.workDirs[o.AgentID.Value]
	if workDir == "" {
		return VolumeIntent{}, fmt.Errorf("%w: persistentvolumeclaim %q: the work_dir of agent %s is not known yet", ErrClaimNotUsable, pvc.Name, o.Hostname)
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if p, ok := b.src.ReclaimPolicy(podtask.StorageClassName); ok {
		policy = p
	}
	in := VolumeIntent{
		Claim:     podtask.ClaimRef{Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
		AgentID:   o.AgentID.Value,
		NodeName:  podtask.NodeName(o.Hostname),
		Role:      role,
		Principal: principal,
		DiskMB:    mb,
		WorkDir:   workDir,
		Reclaim:   policy,
	}
	in.PersistenceID = in.volume().PersistenceID()
	if err := in.validate(); err != nil {
		return VolumeIntent{}, err
	}
	return in, nil
}
