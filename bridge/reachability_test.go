package bridge

import (
	"fmt"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/podtask"
)

// masterUpdate is a status the master sends about a task on agent.
func masterUpdate(taskID, agent string, state mesos.TaskState, reason mesos.TaskStatus_Reason) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: agent},
		State: state.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: reason.Enum()}
}

func TestReachability(t *testing.T) {
	unreachable := map[string]string{}
	steps := []struct {
		name  string
		agent string
		node  string
		st    mesos.TaskStatus
		want  reachWrite
	}{
		{"a running task changes nothing", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_RUNNING, mesos.REASON_RECONCILIATION), reachNone},
		{"first unreachable task marks the node", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED), reachLost},
		{"a second one does not again", "a1", "n1", masterUpdate("t2", "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED), reachNone},
		{"no node known: nothing to mark", "a2", "", masterUpdate("t3", "a2", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED), reachNone},
		{"another agent's running task clears nothing", "a2", "n2", masterUpdate("t3", "a2", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED), reachNone},
		{"a terminal task is no sign of life", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_KILLED, mesos.REASON_RECONCILIATION), reachNone},
		{"the agent back: its tasks running again", "a1", "n1", masterUpdate("t2", "a1", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED), reachBack},
		{"once", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED), reachNone},
		{"unreachable again", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED), reachLost},
		{"a reconciliation TASK_GONE leaves the agent", "a1", "n1", masterUpdate("t9", "a1", mesos.TASK_GONE, mesos.REASON_RECONCILIATION), reachNone},
		{"a preempted task leaves the agent", "a1", "n1", masterUpdate("t9", "a1", mesos.TASK_GONE, mesos.REASON_CONTAINER_PREEMPTED), reachNone},
		{"the agent re-registered without the task", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_GONE, mesos.REASON_AGENT_REREGISTERED), reachBack},
		{"unreachable once more", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED), reachLost},
		{"gone for good", "a1", "n1", masterUpdate("t1", "a1", mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR), reachGone},
		{"removed after too long unreachable", "a2", "n2", masterUpdate("t3", "a2", mesos.TASK_GONE, mesos.REASON_AGENT_REMOVED), reachGone},
	}
	for _, s := range steps {
		if got := reachability(unreachable, s.agent, s.node, s.st); got != s.want {
			t.Errorf("%s: got %v want %v (marked %v)", s.name, got, s.want, unreachable)
		}
	}
	if len(unreachable) != 0 {
		t.Errorf("agents still marked after they are gone: %v", unreachable)
	}
}

// TestUnreachableAgentMarksItsNode: a pod's and the node task's
// TASK_UNREACHABLE mark the agent's Node unreachable once; the pod is
// neither failed nor deleted and its task is kept; the master's TASK_RUNNING
// after the agent re-registered clears the mark; later, TASK_GONE_BY_OPERATOR
// removes the Node and force-deletes the pod.
func TestUnreachableAgentMarksItsNode(t *testing.T) {
	l := newLossTest(t, time.Minute)
	l.s.nodeTasks["a1"] = &nodeTask{TaskID: podtask.NodeTaskID("a1", time.Unix(1, 0)), AgentID: "a1", Hostname: "A1", State: mesos.TASK_RUNNING}
	nodeTaskID := l.s.nodeTasks["a1"].TaskID
	l.update(t, masterUpdate(l.task, "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED))
	l.update(t, masterUpdate(nodeTaskID, "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED))
	if got := fmt.Sprint(l.report.nodes); got != "[unreachable a1]" {
		t.Errorf("Node writes %s, want the pod's node marked unreachable once", got)
	}
	if len(l.report.failed)+len(l.report.deleted) != 0 || l.taskOf(l.pod.UID) != l.task {
		t.Errorf("pod of an unreachable agent failed %v, deleted %v, task %q", l.report.failed, l.report.deleted, l.taskOf(l.pod.UID))
	}
	l.offerOf(t, "a2", 4000, 4000)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Errorf("launched %v while the pod may run on the unreachable agent", got)
	}

	l.update(t, masterUpdate(l.task, "a1", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED))
	l.update(t, masterUpdate(nodeTaskID, "a1", mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED))
	if got := fmt.Sprint(l.report.nodes); got != "[unreachable a1 reachable a1]" {
		t.Errorf("Node writes %s, want the mark cleared once", got)
	}

	// Offers of the agent clear the mark too (its tasks may all be gone).
	l.report.nodes = nil
	l.update(t, masterUpdate(l.task, "a1", mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED))
	l.offerOf(t, "a1", 100, 100)
	l.s.report.Drain(t.Context())
	l.offerOf(t, "a1", 100, 100)
	l.s.report.Drain(t.Context())
	if got := fmt.Sprint(l.report.nodes); got != "[unreachable a1 reachable a1]" {
		t.Errorf("Node writes %s, want the mark cleared once by the agent's offers", got)
	}

	l.report.nodes = nil
	l.update(t, masterUpdate(l.task, "a1", mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR))
	l.update(t, masterUpdate(nodeTaskID, "a1", mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR))
	if got := fmt.Sprint(l.report.nodes); got != "[removed a1 removed a1]" {
		t.Errorf("Node writes %s, want the Node removed (for each task of the agent: a removed Node is no error)", got)
	}
	if fmt.Sprint(l.report.deleted) != "[web]" {
		t.Errorf("force-deleted %v, want the pod", l.report.deleted)
	}
}

// TestPreemptedPodEvictedAlone (#9): Mesos revokes the revocable resources
// of one pod's task (TASK_GONE or TASK_LOST, REASON_CONTAINER_PREEMPTED):
// that pod is marked Failed with ReasonResourcesRevoked and a message
// saying so; no other pod, nor the Node, is touched, and the agent is not
// held back.
func TestPreemptedPodEvictedAlone(t *testing.T) {
	for _, state := range []mesos.TaskState{mesos.TASK_GONE, mesos.TASK_LOST} {
		t.Run(state.String(), func(t *testing.T) {
			l := newLossTest(t, time.Minute)
			other := boundPod("other", "a1")
			l.pods.pods[other.UID] = other
			otherTask := podtask.TaskID(other.UID, podtask.Attempt{Epoch: 1, Seq: 2})
			l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: otherTask}, AgentID: &mesos.AgentID{Value: "a1"},
				State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum()})
			st := masterUpdate(l.task, "a1", state, mesos.REASON_CONTAINER_PREEMPTED)
			st.Source = mesos.SOURCE_AGENT.Enum()
			l.update(t, st)
			if fmt.Sprint(l.report.failed) != "[web: "+ReasonResourcesRevoked+"]" {
				t.Errorf("failed %v, want only web with %s", l.report.failed, ReasonResourcesRevoked)
			}
			if len(l.report.deleted)+len(l.report.nodes) != 0 || len(l.s.agents) != 0 {
				t.Errorf("deleted %v, Node writes %v, agent holds %v: want none", l.report.deleted, l.report.nodes, l.s.agents)
			}
			if l.taskOf(other.UID) != otherTask {
				t.Errorf("the other pod's task is gone from the registry")
			}
			if msg := FailureMessage(st); msg[:len(MessageResourcesRevoked)] != MessageResourcesRevoked {
				t.Errorf("message %q", msg)
			}
		})
	}
}
