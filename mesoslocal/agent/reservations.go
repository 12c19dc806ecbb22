package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/internal/atomicfile"
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
	// Revocable resources come from the estimator, never from the flags or
	// the checkpoint (Mesos' master sends the agent only its checkpointed
	// resources).
	rs = resources.NonRevocable(rs)
	a.mu.Lock()
	a.resources = rs
	a.mu.Unlock()
	b, err := json.Marshal(rs)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(a.resourcesCheckpointPath()), 0o755)
	}
	if err == nil {
		err = atomicfile.Write(a.resourcesCheckpointPath(), b, 0o644)
	}
	if err != nil {
		klog.ErrorS(err, "Checkpointing resources failed")
	}
	klog.InfoS("Checkpointed resources", "resources", rs.String())
}

// resourcesCheckpointPath is where checkpointed resources are kept.
func (a *Agent) resourcesCheckpointPath() string {
	return filepath.Join(a.cfg.WorkDir, "meta", "resources", "resources.info")
}

// loadCheckpointedResources makes the resources checkpointed by an earlier
// run of the agent (reservations, persistent volumes) its total again, as a
// restarted Mesos agent does, so they survive the restart and the master
// offers them to their role. The checkpoint must describe the same
// resources as --resources once reservations and volumes are taken away;
// otherwise the agent refuses to start, as Mesos' agent fails recovery when
// its checkpointed resources are incompatible with its flags.
func (a *Agent) loadCheckpointedResources() error {
	b, err := os.ReadFile(a.resourcesCheckpointPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpointed resources: %w", err)
	}
	var rs mesos.Resources
	if err := json.Unmarshal(b, &rs); err != nil {
		return fmt.Errorf("decode checkpointed resources %s: %w", a.resourcesCheckpointPath(), err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	base := stripReservations(a.resources)
	if got := stripReservations(rs); !resources.Contains(got, base) || !resources.Contains(base, got) {
		return fmt.Errorf("checkpointed resources %s are incompatible with --resources %s; remove %s to start with the flags' resources", rs, a.resources, a.resourcesCheckpointPath())
	}
	a.resources = rs
	klog.InfoS("Recovered checkpointed resources", "resources", rs.String())
	return nil
}

// stripReservations returns rs without reservations and persistent volume
// information: the resources of the agent's --resources flag they came from.
func stripReservations(rs mesos.Resources) mesos.Resources {
	var out mesos.Resources
	for _, r := range rs.Clone() {
		r.Reservations = nil
		r.Reservation = nil
		r.Role = nil
		r.Disk = nil
		r.AllocationInfo = nil
		out.Add1(r)
	}
	return out
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
