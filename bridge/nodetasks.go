package bridge

import (
	"context"
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// A node task (podtask.NodeTaskPrefix) is launched on every agent that
// offers resources and has none, so that its kubelet-executor brings the
// agent's Node up before any pod is placed there: DaemonSets, which create
// pods only for existing Nodes, reach every agent, and `kubectl get nodes`
// shows what the cluster has. The node task holds Policy.NodeTask (the
// executor's own resources travel in its ExecutorInfo, as with the first
// pod task); it runs as long as the executor does. An agent whose node task
// failed is held back like one whose executor failed a pod launch, and gets
// a new node task when the hold ends. Without node tasks (on-demand mode),
// the executor and the node come with the agent's first pod.

// NodeRemover removes the Node of an agent Mesos reports gone for good. A
// PodReporter that is one (k8sapi.PodReporter) is used for it.
type NodeRemover interface {
	RemoveNode(ctx context.Context, name, msg string) error
}

// nodeTask is the bridge's record of the node task of one agent.
type nodeTask struct {
	TaskID   string
	AgentID  string
	Hostname string
	State    mesos.TaskState
	// Unconfirmed: the ACCEPT failed; the master may or may not have it.
	Unconfirmed bool
	asked       time.Time
}

// launchNodeTasks launches a node task on every agent with a held offer
// that has no node task, is not held back and can fit one (with the
// executor, where it does not run yet). The offers used leave the book: what
// is left of them comes back at the next allocation (refuse_seconds 0).
func (s *Scheduler) launchNodeTasks(ctx context.Context, now time.Time) {
	log := klog.FromContext(ctx)
	for _, o := range s.offers.All() {
		agentID := o.AgentID.Value
		if _, ok := s.nodeTasks[agentID]; ok {
			continue
		}
		if _, held := s.heldAgent(agentID, now); held {
			continue
		}
		need := s.policy.NodeTask
		if !s.executor.runsOn(o) {
			need = plus(need, s.executor.Resources)
		}
		if !fits(need, fromMesos(o.Resources)) {
			log.V(1).Info("Offer too small for a node task", "agent", o.Hostname, "offer", o.ID.Value)
			continue
		}
		id := podtask.NodeTaskID(agentID, now)
		exec := s.executor.executorInfo(s.fw.ID(), offerRole(o))
		ti := mesos.TaskInfo{
			Name:      "node " + podtask.NodeName(o.Hostname),
			TaskID:    mesos.TaskID{Value: id},
			AgentID:   o.AgentID,
			Resources: toMesos(s.policy.NodeTask, nil, offerRole(o)),
			Executor:  &exec,
		}
		// Recorded before the ACCEPT, so a lost answer never launches a second one.
		nt := &nodeTask{TaskID: id, AgentID: agentID, Hostname: o.Hostname, State: mesos.TASK_STAGING}
		s.nodeTasks[agentID] = nt
		s.offers.Remove(o.ID.Value)
		accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0))
		if err := s.fw.call(ctx, accept); err != nil {
			log.Error(err, "Launch node task", "agent", o.Hostname, "task", id)
			nt.Unconfirmed = true
			s.perform(ctx, []*scheduler.Call{s.reconcileNodeTask(nt, now)})
			s.decline(ctx, []string{o.ID.Value}, s.policy.DeclineFor)
			continue
		}
		log.Info("Launched node task", "agent", o.Hostname, "task", id, "offer", o.ID.Value)
	}
	for _, nt := range s.nodeTasks {
		if nt.Unconfirmed && now.Sub(nt.asked) >= reconcileRetry {
			s.perform(ctx, []*scheduler.Call{s.reconcileNodeTask(nt, now)})
		}
	}
}

// reconcileNodeTask is the explicit reconciliation of a node task, asked at now.
func (s *Scheduler) reconcileNodeTask(nt *nodeTask, now time.Time) *scheduler.Call {
	nt.asked = now
	return calls.Reconcile(calls.ReconcileTasks(map[string]string{nt.TaskID: nt.AgentID}))
}

// nodeTaskUpdate records a status of a node task. A terminal one forgets
// the task (the agent gets a new one from its next offer); one the executor
// failed holds the agent back first. A live node task the bridge does not
// know (launched before a restart) is adopted. It returns the calls to
// make: a KILL of a second live node task on the agent.
func (s *Scheduler) nodeTaskUpdate(ctx context.Context, agentID string, st mesos.TaskStatus, now time.Time) []*scheduler.Call {
	log := klog.FromContext(ctx)
	id := st.TaskID.Value
	nt := s.nodeTasks[agentID]
	if nt != nil && nt.TaskID != id {
		// Another launch's task: an older one ending is no news of ours.
		if !podtask.IsTerminal(st.GetState()) && nt.Unconfirmed {
			// Ours was never confirmed and this one lives: adopt it instead.
			nt.TaskID, nt.Unconfirmed = id, false
		} else {
			if !podtask.IsTerminal(st.GetState()) {
				log.Info("Killing a second node task on an agent", "task", id, "keeping", nt.TaskID)
				return []*scheduler.Call{calls.Kill(id, agentID)}
			}
			return nil
		}
	}
	if nt == nil {
		if podtask.IsTerminal(st.GetState()) || st.GetState() == mesos.TASK_UNKNOWN {
			return nil
		}
		nt = &nodeTask{TaskID: id, AgentID: agentID}
		s.nodeTasks[agentID] = nt
		log.Info("Adopted node task", "task", id, "agent", agentID)
	}
	wasUp := nt.State == mesos.TASK_RUNNING
	nt.State, nt.Unconfirmed = st.GetState(), false
	switch {
	case st.GetState() == mesos.TASK_UNKNOWN:
		delete(s.nodeTasks, agentID)
	case podtask.IsTerminal(st.GetState()):
		delete(s.nodeTasks, agentID)
		log.Info("Node task ended", statusLogValues(st)...)
		// A node that was up and whose executor died later is not a
		// bring-up failure: the agent gets a new node task at once.
		if executorFailed(st) && !wasUp {
			s.holdAgent(ctx, agentID, nt.Hostname, st.GetMessage(), now)
		}
	case st.GetState() == mesos.TASK_RUNNING && st.GetSource() == mesos.SOURCE_EXECUTOR:
		if h := s.agents[agentID]; h != nil {
			log.Info("Agent's node is up again", "agent", agentID, "hostname", h.hostname)
			delete(s.agents, agentID)
		}
	}
	return nil
}

// removeNode queues deleting the Node of an agent that is gone, if the
// reporter can (noteReachability, for any task of the agent).
func (s *Scheduler) removeNode(name string, st mesos.TaskStatus) {
	s.report.RemoveNode(name, fmt.Sprintf("Mesos reports the agent gone (%s)", st.GetState()))
}

// plus adds b's scalars to a.
func plus(a, b offermatcher.Resources) offermatcher.Resources {
	a.MilliCPU += b.MilliCPU
	a.MemoryMB += b.MemoryMB
	a.DiskMB += b.DiskMB
	return a
}

// fits reports whether need's scalars fit into have's.
func fits(need, have offermatcher.Resources) bool {
	return need.MilliCPU <= have.MilliCPU && need.MemoryMB <= have.MemoryMB && need.DiskMB <= have.DiskMB
}
