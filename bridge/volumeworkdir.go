package bridge

import (
	"context"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"k8s.io/klog/v2"
)

// The host path of a volume needs its agent's work_dir, which only the
// executor knows; it reports it in the status data of its node task
// (podtask.StatusData). A bridge that took over has not seen those
// statuses (a reconciliation answer carries no data) and knows only the
// work_dirs of the agents in its predecessor's volume intents. When a
// pending pod has a claim to provision, it KILLs once, per agent and term,
// each running node task of an agent whose work_dir it does not know: the
// node stays up (a node task holds no pod), the agent gets a new node task
// from its next offer, and the new task's first status carries the
// work_dir. Until then no new volume is placed there (unreservedDiskMB).

// askWorkDirs kills the node tasks of agents whose work_dir is unknown, if
// a pending pod needs a new volume.
func (s *Scheduler) askWorkDirs(ctx context.Context, pending bool) {
	b := s.volumes
	if b == nil || !pending {
		return
	}
	for agentID, nt := range s.nodeTasks {
		if b.workDirs[agentID] != "" || b.workDirAsked[agentID] || nt.State != mesos.TASK_RUNNING {
			continue
		}
		if err := s.fw.call(ctx, calls.Kill(nt.TaskID, agentID)); err != nil {
			klog.FromContext(ctx).Error(err, "Kill node task to learn the agent's work_dir", "task", nt.TaskID)
			continue
		}
		b.workDirAsked[agentID] = true
		klog.FromContext(ctx).Info("Relaunching a node task to learn its agent's work_dir", "agent", agentID, "task", nt.TaskID)
	}
}

// needsVolume reports whether a pending pod has a claim to provision.
func (s *Scheduler) needsVolume() bool {
	if s.volumes == nil {
		return false
	}
	for _, p := range s.pods.Pending() {
		cs, err := s.volumes.claims(p)
		if err != nil {
			continue
		}
		for _, c := range cs {
			if !c.Bound() {
				return true
			}
		}
	}
	return false
}
