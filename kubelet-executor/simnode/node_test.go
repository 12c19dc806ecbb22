package simnode

import (
	"context"
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

var testAgent = mesos.AgentInfo{Hostname: "Agent-9", Attributes: []mesos.Attribute{
	{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r9"}}}}

func startNode(t *testing.T, client *fake.Clientset) *Node {
	t.Helper()
	n, err := New(Config{Client: client, NodeIP: "192.168.9.9", PodCIDR: "10.9.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Start(t.Context(), testAgent, node.Resources{CPUs: 2, MemMiB: 1024}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() has ended by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := n.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartTakesOverTheNodeLeft: a Node an earlier executor left (NotReady,
// with labels of its own) is taken over: its labels kept, the agent's added,
// Ready again with the resources given.
func TestStartTakesOverTheNodeLeft(t *testing.T) {
	old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-9", Labels: map[string]string{"team": "a"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}
	client := fake.NewClientset(old)
	startNode(t, client)
	n, err := client.CoreV1().Nodes().Get(t.Context(), "agent-9", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["team"] != "a" || n.Labels["rack"] != "r9" || n.Labels[corev1.LabelHostname] != "agent-9" {
		t.Errorf("labels %v, want team=a kept and rack=r9, hostname added", n.Labels)
	}
	var ready corev1.ConditionStatus
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status
		}
	}
	if q := n.Status.Allocatable[corev1.ResourceMemory]; ready != corev1.ConditionTrue || q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("Ready %s allocatable memory %s, want True and 1Gi", ready, q.String())
	}
}

// TestStartFailsWhenTheNodeCannotBeRegistered: an API server that refuses
// the Node makes Start fail with its error once the register timeout ends.
func TestStartFailsWhenTheNodeCannotBeRegistered(t *testing.T) {
	client := fake.NewClientset()
	refused := apierrors.NewForbidden(corev1.Resource("nodes"), "agent-9", errors.New("not this node's identity"))
	client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, refused })
	n, err := New(Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	n.registerTimeout = 300 * time.Millisecond
	if _, err := n.Start(t.Context(), testAgent, node.Resources{CPUs: 1}); err == nil {
		t.Fatal("Start succeeded without a Node")
	}
	if err := n.WaitReady(t.Context()); err == nil {
		t.Error("WaitReady of a node that did not start returned nil")
	}
}

// TestPodsRunAndGo: a pod bound to the node is reported Running with an IP
// of the pod CIDR; a pod marked for deletion is removed at once (grace 0, its
// UID); a terminated pod is left as it is.
func TestPodsRunAndGo(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: k8stypes.UID("uid-" + name)},
			Spec:   corev1.PodSpec{NodeName: "agent-9", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			Status: corev1.PodStatus{Phase: phase}}
	}
	done := pod("done", corev1.PodSucceeded)
	client := fake.NewClientset(pod("web", corev1.PodPending), done)
	startNode(t, client)
	pods := client.CoreV1().Pods("ns")
	waitFor(t, "web Running with an IP", func() bool {
		p, err := pods.Get(t.Context(), "web", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP == "10.9.0.2" && p.Status.HostIP == "192.168.9.9"
	})
	// A graceful delete only marks the pod (as the API server does for a pod on a node).
	gone := pod("gone", corev1.PodRunning)
	now := metav1.Now()
	gone.DeletionTimestamp, gone.Finalizers = &now, nil
	if _, err := pods.Create(t.Context(), gone, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod marked for deletion removed", func() bool {
		_, err := pods.Get(t.Context(), "gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	for _, act := range client.Actions() {
		if d, ok := act.(k8stesting.DeleteActionImpl); ok && d.Name == "gone" {
			if g := d.DeleteOptions.GracePeriodSeconds; g == nil || *g != 0 || d.DeleteOptions.Preconditions == nil {
				t.Errorf("delete of gone: grace %v preconditions %v, want 0 and its UID", g, d.DeleteOptions.Preconditions)
			}
		}
		if u, ok := act.(k8stesting.UpdateAction); ok && u.GetSubresource() == "status" {
			if p, ok := u.GetObject().(*corev1.Pod); ok && p.Name == "done" {
				t.Error("a terminated pod's status was rewritten")
			}
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}
