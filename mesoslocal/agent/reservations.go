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
// RESERVE, UNRESERVE, CREATE or DESTROY and commits them as Mesos'
// Slave::checkpointResourceState does: it writes them to
// <work_dir>/meta/resources/resources.target, creates and removes the
// directories of the persistent volumes that appeared or went
// (syncVolumes), then renames the target to resources.info and reports them
// from then on (state, re-registration). When a volume directory cannot be
// made or removed nothing is committed (Mesos' agent exits there); the
// target stays and the next start of the agent retries the sync.
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
	prev := a.resources
	a.mu.Unlock()
	if err := a.commitResources(prev, rs); err != nil {
		klog.ErrorS(err, "Checkpointing resources failed; the agent keeps its previous resources", "resources", rs.String())
		return
	}
	a.mu.Lock()
	a.resources = rs
	a.mu.Unlock()
	klog.InfoS("Checkpointed resources", "resources", rs.String())
}

// commitResources writes next to the target checkpoint, syncs the volume
// directories from prev to next and renames the target to the checkpoint.
func (a *Agent) commitResources(prev, next mesos.Resources) error {
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode resources: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(a.resourcesTargetPath()), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(a.resourcesTargetPath(), b, 0o644); err != nil {
		return err
	}
	if err := syncVolumes(a.cfg.WorkDir, prev, next); err != nil {
		return err
	}
	return os.Rename(a.resourcesTargetPath(), a.resourcesCheckpointPath())
}

// resourcesCheckpointPath is where checkpointed resources are kept.
func (a *Agent) resourcesCheckpointPath() string {
	return filepath.Join(a.cfg.WorkDir, "meta", "resources", "resources.info")
}

// resourcesTargetPath holds resources being committed (Mesos'
// resources.target): present only while, or because, a sync of volume
// directories did not finish.
func (a *Agent) resourcesTargetPath() string {
	return filepath.Join(a.cfg.WorkDir, "meta", "resources", "resources.target")
}

// readResourcesFile decodes a resources checkpoint; a missing file is no
// resources and no error.
func readResourcesFile(path string) (mesos.Resources, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read checkpointed resources: %w", err)
	}
	var rs mesos.Resources
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, false, fmt.Errorf("decode checkpointed resources %s: %w", path, err)
	}
	return rs, true, nil
}

// loadCheckpointedResources makes the resources checkpointed by an earlier
// run of the agent (reservations, persistent volumes) its total again, as a
// restarted Mesos agent does, so they survive the restart and the master
// offers them to their role. A target left by an unfinished commit is
// synced and committed first, as Mesos' agent does in its recovery. The
// volume directories themselves are never touched by a restart. The
// checkpoint must describe the same resources as --resources once
// reservations and volumes are taken away; otherwise the agent refuses to
// start, as Mesos' agent fails recovery when its checkpointed resources
// are incompatible with its flags.
func (a *Agent) loadCheckpointedResources() error {
	rs, ok, err := readResourcesFile(a.resourcesCheckpointPath())
	if err != nil {
		return err
	}
	target, pending, err := readResourcesFile(a.resourcesTargetPath())
	if err != nil {
		return err
	}
	if pending {
		if err := syncVolumes(a.cfg.WorkDir, rs, target); err != nil {
			return fmt.Errorf("sync checkpointed resources: %w", err)
		}
		if err := os.Rename(a.resourcesTargetPath(), a.resourcesCheckpointPath()); err != nil {
			return fmt.Errorf("commit checkpointed resources: %w", err)
		}
		rs, ok = target, true
	}
	if !ok {
		return nil
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
