package kubeletexecutor

import (
	"context"
	"sync"
	"testing"
	"time"

	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestShutdownStopsNode: SHUTDOWN makes Run return nil after stopping the node once.
func TestShutdownStopsNode(t *testing.T) {
	a := newTestAgent(t)
	node := &readyNode{}
	done, runErr := runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), node))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		node.mu.Lock()
		started := node.started
		node.mu.Unlock()
		if started == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node not started after SUBSCRIBED")
		}
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
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.started != 1 || node.stopped != 1 {
		t.Errorf("node started %d stopped %d times, want 1 and 1", node.started, node.stopped)
	}
}

// stopCheckNode is a readyNode that records, when Stop runs, the pods still bound to it.
type stopCheckNode struct {
	readyNode
	client     *fake.Clientset
	podsAtStop []string
	// actionsAtStop is how many API calls were made before Stop.
	actionsAtStop int
}

func (n *stopCheckNode) Stop(ctx context.Context) error {
	list, _ := n.client.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"),
		corev1.SchemeGroupVersion.WithKind("Pod"), "ns")
	n.mu.Lock()
	n.actionsAtStop = len(n.client.Actions())
	for _, p := range list.(*corev1.PodList).Items {
		if p.Spec.NodeName == "node-a" {
			n.podsAtStop = append(n.podsAtStop, p.Name)
		}
	}
	n.mu.Unlock()
	return n.readyNode.Stop(ctx)
}

// TestShutdownDuringAdmissionLeavesNoBoundPod: SHUTDOWN while a LAUNCH is
// between reading and binding its pod waits for the admission, so the pod it
// binds is deleted before the node stops.
func TestShutdownDuringAdmissionLeavesNoBoundPod(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("")
	inGet, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		once.Do(func() { close(inGet); <-release })
		return false, nil, nil
	})
	node := &stopCheckNode{client: client}
	done, _ := runExecutor(t, a, New(a.mesosConfig(), client, node))
	a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
	select {
	case <-inGet:
	case <-time.After(10 * time.Second):
		t.Fatal("admission did not read the pod")
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	time.Sleep(300 * time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.stopped != 1 || len(node.podsAtStop) != 0 {
		t.Errorf("node stopped %d times with pods %v still bound to it, want once with none", node.stopped, node.podsAtStop)
	}
	time.Sleep(200 * time.Millisecond)
	for _, act := range client.Actions()[node.actionsAtStop:] {
		if act.GetSubresource() == "binding" {
			t.Errorf("pod bound after the node was stopped")
		}
	}
}
