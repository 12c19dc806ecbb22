package bridge

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

func scalar(name string, v float64, revocable bool) mesos.Resource {
	r := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	if revocable {
		r.Revocable = &mesos.Resource_RevocableInfo{}
	}
	return r
}

// revocableOffer: nothing without UseRevocable or where the
// kubelet-executor does not run; the revocable executor's resources set
// aside until it runs; a revocable executor is never taken for a stale
// kubelet-executor.
func TestRevocableOffer(t *testing.T) {
	exec := ExecutorSpec{Command: "kubemesos executor", Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 128}}
	rev := ExecutorSpec{Command: "kubemesos executor", Resources: offermatcher.Resources{MilliCPU: 10, MemoryMB: 8}}
	o := mesos.Offer{Resources: []mesos.Resource{
		scalar("cpus", 1, false), scalar("mem", 1024, false),
		scalar("cpus", 2, true), scalar("mem", 512, true), scalar("disk", 100, true),
	}}
	s := &Scheduler{executor: exec}
	if got := s.revocableOffer(&o, true); got != (offermatcher.RevocableResources{}) {
		t.Errorf("without UseRevocable: %+v", got)
	}
	s.UseRevocable(rev)
	if got := s.revocableOffer(&o, false); got != (offermatcher.RevocableResources{}) {
		t.Errorf("kubelet-executor not running: %+v", got)
	}
	if got, want := s.revocableOffer(&o, true), (offermatcher.RevocableResources{MilliCPU: 1990, MemoryMB: 504}); got != want {
		t.Errorf("revocable executor not running: %+v, want %+v", got, want)
	}
	o.ExecutorIDs = []mesos.ExecutorID{{Value: exec.ID()}, {Value: rev.revocableID()}}
	if got, want := s.revocableOffer(&o, true), (offermatcher.RevocableResources{MilliCPU: 2000, MemoryMB: 512}); got != want {
		t.Errorf("revocable executor running: %+v, want %+v", got, want)
	}
	if old := exec.staleOn(o); old != "" {
		t.Errorf("staleOn = %q: the revocable executor taken for a kubelet-executor of another configuration", old)
	}
	if got := fromMesos(o.Resources); got.MilliCPU != 1000 || got.MemoryMB != 1024 {
		t.Errorf("regular resources %+v include revocable ones", got)
	}
}

// A pod on revocable resources: its cpus and memory revocable, its disk and
// ports regular, on the revocable executor whose own resources are revocable.
func TestRevocableTaskInfo(t *testing.T) {
	rev := ExecutorSpec{Command: "kubemesos executor", Resources: offermatcher.Resources{MilliCPU: 10, MemoryMB: 8}}
	info := rev.revocableExecutorInfo("fw", "kubernetes")
	for _, r := range info.Resources {
		if !r.IsRevocable() {
			t.Errorf("revocable executor resource %s is regular", r.Name)
		}
	}
	a := offermatcher.Assignment{Pod: offermatcher.PodRequest{Resources: offermatcher.Resources{MilliCPU: 10, MemoryMB: 16, DiskMB: 5}}, Ports: []uint32{31000}, Revocable: true}
	ti := podTaskInfo(a, podtask.PodRef{Namespace: "ns", Name: "be", UID: "u1"}, podtask.Attempt{Epoch: 1, Seq: 1}, mesos.Offer{}, info)
	for _, r := range ti.Resources {
		if want := r.Name == "cpus" || r.Name == "mem"; r.IsRevocable() != want {
			t.Errorf("task resource %s revocable %v, want %v", r.Name, r.IsRevocable(), want)
		}
	}
	if ti.Executor.ExecutorID.Value != rev.revocableID() {
		t.Errorf("executor %s", ti.Executor.ExecutorID.Value)
	}
}
