package bridge

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// Revocable resources (Mesos oversubscription, docs/decisions.md "Pods on
// revocable resources"). Mesos refuses a task that, together with its
// executor, uses revocable and regular resources of one name
// (validateRevocableAndNonRevocableResources), and its QoS controller
// revokes by destroying a whole container: the kubelet-executor, which holds
// regular cpus and memory and every other pod of the agent, can run no pod
// on revocable cpus or memory. A pod placed on revocable resources is
// therefore launched on the agent's revocable executor, a second executor of
// the framework whose own resources are revocable too; a QoS correction
// destroys that container alone, and the pods of the kubelet-executor keep
// running.

// RevocableExecutorResources are what a revocable executor holds of the
// offer's revocable resources: as little as a node task, since its pods'
// containers run under the agent's kubelet.
var RevocableExecutorResources = offermatcher.Resources{MilliCPU: 10, MemoryMB: 8}

// UseRevocable lets the pods that may use revocable resources
// (offermatcher.MayUseRevocable) be placed on them, launched on the agent's
// revocable executor started as exec says; exec.Resources are taken from
// the offer's revocable resources. Call it before Run. Without it, no pod
// is placed on revocable resources.
func (s *Scheduler) UseRevocable(exec ExecutorSpec) { s.revocable = &exec }

// revocableID is the executor ID of the revocable executor of configuration
// e (podtask.RevocableExecutorIDOf): never taken for a kubelet-executor, of
// another configuration or not.
func (e ExecutorSpec) revocableID() string { return podtask.RevocableExecutorIDOf(e.ID()) }

// revocableExecutorInfo is the ExecutorInfo of the revocable executor: its
// resources are revocable, as the pods' cpus and memory launched on it.
func (e ExecutorSpec) revocableExecutorInfo(frameworkID, role string) mesos.ExecutorInfo {
	info := e.executorInfo(frameworkID, role)
	info.ExecutorID = mesos.ExecutorID{Value: e.revocableID()}
	info.Name = proto("kubemesos revocable-pod executor")
	markRevocable(info.Resources)
	return info
}

// revocableOffer is the part of offer o that pods may use as revocable
// resources: none without UseRevocable or where the kubelet-executor does
// not run yet (a pod binds to the node that executor brings up), less the
// revocable executor's own resources where it does not run yet.
func (s *Scheduler) revocableOffer(o *mesos.Offer, kubeletExecutorRuns bool) offermatcher.RevocableResources {
	if s.revocable == nil || !kubeletExecutorRuns {
		return offermatcher.RevocableResources{}
	}
	r := revocableOf(o.Resources)
	if !runsExecutor(o, s.revocable.revocableID()) {
		r.MilliCPU = max(0, r.MilliCPU-s.revocable.Resources.MilliCPU)
		r.MemoryMB = max(0, r.MemoryMB-s.revocable.Resources.MemoryMB)
	}
	return r
}

// runsExecutor reports whether the offer's agent runs executor id of ours.
func runsExecutor(o *mesos.Offer, id string) bool {
	for _, x := range o.ExecutorIDs {
		if x.Value == id {
			return true
		}
	}
	return false
}

// revocableOf sums the revocable cpus and memory of rs.
func revocableOf(rs []mesos.Resource) offermatcher.RevocableResources {
	var out offermatcher.RevocableResources
	for _, r := range rs {
		if !r.IsRevocable() {
			continue
		}
		switch r.Name {
		case "cpus":
			out.MilliCPU += int64(r.GetScalar().GetValue()*1000 + 0.5)
		case "mem":
			out.MemoryMB += int64(r.GetScalar().GetValue())
		}
	}
	return out
}

// markRevocable marks the cpus and memory of rs revocable (Resource.revocable
// set, as Mesos offers them); disk and ports stay regular.
func markRevocable(rs []mesos.Resource) {
	for i := range rs {
		if rs[i].Name == "cpus" || rs[i].Name == "mem" {
			rs[i].Revocable = &mesos.Resource_RevocableInfo{}
		}
	}
}

// executorFor is the ExecutorInfo of the executor an assignment's task runs
// on: the revocable executor for a pod on revocable resources, else exec.
func (s *Scheduler) executorFor(a *offermatcher.Assignment, o *mesos.Offer, exec mesos.ExecutorInfo) mesos.ExecutorInfo {
	if !a.Revocable || s.revocable == nil {
		return exec
	}
	return s.revocable.revocableExecutorInfo(s.fw.ID(), offerRole(*o))
}
