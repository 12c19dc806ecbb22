package bridge

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAction(t *testing.T) {
	bound := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "agent-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	unbound := &corev1.Pod{}
	now := metav1.Now()
	deleting := bound.DeepCopy()
	deleting.DeletionTimestamp = &now
	succeeded := bound.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded
	status := func(s mesos.TaskState, src mesos.TaskStatus_Source) mesos.TaskStatus {
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: "pod.u"}, State: s.Enum(), Source: src.Enum()}
	}
	for _, tc := range []struct {
		name string
		st   mesos.TaskStatus
		pod  *corev1.Pod
		want PodAction
	}{
		{"agent gone", status(mesos.TASK_GONE, mesos.SOURCE_MASTER), bound, DeletePod},
		{"agent gone by operator", status(mesos.TASK_GONE_BY_OPERATOR, mesos.SOURCE_MASTER), bound, DeletePod},
		{"lost", status(mesos.TASK_LOST, mesos.SOURCE_MASTER), bound, FailPod},
		{"failed by the agent", status(mesos.TASK_FAILED, mesos.SOURCE_AGENT), bound, FailPod},
		{"executor ended under the pod", withReason(status(mesos.TASK_FAILED, mesos.SOURCE_AGENT), mesos.REASON_EXECUTOR_TERMINATED), bound, RelaunchPod},
		{"executor could not be launched", withReason(status(mesos.TASK_FAILED, mesos.SOURCE_AGENT), mesos.REASON_CONTAINER_LAUNCH_FAILED), bound, FailPod},
		{"node could not start, says the executor", withReason(status(mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR), mesos.REASON_EXECUTOR_TERMINATED), bound, LeavePod},
		{"executor ended under an unbound pod", withReason(status(mesos.TASK_FAILED, mesos.SOURCE_AGENT), mesos.REASON_EXECUTOR_TERMINATED), unbound, LeavePod},
		{"killed by Mesos, pod still wanted", status(mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR), bound, FailPod},
		{"pod failed, executor says so", status(mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR), bound, LeavePod},
		{"finished", status(mesos.TASK_FINISHED, mesos.SOURCE_EXECUTOR), bound, LeavePod},
		{"unreachable is not terminal here", status(mesos.TASK_UNREACHABLE, mesos.SOURCE_MASTER), bound, LeavePod},
		{"never bound: pending again", status(mesos.TASK_LOST, mesos.SOURCE_MASTER), unbound, LeavePod},
		{"pod deleted", status(mesos.TASK_GONE, mesos.SOURCE_MASTER), nil, LeavePod},
		{"pod being deleted", status(mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR), deleting, LeavePod},
		{"pod already ended", status(mesos.TASK_LOST, mesos.SOURCE_MASTER), succeeded, LeavePod},
	} {
		if got := Action(tc.st, tc.pod); got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

func withReason(st mesos.TaskStatus, r mesos.TaskStatus_Reason) mesos.TaskStatus {
	st.Reason = r.Enum()
	return st
}

func TestFailureReasonAndMessage(t *testing.T) {
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "pod.u"}, State: mesos.TASK_GONE_BY_OPERATOR.Enum(),
		AgentID: &mesos.AgentID{Value: "S1"}, Reason: mesos.REASON_AGENT_REMOVED.Enum(), Message: proto("agent marked gone")}
	if got := FailureReason(st); got != "MesosTaskGoneByOperator" {
		t.Errorf("reason %q", got)
	}
	want := "Mesos task pod.u on agent S1: TASK_GONE_BY_OPERATOR (REASON_AGENT_REMOVED): agent marked gone"
	if got := FailureMessage(st); got != want {
		t.Errorf("message %q want %q", got, want)
	}
}
