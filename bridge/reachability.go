package bridge

import (
	"context"
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/podtask"
)

// Partitions (#6, PARTITION_AWARE). The master reports the tasks of an agent
// it lost touch with TASK_UNREACHABLE; the agent may still run them, so no
// pod of theirs is deleted or replaced by the bridge. Instead the agent's
// Node is marked as the node lifecycle controller marks a node that stopped
// reporting (k8sapi.PodReporter.MarkNodeUnreachable: the
// node.kubernetes.io/unreachable:NoExecute taint and Ready=Unknown), and
// Kubernetes' own controllers act as on any cluster (taint-based eviction
// after the pods' toleration, replacement by their controllers). When the
// agent is back the master reports its tasks again (TASK_RUNNING, or
// TASK_GONE for those it lost, REASON_AGENT_REREGISTERED) and offers its
// resources, and the bridge removes its own taint. An agent
// gone for good (agentGone) has its Node removed and its pods force-deleted.

// reachWrite is what a status means for the Node of its agent.
type reachWrite int

const (
	reachNone reachWrite = iota
	// reachLost: the first TASK_UNREACHABLE of the agent: mark its Node unreachable.
	reachLost
	// reachBack: the first live status of the agent since: clear the mark.
	reachBack
	// reachGone: the agent is gone for good: forget it (its Node is removed).
	reachGone
)

// reachability decides what a status of a task on agentID means for the
// agent's Node, given the agents already marked unreachable (by agent ID,
// their Node's name), which it updates. node is the Node of the task's
// agent ("" if unknown: then nothing is marked). Pure.
func reachability(unreachable map[string]string, agentID, node string, st mesos.TaskStatus) reachWrite {
	if agentID == "" {
		return reachNone
	}
	_, marked := unreachable[agentID]
	switch {
	case agentGone(st):
		delete(unreachable, agentID)
		return reachGone
	case st.GetState() == mesos.TASK_UNREACHABLE:
		if marked || node == "" {
			return reachNone
		}
		unreachable[agentID] = node
		return reachLost
	case marked && (st.GetState() == mesos.TASK_RUNNING || st.GetState() == mesos.TASK_STARTING || st.GetState() == mesos.TASK_STAGING ||
		reregistered(st)):
		delete(unreachable, agentID)
		return reachBack
	}
	return reachNone
}

// reregistered reports whether a status comes of the task's agent
// re-registering with the master (whatever became of the task).
func reregistered(st mesos.TaskStatus) bool {
	reason, ok := reasonOf(st)
	return ok && reason == mesos.REASON_AGENT_REREGISTERED
}

// offersSeen clears the mark of the agents that offer resources again: the
// master reaches them.
func (s *Scheduler) offersSeen(ctx context.Context, offers []mesos.Offer) {
	for _, o := range offers {
		if node, marked := s.unreachable[o.AgentID.Value]; marked {
			delete(s.unreachable, o.AgentID.Value)
			klog.FromContext(ctx).Info("Agent offers again: clearing its Node's unreachable mark", "agent", o.AgentID.Value, "node", node)
			s.report.NodeReachable(node, true, fmt.Sprintf("Mesos offers agent %s's resources again", o.AgentID.Value))
		}
	}
}

// nodeOfTask is the Node of the agent of a task ("" if the bridge cannot
// tell): the node task's agent, the hostname the pod's task was launched
// to, else the node its pod is bound to.
func (s *Scheduler) nodeOfTask(taskID string) string {
	if agentID, ok := podtask.AgentOfNodeTask(taskID); ok {
		if nt := s.nodeTasks[agentID]; nt != nil && nt.Hostname != "" {
			return podtask.NodeName(nt.Hostname)
		}
		return ""
	}
	uid, ok := podtask.UIDFromTaskID(taskID)
	if !ok {
		return ""
	}
	if t, known := s.tasks.Get(uid); known && t.Hostname != "" {
		return podtask.NodeName(t.Hostname)
	}
	if pod, ok := s.pods.Get(uid); ok {
		return pod.Spec.NodeName
	}
	return ""
}

// noteReachability performs reachability for a status whose task's Node is
// node: the Node writes go through the PodWriter.
func (s *Scheduler) noteReachability(ctx context.Context, node string, st mesos.TaskStatus) {
	agentID := st.GetAgentID().GetValue()
	marked := s.unreachable[agentID]
	switch reachability(s.unreachable, agentID, node, st) {
	case reachLost:
		msg := fmt.Sprintf("Mesos reports agent %s unreachable (task %s: %s)", agentID, st.TaskID.Value, st.GetMessage())
		klog.FromContext(ctx).Info("Agent unreachable: marking its Node", "agent", agentID, "node", node)
		s.report.NodeReachable(node, false, msg)
	case reachBack:
		klog.FromContext(ctx).Info("Agent reachable again: clearing its Node's mark", "agent", agentID, "node", marked)
		s.report.NodeReachable(marked, true, fmt.Sprintf("Mesos reports agent %s's tasks running again (%s)", agentID, st.TaskID.Value))
	case reachGone:
		// A pod task's is enough: the agent is gone whatever runs there.
		if node != "" {
			s.removeNode(node, st)
		}
	}
}
