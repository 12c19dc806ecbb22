package bridge

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/podtask"
)

// Every launch of a pod has its own task ID (podtask.TaskID): Mesos
// requires task IDs to be unique for a framework's life. The ID is made of
// the term's epoch and the launch's number in the term, so no two launches
// of any bridge of the framework share one: a leader's epoch is its
// election revision (EpochSource), which grows from leader to leader; a
// bridge without election takes the time of its first launch.

// EpochSource is a FrameworkStore that knows the term it writes for:
// LaunchEpoch is greater than that of every earlier term (0: unknown).
type EpochSource interface {
	LaunchEpoch() uint64
}

// nextAttempt is the attempt of the next launch.
func (s *Scheduler) nextAttempt() podtask.Attempt {
	if s.epoch == 0 {
		s.epoch = launchEpoch(s.store, s.now())
	}
	s.launched++
	return podtask.Attempt{Epoch: s.epoch, Seq: s.launched}
}

// launchEpoch is the epoch of a term that begins at now with store.
func launchEpoch(store FrameworkStore, now time.Time) uint64 {
	if es, ok := store.(EpochSource); ok {
		if e := es.LaunchEpoch(); e > 0 {
			return e
		}
	}
	return uint64(now.UnixNano())
}

// otherLaunch handles a status of a launch of t's pod other than t, the one
// the registry holds. An ended or unknown one is history (an answer about
// an earlier launch, say). A live one is the pod's task if t was never
// confirmed (its ACCEPT failed, or it comes from an intent): it is adopted
// in t's place; otherwise the pod would run twice, and the other task is
// killed (the call returned).
func (s *Scheduler) otherLaunch(ctx context.Context, t *PodTask, st mesos.TaskStatus, now time.Time) []*scheduler.Call {
	log := klog.FromContext(ctx)
	state := st.GetState()
	if podtask.IsTerminal(state) || state == mesos.TASK_UNKNOWN {
		log.V(1).Info("Status of an earlier launch of the pod", append(statusLogValues(st), "current", t.TaskID)...)
		return nil
	}
	agentID := st.GetAgentID().GetValue()
	if t.Unconfirmed && agentID != "" {
		log.Info("Adopting a live task of a pod whose launch was never confirmed", "task", st.TaskID.Value, "instead", t.TaskID)
		t.TaskID, t.AgentID, t.State, t.Unconfirmed, t.Killing = st.TaskID.Value, agentID, state, false, false
		if s.intents != nil {
			s.intents.Adopted(LaunchIntent{Pod: t.Pod, TaskID: t.TaskID, AgentID: agentID, Hostname: t.Hostname, Written: now})
		}
		return nil
	}
	log.Info("Killing a second task of a pod", "task", st.TaskID.Value, "keeping", t.TaskID, "pod", t.Pod.String())
	return []*scheduler.Call{calls.Kill(st.TaskID.Value, agentID)}
}
