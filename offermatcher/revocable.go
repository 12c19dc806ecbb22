package offermatcher

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/qos"
)

// RevocableAnnotation opts a BestEffort pod into Mesos revocable
// (oversubscribed) resources when set to "true".
const RevocableAnnotation = "kubemesos.io/revocable"

// RevocableResources is the part of an offer that Mesos may take back
// (Resource.revocable set): only cpus and memory, the resources Mesos'
// estimators oversubscribe.
type RevocableResources struct {
	MilliCPU int64
	MemoryMB int64
}

// MayUseRevocable reports whether a pod may be placed on revocable
// resources: a pod of QoS class BestEffort that opted in with
// RevocableAnnotation "true". A Guaranteed or Burstable pod never may,
// whatever its annotations: it asked for resources Kubernetes promises to
// keep, and Mesos takes revocable ones back without notice.
func MayUseRevocable(pod *corev1.Pod) bool {
	if pod == nil || pod.Annotations[RevocableAnnotation] != "true" {
		return false
	}
	return qos.GetPodQOS(pod) == corev1.PodQOSBestEffort
}

// Where a pod that may use revocable resources goes: onto the revocable
// cpus and memory of the best offer that has enough of both, else, like any
// other pod, onto regular ones (place). Its disk and host ports are always
// regular: Mesos oversubscribes neither. A pod never mixes revocable and
// regular cpus or memory, as Mesos refuses a container that does
// (validateRevocableAndNonRevocableResources).

// place is the offer the pod goes to, -1 if none, trying revocable
// resources first for a pod that may use them; p.onRevocable says which
// resources it takes. rejected and byOffer hold the regular pass's reasons:
// a pod that fits no revocable resources is reported as any other pod.
func (p *podState) place(pod *PodRequest, book []offerState, revocable bool, search func(rejected *[numReasons]int) int, rejected *[numReasons]int) int {
	p.onRevocable = false
	if pod.Revocable && revocable {
		p.onRevocable = true
		var ignored [numReasons]int
		if best := search(&ignored); best >= 0 {
			return best
		}
		p.onRevocable = false
	}
	return search(rejected)
}

// capacity is the cpu and memory the pod may take from o: the revocable
// ones when it is placed on revocable resources.
func (p *podState) capacity(o *offerState) (cpu, mem int64) {
	if p.onRevocable {
		return o.rcpu, o.rmem
	}
	return o.cpu, o.mem
}

// anyRevocable reports whether some offer holds revocable resources, so
// that Match skips the revocable pass when none does.
func anyRevocable(offers []Offer) bool {
	for i := range offers {
		if offers[i].Revocable.MilliCPU > 0 && offers[i].Revocable.MemoryMB > 0 {
			return true
		}
	}
	return false
}
