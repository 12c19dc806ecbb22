package kubeletexecutor

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// oldRole is r statically reserved for role in the pre-refinement format
// (AgentInfo's); refined is r reserved in the reservations stack.
func oldRole(r mesos.Resource, role string) mesos.Resource { r.Role = &role; return r }
func refined(r mesos.Resource, roles ...string) mesos.Resource {
	for _, role := range roles {
		r.Reservations = append(r.Reservations, mesos.Resource_ReservationInfo{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: &role})
	}
	return r
}

// TestPodResources: pods get the agent's cpus and mem the framework's roles
// may be offered (unreserved, reserved for one of its roles or an ancestor
// of one, in either format), less the executor's own resources; never less
// than nothing.
func TestPodResources(t *testing.T) {
	fw := mesos.FrameworkInfo{Roles: []string{"kubernetes/team-a"}}
	tests := []struct {
		name  string
		agent []mesos.Resource
		exec  []mesos.Resource
		fw    mesos.FrameworkInfo
		want  node.Resources
	}{
		{"unreserved less the executor", []mesos.Resource{scalar("cpus", 4), scalar("mem", 8192), scalar("disk", 100)},
			[]mesos.Resource{scalar("cpus", 0.1), scalar("mem", 128)}, fw, node.Resources{CPUs: 3.9, MemMiB: 8064}},
		{"unreserved written as role *", []mesos.Resource{oldRole(scalar("cpus", 2), "*")}, nil, fw, node.Resources{CPUs: 2}},
		{"another role's reservation left out", []mesos.Resource{scalar("cpus", 2), oldRole(scalar("cpus", 6), "spark"),
			refined(scalar("mem", 1024), "spark")}, nil, fw, node.Resources{CPUs: 2}},
		{"reserved for the framework's role", []mesos.Resource{oldRole(scalar("cpus", 1), "kubernetes/team-a"),
			refined(scalar("mem", 512), "kubernetes/team-a")}, nil, fw, node.Resources{CPUs: 1, MemMiB: 512}},
		{"reserved for an ancestor role", []mesos.Resource{oldRole(scalar("cpus", 1), "kubernetes"),
			refined(scalar("mem", 512), "kubernetes", "kubernetes/team-a")}, nil, fw, node.Resources{CPUs: 1, MemMiB: 512}},
		{"a prefix is not an ancestor", []mesos.Resource{oldRole(scalar("cpus", 1), "kube")}, nil, fw, node.Resources{}},
		{"the old single role field", []mesos.Resource{oldRole(scalar("cpus", 1), "legacy")}, nil,
			mesos.FrameworkInfo{Role: ptr.To("legacy")}, node.Resources{CPUs: 1}},
		{"executor larger than the agent", []mesos.Resource{scalar("cpus", 0.05)}, []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
			fw, node.Resources{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PodResources(mesos.AgentInfo{Resources: tc.agent}, tc.fw, mesos.ExecutorInfo{Resources: tc.exec})
			if diff := got.CPUs - tc.want.CPUs; diff > 1e-9 || diff < -1e-9 || got.MemMiB != tc.want.MemMiB {
				t.Errorf("PodResources = %+v, want %+v", got, tc.want)
			}
		})
	}
}
