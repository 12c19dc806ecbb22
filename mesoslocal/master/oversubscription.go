package master

import (
	"fmt"
	"net/http"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// Oversubscription, the master's part (Mesos' Master::updateSlave with
// oversubscribed resources): an agent reports its total of revocable
// resources; they become part of the agent's total, the allocator offers
// them only to frameworks with the REVOCABLE_RESOURCES capability
// (allocState.offerable), and outstanding offers holding revocable
// resources of the agent are rescinded, so that no framework holds an
// offer for revocable resources the agent no longer has.

// serveAgentOversubscribed takes an agent's link.Oversubscribed report.
func (m *Master) serveAgentOversubscribed(w http.ResponseWriter, r *http.Request) {
	var msg link.Oversubscribed
	if err := decodeJSON(r, &msg); err != nil {
		wire.WriteError(w, err)
		return
	}
	var rs mesos.Resources
	for _, b := range msg.Resources {
		var res mesos.Resource
		if err := link.Unmarshal(b, &res); err != nil {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "%v", err))
			return
		}
		if !res.IsRevocable() {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Oversubscribed resource %s is not revocable", mesos.Resources{res}))
			return
		}
		if !res.IsUnreserved() || res.GetDisk() != nil {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Oversubscribed resource %s must be unreserved and carry no disk info", mesos.Resources{res}))
			return
		}
		rs = append(rs, res)
	}
	if err := resources.Validate(rs); err != nil {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Invalid oversubscribed resources: %v", err))
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[msg.AgentID]
	if a == nil || a.box == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, "Agent %s is not registered", msg.AgentID))
		return
	}
	m.updateOversubscribedLocked(a, resources.Unallocated(rs))
	w.WriteHeader(http.StatusAccepted)
}

// updateOversubscribedLocked replaces the revocable part of a's total and
// rescinds the agent's outstanding offers that hold revocable resources
// (Mesos rescinds them on every new estimate, larger or smaller) and
// offers the agent's resources at once, as Mesos' allocator does.
func (m *Master) updateOversubscribedLocked(a *agent, oversubscribed mesos.Resources) {
	if resources.Equal(resources.Revocable(a.total), oversubscribed) {
		return
	}
	total := resources.NonRevocable(a.total)
	total.Add(oversubscribed...)
	a.total = total
	m.rescindOffersLocked(func(o *offer) bool {
		return o.agentID == a.id && len(resources.Revocable(o.resources)) > 0
	}, true)
	klog.InfoS("Agent's oversubscribed resources changed", "agent", a.id, "oversubscribed", oversubscribed.String())
	m.allocateAgentLocked(a)
}

// validateRevocableMix refuses a task that, with its executor, uses both
// revocable and non-revocable resources of one name, as Mesos'
// validateRevocableAndNonRevocableResources: a container is revocable as
// a whole.
func validateRevocableMix(ti *mesos.TaskInfo) error {
	all := resources.Sum(ti.Resources)
	if ti.Executor != nil {
		all.Add(resources.Unallocated(ti.Executor.Resources)...)
	}
	revocable := map[string]bool{}
	for i := range all {
		revocable[all[i].Name] = revocable[all[i].Name] || all[i].IsRevocable()
	}
	for i := range all {
		if name := all[i].Name; revocable[name] && !all[i].IsRevocable() {
			return fmt.Errorf("Task and its executor mix revocable and non-revocable resources: Cannot use both revocable and non-revocable '%s' at the same time", name)
		}
	}
	return nil
}

// addRevocableMetrics adds Mesos' master/<kind>_revocable_{total,used,percent}
// (the other resource metrics count non-revocable resources only).
func addRevocableMetrics(out map[string]float64, total, used mesos.Resources) {
	total, used = resources.Revocable(total), resources.Revocable(used)
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		t, u := scalarSum(total, name), scalarSum(used, name)
		out["master/"+name+"_revocable_total"] = t
		out["master/"+name+"_revocable_used"] = u
		out["master/"+name+"_revocable_percent"] = ratio(u, t)
	}
}
