package kubeletexecutor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

// TestOrphansAdoptedWithinTheWindow: with an adoption window, the pods an
// earlier executor left are not deleted before the node starts; a LAUNCH of
// one's task within the window adopts it (no binding, TASK_RUNNING from the
// running pod), and the one nobody launched is deleted once the window ends.
func TestOrphansAdoptedWithinTheWindow(t *testing.T) {
	running := func(name string, uid types.UID) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: uid},
			Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	}
	client := bindingClient(running("adopt", "a1"), running("orphan", "o1"))
	a := newTestAgent(t)
	node := &startOrderNode{client: client, startedCh: make(chan struct{})}
	ex := New(a.mesosConfig(), client, node)
	ex.AdoptWindow = 1500 * time.Millisecond
	runExecutor(t, a, ex)
	select {
	case <-node.startedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("node not started")
	}
	node.mu.Lock()
	if got := strings.Join(node.podsAtStart, " "); got != "adopt orphan" {
		t.Errorf("pods when the node started: %q, want both kept for the window", got)
	}
	node.mu.Unlock()

	ref := podtask.PodRef{Namespace: "ns", Name: "adopt", UID: "a1"}
	a.events <- launch(podtask.TaskID(ref.UID, podtask.Attempt{Epoch: 1, Seq: 1}), ref.Encode())
	for {
		u := a.nextUpdate(t)
		if u.GetState() == mesos.TASK_RUNNING {
			if d, err := podtask.DecodeStatusData(u.Data); err != nil || d.PodIP != "10.0.0.5" {
				t.Errorf("TASK_RUNNING data %q (%v), want the adopted pod's IP", u.Data, err)
			}
			break
		}
		if u.GetState() != mesos.TASK_STARTING {
			t.Fatalf("adopted pod's task: %v %q, want TASK_RUNNING", u.GetState(), u.GetMessage())
		}
	}
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := client.Tracker().Get(pods, "ns", "orphan"); apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pod nobody launched was not deleted after the window")
		}
	}
	if _, err := client.Tracker().Get(pods, "ns", "adopt"); err != nil {
		t.Errorf("adopted pod: %v, want it kept", err)
	}
	for _, act := range client.Actions() {
		if act.GetSubresource() == "binding" {
			t.Error("the adopted pod was bound again")
		}
		if d, ok := act.(k8stesting.DeleteAction); ok && d.GetName() == "adopt" {
			t.Error("the adopted pod was deleted")
		}
	}
}
