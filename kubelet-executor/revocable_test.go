package kubeletexecutor

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestRevocableExecutorOwnsOnlyItsPods: a revocable executor on the node
// the kubelet-executor runs (JoinedNode) binds the pod of its task once that
// Node is Ready, leaves the kubelet-executor's pod on the node alone, even
// with no adoption window (a kubelet-executor would delete it as an
// orphan), and on SHUTDOWN deletes its own pod only, without cordoning the
// node.
func TestRevocableExecutorOwnsOnlyItsPods(t *testing.T) {
	readyNodeObj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	theirs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "guaranteed", UID: "g1"},
		Spec: corev1.PodSpec{NodeName: "node-a"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	mine := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	client := bindingClient(readyNodeObj, theirs, mine)
	a := newTestAgent(t)
	ex := New(a.mesosConfig(), client, &JoinedNode{Client: client})
	ex.Revocable = true
	done, runErr := runExecutor(t, a, ex)

	a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("first update %v %q, want TASK_STARTING (pod bound)", u.GetState(), u.GetMessage())
	}
	got, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "node-a" {
		t.Fatalf("pod p: %v, node %q; want bound to node-a", err, got.Spec.NodeName)
	}

	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	select {
	case <-done:
		if *runErr != nil {
			t.Fatalf("Run = %v, want nil", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
	if _, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("its own pod after SHUTDOWN: %v, want deleted", err)
	}
	if _, err := client.CoreV1().Pods("ns").Get(t.Context(), "guaranteed", metav1.GetOptions{}); err != nil {
		t.Errorf("the kubelet-executor's pod: %v, want it left alone", err)
	}
	n, err := client.CoreV1().Nodes().Get(t.Context(), "node-a", metav1.GetOptions{})
	if err != nil || n.Spec.Unschedulable || n.Annotations[AnnotationCordonedBy] != "" {
		t.Errorf("node after the revocable executor's SHUTDOWN: %v, unschedulable %v, annotations %v; want untouched", err, n.Spec.Unschedulable, n.Annotations)
	}
}
