package kubeletexecutor

import (
	"errors"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestDrainGrace: on shutdown a pod is deleted with the KILL's grace period
// when one came, else with its own, never longer than the pods' share of the
// shutdown grace period.
func TestDrainGrace(t *testing.T) {
	budget := 6 * time.Second
	pod := func(grace *int64) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: grace}}
	}
	tests := []struct {
		name string
		kill *time.Duration
		pod  *corev1.Pod
		want *time.Duration
	}{
		{"own grace fits", nil, pod(ptr.To[int64](3)), nil},
		{"own grace too long", nil, pod(ptr.To[int64](1000)), &budget},
		{"default 30 s too long", nil, pod(nil), &budget},
		{"KILL's grace", ptr.To(2 * time.Second), pod(ptr.To[int64](1000)), ptr.To(2 * time.Second)},
		{"KILL's grace too long", ptr.To(time.Minute), pod(nil), &budget},
		{"pod unknown", nil, nil, &budget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := drainGrace(tc.kill, tc.pod, budget)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("drainGrace = %v, want %v", fmtDur(got), fmtDur(tc.want))
			}
		})
	}
}

func fmtDur(d *time.Duration) string {
	if d == nil {
		return "the pod's own"
	}
	return d.String()
}

func testNode(name string, unschedulable bool, annotations map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.NodeSpec{Unschedulable: unschedulable}}
}

func pendingPod(name string, uid types.UID, grace int64) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: uid},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
}

// drainActions launches pods p (grace 3 s) and q (grace 1000 s) on node-a,
// shuts the executor down (shutdown grace 10 s: pods get 6 s) and returns
// the API calls made and the node's record of its stop.
func drainActions(t *testing.T, client *fake.Clientset) ([]k8stesting.Action, *stopCheckNode) {
	t.Helper()
	a := newTestAgent(t)
	cfg := a.mesosConfig()
	cfg.ExecutorShutdownGracePeriod = 10 * time.Second
	node := &stopCheckNode{client: client}
	done, _ := runExecutor(t, a, New(cfg, client, node))
	for _, p := range []podtask.PodRef{{Namespace: "ns", Name: "p", UID: "u1"}, {Namespace: "ns", Name: "q", UID: "u2"}} {
		a.events <- launch(podtask.TaskID(p.UID, podtask.Attempt{Epoch: 1, Seq: 1}), p.Encode())
	}
	starting := map[string]bool{}
	for len(starting) < 2 {
		if u := a.nextUpdate(t); u.GetState() == mesos.TASK_STARTING {
			starting[u.TaskID.Value] = true
		}
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	killed := map[string]bool{}
	for len(killed) < 2 {
		if u := a.nextUpdate(t); u.GetState() == mesos.TASK_KILLED {
			killed[u.TaskID.Value] = true
		}
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("executor did not shut down")
	}
	return client.Actions(), node
}

// TestShutdownCordonsThenDrains: SHUTDOWN cordons the node (marked as the
// executor's) before it deletes any pod, deletes each with its own grace
// period capped at the pods' share of the shutdown grace period, reports
// every task KILLED, and stops the node only once no pod is left on it.
func TestShutdownCordonsThenDrains(t *testing.T) {
	client := bindingClient(testNode("node-a", false, nil), pendingPod("p", "u1", 3), pendingPod("q", "u2", 1000))
	actions, node := drainActions(t, client)
	cordonAt := slices.IndexFunc(actions, func(a k8stesting.Action) bool {
		return a.GetVerb() == "patch" && a.GetResource().Resource == "nodes"
	})
	if cordonAt < 0 {
		t.Fatal("the node was not cordoned")
	}
	grace := map[string]*int64{}
	for i, act := range actions {
		if act.GetVerb() != "delete" || act.GetResource().Resource != "pods" {
			continue
		}
		if i < cordonAt {
			t.Errorf("pod %s deleted before the node was cordoned", act.(k8stesting.DeleteAction).GetName())
		}
		d := act.(k8stesting.DeleteActionImpl)
		if _, seen := grace[d.Name]; !seen {
			grace[d.Name] = d.DeleteOptions.GracePeriodSeconds
		}
	}
	if g, ok := grace["p"]; !ok || g != nil {
		t.Errorf("pod p deleted (%v) with grace %v, want its own (3 s, no override)", ok, g)
	}
	if g := grace["q"]; g == nil || *g != 6 {
		t.Errorf("pod q deleted with grace %v, want 6 s (60%% of the 10 s shutdown grace)", g)
	}
	n, err := client.CoreV1().Nodes().Get(t.Context(), "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable || n.Annotations[AnnotationCordonedBy] != "kubelet-executor" {
		t.Errorf("node unschedulable %v annotations %v, want cordoned by kubelet-executor", n.Spec.Unschedulable, n.Annotations)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.stopped != 1 || len(node.podsAtStop) != 0 {
		t.Errorf("node stopped %d times with pods %v on it, want once with none", node.stopped, node.podsAtStop)
	}
}

// TestShutdownDrainsWhenCordonFails: a cordon the API server refuses does
// not stop the drain: every pod is still deleted and its task KILLED.
func TestShutdownDrainsWhenCordonFails(t *testing.T) {
	client := bindingClient(testNode("node-a", false, nil), pendingPod("p", "u1", 3), pendingPod("q", "u2", 1000))
	client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("nodes"), "node-a", errors.New("no patch for you"))
	})
	_, node := drainActions(t, client)
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.podsAtStop) != 0 {
		t.Errorf("pods %v left on the node at its stop", node.podsAtStop)
	}
}

// TestBringUpLiftsOnlyTheExecutorsCordon: a new executor uncordons a Node an
// earlier executor cordoned when it shut down, but not one an operator
// cordoned; when the uncordon fails the node still serves its pods.
func TestBringUpLiftsOnlyTheExecutorsCordon(t *testing.T) {
	tests := []struct {
		name      string
		node      *corev1.Node
		failPatch bool
		want      bool // unschedulable after bring-up
	}{
		{"the executor's cordon", testNode("node-a", true, map[string]string{AnnotationCordonedBy: "kubelet-executor"}), false, false},
		{"an operator's cordon", testNode("node-a", true, nil), false, true},
		{"uncordon refused", testNode("node-a", true, map[string]string{AnnotationCordonedBy: "kubelet-executor"}), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := bindingClient(tc.node, pendingPod("p", "u1", 3))
			if tc.failPatch {
				client.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewServiceUnavailable("API server down")
				})
			}
			a := newTestAgent(t)
			runExecutor(t, a, New(a.mesosConfig(), client, &readyNode{}))
			a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
			// Pods are admitted only once the node is up, cordon lifted or not.
			if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
				t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
			}
			n, err := client.CoreV1().Nodes().Get(t.Context(), "node-a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n.Spec.Unschedulable != tc.want {
				t.Errorf("unschedulable = %v, want %v", n.Spec.Unschedulable, tc.want)
			}
			if _, marked := n.Annotations[AnnotationCordonedBy]; marked && !tc.want {
				t.Errorf("annotation %s left after the uncordon", AnnotationCordonedBy)
			}
		})
	}
}
