package agent

import (
	"encoding/json"
	"os"
	"path/filepath"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// checkpointResources takes the total resources the master sends after a
// RESERVE, UNRESERVE, CREATE or DESTROY: the agent reports them from then
// on (state, re-registration) and writes them to
// <work_dir>/meta/resources/resources.info as JSON, like Mesos' checkpoint.
func (a *Agent) checkpointResources(c link.Command) {
	var rs mesos.Resources
	for _, b := range c.Resources {
		var r mesos.Resource
		if err := link.Unmarshal(b, &r); err != nil {
			klog.InfoS("Ignoring bad checkpointed resource", "err", err)
			return
		}
		rs = append(rs, r)
	}
	a.mu.Lock()
	a.resources = rs
	a.mu.Unlock()
	dir := filepath.Join(a.cfg.WorkDir, "meta", "resources")
	b, err := json.Marshal(rs)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "resources.info"), b, 0o644)
	}
	if err != nil {
		klog.ErrorS(err, "Checkpointing resources failed")
	}
	klog.InfoS("Checkpointed resources", "resources", rs.String())
}

// reservedStateLocked renders the agent's reservations for /state:
// role → quantities, and the unreserved rest.
func (a *Agent) reservedStateLocked() (reserved map[string]any, unreserved map[string]any) {
	byRole := map[string]mesos.Resources{}
	var unres mesos.Resources
	for i := range a.resources {
		r := a.resources[i]
		if r.IsUnreserved() {
			unres.Add1(r)
			continue
		}
		cur := byRole[r.ReservationRole()]
		cur.Add1(r)
		byRole[r.ReservationRole()] = cur
	}
	reserved = map[string]any{}
	for role, rs := range byRole {
		reserved[role] = resources.StateJSON(rs)
	}
	return reserved, resources.StateJSON(unres)
}
