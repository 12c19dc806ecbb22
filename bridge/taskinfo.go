package bridge

import (
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// ExecutorSpec is how the bridge asks Mesos to start the kubelet-executor on an agent.
type ExecutorSpec struct {
	// Command is the shell command line that starts the executor, e.g. "/opt/kubemesos/kubemesos executor".
	Command string
	// URIs are fetched into the executor's sandbox before it starts (e.g. the kubemesos binary).
	URIs []string
	// Resources are what the executor itself (and the kubelet it runs) uses on each agent.
	Resources offermatcher.Resources
}

// commandInfo is how the agent starts the executor.
func (e ExecutorSpec) commandInfo() *mesos.CommandInfo {
	cmd := e.Command
	shell := true
	info := &mesos.CommandInfo{Value: &cmd, Shell: &shell}
	for _, u := range e.URIs {
		info.URIs = append(info.URIs, mesos.CommandInfo_URI{Value: u, Executable: boolp(true)})
	}
	return info
}

// ID is the executor ID of this configuration (podtask.ExecutorIDOf): a
// bridge started with another command or URIs runs a new executor, which
// Mesos and the bridge tell apart from the old one (docs/decisions.md,
// "Executor upgrades").
func (e ExecutorSpec) ID() string { return podtask.ExecutorIDOf(e.commandInfo(), nil) }

// executorInfo is the ExecutorInfo of the kubelet-executor for resources allocated to role.
func (e ExecutorSpec) executorInfo(frameworkID, role string) mesos.ExecutorInfo {
	cmd := e.commandInfo()
	return mesos.ExecutorInfo{
		Type:        mesos.ExecutorInfo_CUSTOM,
		ExecutorID:  mesos.ExecutorID{Value: podtask.ExecutorIDOf(cmd, nil)},
		FrameworkID: &mesos.FrameworkID{Value: frameworkID},
		Name:        proto("kubemesos kubelet-executor"),
		Command:     cmd,
		Resources:   toMesos(e.Resources, nil, role),
	}
}

// offerRole is the role an offer's resources are allocated to.
func offerRole(o mesos.Offer) string {
	if o.AllocationInfo != nil && o.AllocationInfo.Role != nil {
		return *o.AllocationInfo.Role
	}
	for _, r := range o.Resources {
		if r.AllocationInfo != nil && r.AllocationInfo.Role != nil {
			return *r.AllocationInfo.Role
		}
	}
	return "*"
}

// runsOn reports whether the offer's agent already runs this executor, in
// which case its resources are already taken and must not be asked for again.
func (e ExecutorSpec) runsOn(o mesos.Offer) bool {
	id := e.ID()
	for _, x := range o.ExecutorIDs {
		if x.Value == id {
			return true
		}
	}
	return false
}

// staleOn is the ID of a kubelet-executor of another configuration that the
// offer's agent runs (an earlier bridge's), "" if none.
func (e ExecutorSpec) staleOn(o mesos.Offer) string {
	id := e.ID()
	for _, x := range o.ExecutorIDs {
		if x.Value != id && podtask.IsExecutorID(x.Value) {
			return x.Value
		}
	}
	return ""
}

// podTaskInfo is the TaskInfo of one assignment on offer o, launch attempt at.
func podTaskInfo(a offermatcher.Assignment, pod podtask.PodRef, at podtask.Attempt, o mesos.Offer, exec mesos.ExecutorInfo) mesos.TaskInfo {
	res := a.Pod.Resources
	res.Ports = nil
	ti := pod.TaskInfo(at)
	ti.AgentID = o.AgentID
	ti.Resources = toMesos(res, a.Ports, offerRole(o))
	if a.Revocable {
		markRevocable(ti.Resources)
	}
	ti.Executor = &exec
	return ti
}

// toMesos renders resources (and single ports) as Mesos resources allocated to role.
func toMesos(r offermatcher.Resources, ports []uint32, role string) []mesos.Resource {
	var out []mesos.Resource
	scalar := func(name string, v float64) {
		if v > 0 {
			out = append(out, allocated(mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}, role))
		}
	}
	scalar("cpus", float64(r.MilliCPU)/1000)
	scalar("mem", float64(r.MemoryMB))
	scalar("disk", float64(r.DiskMB))
	if len(ports) > 0 {
		sorted := append([]uint32(nil), ports...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		var ranges []mesos.Value_Range
		for _, p := range sorted {
			if n := len(ranges); n > 0 && ranges[n-1].End+1 == uint64(p) {
				ranges[n-1].End = uint64(p)
				continue
			}
			ranges = append(ranges, mesos.Value_Range{Begin: uint64(p), End: uint64(p)})
		}
		out = append(out, allocated(mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: ranges}}, role))
	}
	return out
}

func allocated(r mesos.Resource, role string) mesos.Resource {
	r.Role = proto("*") // unreserved
	r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto(role)}
	return r
}

// fromMesos reduces Mesos resources to what placement needs: unreserved and
// reserved resources are both usable by the role they are allocated to.
func fromMesos(rs []mesos.Resource) offermatcher.Resources {
	var out offermatcher.Resources
	for _, r := range rs {
		if r.IsRevocable() {
			continue
		}
		switch r.Name {
		case "cpus":
			out.MilliCPU += int64(r.GetScalar().GetValue()*1000 + 0.5)
		case "mem":
			out.MemoryMB += int64(r.GetScalar().GetValue())
		case "disk":
			// Persistent volumes, mounted disks and the disk reserved for a
			// claim's volume are not general disk.
			if _, claimed := podtask.ClaimOfResource(&r); r.Disk == nil && !claimed {
				out.DiskMB += int64(r.GetScalar().GetValue())
			}
		case "ports":
			for _, rg := range r.GetRanges().GetRange() {
				out.Ports = append(out.Ports, offermatcher.PortRange{Begin: uint32(rg.Begin), End: uint32(rg.End)})
			}
		}
	}
	return out
}

func proto(s string) *string { return &s }
func boolp(b bool) *bool     { return &b }
