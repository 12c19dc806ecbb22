package kubeletexecutor

import (
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

// PodResources is what Mesos lets the framework give pods on the agent, from
// the executor's SUBSCRIBED event: the agent's cpus and mem that the
// framework's roles may be offered (unreserved, or reserved for one of its
// roles or an ancestor of one), less the executor's own resources (charged
// in its ExecutorInfo, never available to a pod). The node's allocatable is
// sized to it, so the kubelet admits every pod the bridge launched into an
// offer and no more. Never negative.
func PodResources(agent mesos.AgentInfo, fw mesos.FrameworkInfo, exec mesos.ExecutorInfo) node.Resources {
	roles := fw.GetRoles()
	if r := fw.GetRole(); r != "" { //nolint:staticcheck // the pre-MULTI_ROLE field is still honoured by Mesos
		roles = append(roles, r)
	}
	var usable []mesos.Resource
	for _, r := range agent.Resources {
		if usableBy(reservationRole(r), roles) {
			usable = append(usable, r)
		}
	}
	res, own := node.ResourcesOf(usable), node.ResourcesOf(exec.Resources)
	return node.Resources{CPUs: max(res.CPUs-own.CPUs, 0), MemMiB: max(res.MemMiB-own.MemMiB, 0)}
}

// reservationRole is the role a resource is reserved for, in either format
// (the reservations stack of RESERVATION_REFINEMENT, else the old role
// field); "" when unreserved.
func reservationRole(r mesos.Resource) string {
	if n := len(r.Reservations); n > 0 {
		return r.Reservations[n-1].GetRole()
	}
	if role := r.GetRole(); role != "*" { //nolint:staticcheck // the old format, which AgentInfo uses
		return role
	}
	return ""
}

// usableBy reports whether resources reserved for role (or unreserved, "")
// may be offered to a framework of roles: Mesos offers a role's reservation
// to that role and to its descendants (a/b may use what is reserved for a).
func usableBy(role string, roles []string) bool {
	if role == "" {
		return true
	}
	for _, r := range roles {
		if r == role || strings.HasPrefix(r, role+"/") {
			return true
		}
	}
	return false
}
