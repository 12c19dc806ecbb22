package bridge

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

func scalarRes(name string, v float64, role string) mesos.Resource {
	return allocated(mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}, role)
}

func TestFromMesos(t *testing.T) {
	rs := []mesos.Resource{
		scalarRes("cpus", 1.5, "kubernetes"),
		scalarRes("cpus", 0.25, "kubernetes"), // a reserved part of the same agent adds up
		scalarRes("mem", 2048, "kubernetes"),
		scalarRes("disk", 100, "kubernetes"),
		allocated(mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31010}, {Begin: 8080, End: 8080}}}}, "kubernetes"),
	}
	vol := scalarRes("disk", 500, "kubernetes")
	vol.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "v1"}}
	rs = append(rs, vol)
	got := fromMesos(rs)
	if got.MilliCPU != 1750 || got.MemoryMB != 2048 || got.DiskMB != 100 {
		t.Fatalf("scalars: got %+v", got)
	}
	if len(got.Ports) != 2 || got.Ports[0] != (offermatcher.PortRange{Begin: 31000, End: 31010}) || got.Ports[1] != (offermatcher.PortRange{Begin: 8080, End: 8080}) {
		t.Fatalf("ports: got %+v", got.Ports)
	}
}

func TestToMesosMergesAdjacentPorts(t *testing.T) {
	rs := toMesos(offermatcher.Resources{MilliCPU: 250, MemoryMB: 64}, []uint32{8081, 80, 8080, 9000}, "team-a")
	if len(rs) != 3 {
		t.Fatalf("want cpus, mem, ports; got %v", rs)
	}
	if rs[0].Name != "cpus" || rs[0].GetScalar().GetValue() != 0.25 || rs[1].Name != "mem" || rs[1].GetScalar().GetValue() != 64 {
		t.Fatalf("scalars wrong: %v", rs)
	}
	want := []mesos.Value_Range{{Begin: 80, End: 80}, {Begin: 8080, End: 8081}, {Begin: 9000, End: 9000}}
	got := rs[2].GetRanges().GetRange()
	if len(got) != len(want) {
		t.Fatalf("ranges: got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranges: got %v want %v", got, want)
		}
	}
	for _, r := range rs {
		if r.GetAllocationInfo().GetRole() != "team-a" {
			t.Fatalf("resource %s not allocated to the offer's role: %v", r.Name, r.AllocationInfo)
		}
	}
}

func TestPodTaskInfoCarriesOnlyThePodReference(t *testing.T) {
	ref := podtask.PodRef{Namespace: "ns", Name: "web-0", UID: "u-1"}
	offer := mesos.Offer{
		ID: mesos.OfferID{Value: "O1"}, AgentID: mesos.AgentID{Value: "S1"}, Hostname: "agent-1",
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto("kubernetes")},
	}
	exec := ExecutorSpec{Command: "/opt/kubemesos executor", Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 128}}.
		executorInfo("fw-1", offerRole(offer))
	a := offermatcher.Assignment{
		Pod:     offermatcher.PodRequest{Key: "ns/web-0", UID: "u-1", Resources: offermatcher.Resources{MilliCPU: 500, MemoryMB: 256}},
		OfferID: "O1", AgentID: "S1", Ports: []uint32{8080},
	}
	ti := podTaskInfo(a, ref, podtask.Attempt{Epoch: 5, Seq: 3}, offer, exec)
	if ti.TaskID.Value != "pod.u-1.5.3" || ti.Name != "ns/web-0" || ti.AgentID.Value != "S1" {
		t.Fatalf("identity wrong: %+v", ti)
	}
	back, err := podtask.DecodePodRef(ti.Data)
	if err != nil || back != ref {
		t.Fatalf("data does not round-trip: %v %v", back, err)
	}
	if id := ti.Executor.ExecutorID.Value; id != exec.ExecutorID.Value || !podtask.IsExecutorID(id) || id == podtask.ExecutorID ||
		ti.Executor.GetCommand().GetValue() != "/opt/kubemesos executor" {
		t.Fatalf("executor: %+v", ti.Executor)
	}
	if got := fromMesos(ti.Resources); got.MilliCPU != 500 || got.MemoryMB != 256 || len(got.Ports) != 1 || got.Ports[0].Begin != 8080 {
		t.Fatalf("task resources: %+v", got)
	}
	if fromMesos(ti.Executor.Resources).MemoryMB != 128 {
		t.Fatalf("executor resources: %v", ti.Executor.Resources)
	}
}

// TestExecutorOnAgent: an offer shows this configuration's executor
// running (its resources are taken), or a kubelet-executor of another
// configuration (an earlier bridge's, to retire), or neither; the ID follows
// the command and URIs.
func TestExecutorOnAgent(t *testing.T) {
	spec := ExecutorSpec{Command: "/opt/kubemesos executor", URIs: []string{"http://repo/kubemesos-v1"}}
	upgraded := spec
	upgraded.URIs = []string{"http://repo/kubemesos-v2"}
	if spec.ID() == upgraded.ID() || spec.ID() != (ExecutorSpec{Command: spec.Command, URIs: spec.URIs}).ID() {
		t.Fatalf("IDs: %s, %s", spec.ID(), upgraded.ID())
	}
	o := mesos.Offer{ExecutorIDs: []mesos.ExecutorID{{Value: "other"}}}
	if spec.runsOn(o) || spec.staleOn(o) != "" {
		t.Fatal("another framework's executor ID is not ours")
	}
	o.ExecutorIDs = append(o.ExecutorIDs, mesos.ExecutorID{Value: spec.ID()})
	if !spec.runsOn(o) || spec.staleOn(o) != "" {
		t.Fatal("our executor not seen, or seen as stale")
	}
	if upgraded.runsOn(o) || upgraded.staleOn(o) != spec.ID() {
		t.Fatalf("after an upgrade the old executor %s must be stale, got %q", spec.ID(), upgraded.staleOn(o))
	}
}
