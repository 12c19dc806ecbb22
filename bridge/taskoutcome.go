package bridge

import (
	"fmt"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
)

// PodAction is what the bridge does to a pod when its task ended.
type PodAction int

const (
	// LeavePod: nothing to do (the pod ended by itself, is being deleted,
	// was never bound and is pending again, or its executor reported it).
	LeavePod PodAction = iota
	// FailPod: the pod cannot run any more where it was placed (its task was
	// lost, dropped, killed or failed by Mesos rather than by the pod):
	// mark it Failed so its controller replaces it.
	FailPod
	// DeletePod: its agent is gone for good (TASK_GONE, TASK_GONE_BY_OPERATOR):
	// force-delete it, as a node controller does for a deleted node.
	DeletePod
	// RelaunchPod: the executor ended under the pod (the agent reports
	// TASK_FAILED / REASON_EXECUTOR_TERMINATED), whose containers still run:
	// launch it again on the same agent, for the next executor to adopt
	// (executorloss.go).
	RelaunchPod
)

// Action decides, for a terminal task status, what happens to its pod (the
// pod with the task's UID, nil if it no longer exists). Pure: the caller acts.
func Action(st mesos.TaskStatus, pod *corev1.Pod) PodAction {
	if pod == nil || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return LeavePod
	}
	if preempted(st) {
		return FailPod // its revocable resources were taken back: evict it, nothing else
	}
	switch st.GetState() {
	case mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return DeletePod
	case mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_ERROR, mesos.TASK_KILLED:
		return FailPod
	case mesos.TASK_FAILED:
		if st.GetSource() == mesos.SOURCE_EXECUTOR {
			return LeavePod // the executor saw the pod fail and reports its phase
		}
		if reason, ok := reasonOf(st); ok && reason == mesos.REASON_EXECUTOR_TERMINATED && st.GetSource() == mesos.SOURCE_AGENT {
			return RelaunchPod // the executor died; the pod's containers did not
		}
		return FailPod // the agent or the master failed the task under the pod
	}
	return LeavePod
}

// ReasonResourcesRevoked is the status reason of a pod evicted because Mesos
// revoked the revocable resources its task ran on (a QoS correction).
const ReasonResourcesRevoked = "MesosResourcesRevoked"

// MessageResourcesRevoked starts the status message of such a pod.
const MessageResourcesRevoked = "evicted: its revocable resources were revoked by Mesos"

// preempted reports whether Mesos ended the task to take back the revocable
// resources it used (REASON_CONTAINER_PREEMPTED: TASK_GONE for
// PARTITION_AWARE frameworks, else TASK_LOST): only that task is affected,
// its agent stays.
func preempted(st mesos.TaskStatus) bool {
	reason, ok := reasonOf(st)
	return ok && reason == mesos.REASON_CONTAINER_PREEMPTED &&
		(st.GetState() == mesos.TASK_GONE || st.GetState() == mesos.TASK_LOST)
}

// agentGone reports whether a status says the task's agent is gone for good:
// TASK_GONE_BY_OPERATOR, or TASK_GONE because the agent was removed. Other
// TASK_GONEs leave the agent: a reconciliation answer for a task the master
// does not know, a task preempted for its revocable resources, a task the
// agent no longer had when it re-registered.
func agentGone(st mesos.TaskStatus) bool {
	if st.GetState() == mesos.TASK_GONE_BY_OPERATOR {
		return true
	}
	reason, ok := reasonOf(st)
	return st.GetState() == mesos.TASK_GONE && ok &&
		(reason == mesos.REASON_AGENT_REMOVED || reason == mesos.REASON_AGENT_REMOVED_BY_OPERATOR)
}

// FailureReason is the pod status reason for a task that ended under its pod,
// e.g. "MesosTaskLost", or ReasonResourcesRevoked.
func FailureReason(st mesos.TaskStatus) string {
	if preempted(st) {
		return ReasonResourcesRevoked
	}
	name := strings.TrimPrefix(st.GetState().String(), "TASK_")
	var b strings.Builder
	b.WriteString("MesosTask")
	for _, part := range strings.Split(strings.ToLower(name), "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// FailureMessage says which task ended where and why, for the pod status.
func FailureMessage(st mesos.TaskStatus) string {
	msg := fmt.Sprintf("Mesos task %s on agent %s: %s", st.TaskID.Value, st.GetAgentID().GetValue(), st.GetState())
	if preempted(st) {
		msg = MessageResourcesRevoked + "; " + msg
	}
	if reason, ok := reasonOf(st); ok {
		msg += " (" + reason.String() + ")"
	}
	if m := st.GetMessage(); m != "" {
		msg += ": " + m
	}
	return msg
}

// reasonOf is the status' reason and whether it has one. An unset reason
// reads as the enum's zero value, REASON_COMMAND_EXECUTOR_FAILED, with
// GetReason: code must look at (and log) a reason only when it is set.
func reasonOf(st mesos.TaskStatus) (mesos.TaskStatus_Reason, bool) {
	if st.Reason == nil {
		return 0, false
	}
	return *st.Reason, true
}

// statusLogValues are the key/value pairs that describe a status in a log
// line; "reason" only when the status has one.
func statusLogValues(st mesos.TaskStatus) []any {
	kv := []any{"task", st.TaskID.Value, "state", st.GetState(), "source", st.GetSource(), "message", st.GetMessage()}
	if reason, ok := reasonOf(st); ok {
		kv = append(kv, "reason", reason)
	}
	return kv
}
