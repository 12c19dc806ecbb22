package kubeletexecutor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/podtask"
)

// startOrderNode is a readyNode that records which pods existed when Start ran.
type startOrderNode struct {
	readyNode
	client      *fake.Clientset
	podsAtStart []string
	startedCh   chan struct{}
	startOnce   sync.Once
}

func (n *startOrderNode) Start(ctx context.Context, agent mesos.AgentInfo, res node.Resources) (string, error) {
	list, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	for _, p := range list.Items {
		n.podsAtStart = append(n.podsAtStart, p.Name)
	}
	n.mu.Unlock()
	defer n.startOnce.Do(func() { close(n.startedCh) })
	return n.readyNode.Start(ctx, agent, res)
}

// TestOrphanPodsDeletedBeforeKubeletStarts: pods a previous executor bound to
// this node (its tasks ended with it) are deleted before the new executor
// starts its kubelet, so the kubelet never runs a pod without a task. Pods
// of other nodes and pods that already terminated are left alone.
func TestOrphanPodsDeletedBeforeKubeletStarts(t *testing.T) {
	pod := func(name, uid, node string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	client := fake.NewClientset(
		pod("orphan", "o1", "node-a", corev1.PodRunning),
		pod("orphan-pending", "o2", "node-a", corev1.PodPending),
		pod("done", "d1", "node-a", corev1.PodFailed),
		pod("elsewhere", "e1", "node-b", corev1.PodRunning),
		pod("unbound", "x1", "", corev1.PodPending),
	)
	a := newTestAgent(t)
	node := &startOrderNode{client: client, startedCh: make(chan struct{})}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	select {
	case <-node.startedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("node not started")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	got := strings.Join(node.podsAtStart, " ")
	if want := "done elsewhere unbound"; got != want {
		t.Errorf("pods when the kubelet started: %q, want %q", got, want)
	}
}

// failingNode is a Node whose Start fails with err once release is closed.
type failingNode struct {
	readyNode
	release chan struct{}
	err     error
}

func (n *failingNode) Start(ctx context.Context, _ mesos.AgentInfo, _ node.Resources) (string, error) {
	select {
	case <-n.release:
	case <-ctx.Done():
	}
	return "", n.err
}

// TestNodeFailureFailsTasks: when the node cannot start, every task fails
// with the cause in its message and REASON_EXECUTOR_TERMINATED (not
// TASK_KILLED "killed before its pod was bound"), once, and Run returns the
// error.
func TestNodeFailureFailsTasks(t *testing.T) {
	a := newTestAgent(t)
	cause := errors.New("cgroup root /kubemesos/node-a: no cgroup hierarchy is mounted")
	node := &failingNode{release: make(chan struct{}), err: cause}
	ex := New(a.mesosConfig(), boundPodClient(""), node)
	done, runErr := runExecutor(t, a, ex)
	a.events <- launch(podtask.TaskID(podU1.UID), podU1.Encode())
	for deadline := time.Now().Add(10 * time.Second); ex.openTasks() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("LAUNCH not taken")
		}
	}
	close(node.release) // the task waits for the node
	u := a.nextUpdate(t)
	if u.GetState() != mesos.TASK_FAILED || u.Reason == nil || u.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("update = %v (reason %v) %q, want TASK_FAILED REASON_EXECUTOR_TERMINATED", u.GetState(), u.Reason, u.GetMessage())
	}
	if msg := u.GetMessage(); !strings.HasPrefix(msg, MessageNodeFailed) || !strings.Contains(msg, cause.Error()) {
		t.Errorf("message %q: want %q and the cause %q", msg, MessageNodeFailed, cause)
	}
	select {
	case <-done:
		if !errors.Is(*runErr, cause) {
			t.Errorf("Run = %v, want the node's error", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not stop after the node failed")
	}
	select {
	case u := <-a.updates:
		t.Errorf("second update %v %q after TASK_FAILED", u.GetState(), u.GetMessage())
	default:
	}
}
