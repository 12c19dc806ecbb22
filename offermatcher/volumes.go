package offermatcher

import (
	"math"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Claim is one persistent volume claim of a pod whose volume kubemesos
// provisions as a Mesos persistent volume (StorageClass kubemesos-local).
// The caller fills it from the PVC and its PV; claims of other classes are
// not placement's business and are left out.
//
// A claim is bound when its volume exists: PersistenceID is set (from the
// PV, or from the reservation labels naming the claim when the volume was
// created but the PV not yet), and AgentID is the agent holding it. The
// pod then fits only an offer of that agent that carries that volume; a
// volume in use by a task is in no offer (Mesos offers a volume that is not
// shared only while no task uses it).
//
// A claim is unbound while it has no volume: the pod needs DiskMB of the
// offer's unreserved disk, which the launch reserves and turns into the
// volume in the same ACCEPT.
type Claim struct {
	Name          string // the PVC's name, in the pod's namespace
	PersistenceID string // the volume's Mesos persistence ID; "" while unbound
	AgentID       string // the agent holding the volume (bound claims)
	DiskMB        int64  // the request, in MiB (unbound claims)
}

// Bound reports whether the claim's volume exists.
func (c Claim) Bound() bool { return c.PersistenceID != "" }

// ClaimNames lists the names of the PVCs a pod mounts, in the order of its
// volumes: persistentVolumeClaim sources, and the claims Kubernetes makes
// for generic ephemeral volumes ("<pod>-<volume>").
func ClaimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// volumeState is what a pod needs of volumes, prepared once per pod.
type volumeState struct {
	bound []Claim // bound claims: their volumes must be on the offer
	// disk is the unbound claims' disk, reserved from the offer's unreserved
	// disk.
	disk int64
	// busy: an unbound claim of the pod is being provisioned for a pod
	// placed earlier in this plan, so no offer can take this pod now.
	busy bool
}

func (v *volumeState) prepare(pod *PodRequest, provisioning map[string]bool) {
	v.bound = v.bound[:0]
	v.disk = 0
	v.busy = false
	for _, c := range pod.Claims {
		if c.Bound() {
			v.bound = append(v.bound, c)
			continue
		}
		v.disk += max(c.DiskMB, 0)
		if provisioning[claimKey(pod.Namespace, c.Name)] {
			v.busy = true
		}
	}
}

func (v *volumeState) active() bool { return len(v.bound) > 0 || v.disk > 0 || v.busy }

// check is the volume filter: every bound claim's volume on the offer (and
// the offer of its agent), the unbound claims' disk within its unreserved
// disk and, with the pod's own disk, within its disk.
func (v *volumeState) check(o *offerState, podDisk int64) (reasonIndex, bool) {
	if v.busy {
		return reasonClaimBusy, false
	}
	for i := range v.bound {
		c := &v.bound[i]
		if (c.AgentID != "" && c.AgentID != o.offer.AgentID) || !slices.Contains(o.volumes, c.PersistenceID) {
			return reasonVolumeNotOffered, false
		}
	}
	if v.disk > 0 && (v.disk > o.unreservedDisk || v.disk+podDisk > o.disk) {
		return reasonVolumeDisk, false
	}
	return 0, true
}

// take removes what the pod's volumes use from the offer: its bound
// volumes (one task at a time) and the unreserved disk its new volumes
// reserve. The offer's volume list is copied, never modified.
func (v *volumeState) take(o *offerState) {
	if len(v.bound) > 0 {
		left := make([]string, 0, len(o.volumes))
		for _, id := range o.volumes {
			if !slices.ContainsFunc(v.bound, func(c Claim) bool { return c.PersistenceID == id }) {
				left = append(left, id)
			}
		}
		o.volumes = left
	}
	o.unreservedDisk -= v.disk
	o.disk -= v.disk
	// The pod's own disk may have come from the unreserved part.
	o.unreservedDisk = max(min(o.unreservedDisk, o.disk), 0)
}

// markProvisioning records the unbound claims of a placed pod.
func markProvisioning(pod *PodRequest, provisioning map[string]bool) {
	for _, c := range pod.Claims {
		if !c.Bound() {
			provisioning[claimKey(pod.Namespace, c.Name)] = true
		}
	}
}

func claimKey(namespace, name string) string { return namespace + "/" + name }

// claimNotes explain an unplaced pod's unbound claims that are bigger than
// the largest unreserved disk of any offer: "pvc data-web-0 requests 20Gi;
// the largest free disk is 8Gi".
func claimNotes(pod *PodRequest, book []offerState) []string {
	var largest int64
	for i := range book {
		largest = max(largest, book[i].unreservedDisk)
	}
	var notes []string
	for _, c := range pod.Claims {
		if !c.Bound() && c.DiskMB > largest {
			notes = append(notes, "pvc "+c.Name+" requests "+formatMiB(c.DiskMB)+"; the largest free disk is "+formatMiB(largest))
		}
	}
	return notes
}

// formatMiB writes an amount of MiB as a Kubernetes quantity (8192 → 8Gi).
func formatMiB(mb int64) string {
	if mb > math.MaxInt64>>20 {
		return strconv.FormatInt(mb, 10) + "Mi"
	}
	return resource.NewQuantity(mb<<20, resource.BinarySI).String()
}
