package kubeletexecutor

import (
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestRetireExitsWithoutDrain: a framework message other than
// podtask.MessageRetire changes nothing; MessageRetire makes Run return
// ErrRetired at once, without the shutdown: no cordon, no pod deleted, no
// terminal update, the node not stopped (its kubelet ends with the process
// and the pods' containers stay for the next executor to adopt).
func TestRetireExitsWithoutDrain(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "w1"},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	client := bindingClient(pod)
	a := newTestAgent(t)
	node := &readyNode{}
	ex := New(a.mesosConfig(), client, node)
	ex.AdoptWindow = time.Minute
	done, runErr := runExecutor(t, a, ex)
	ref := podtask.PodRef{Namespace: "ns", Name: "web", UID: types.UID("w1")}
	a.events <- launch(podtask.TaskID(ref.UID, podtask.Attempt{Epoch: 1, Seq: 1}), ref.Encode())
	for u := a.nextUpdate(t); u.GetState() != mesos.TASK_RUNNING; u = a.nextUpdate(t) {
		if u.GetState() != mesos.TASK_STARTING {
			t.Fatalf("task %v %q, want TASK_RUNNING", u.GetState(), u.GetMessage())
		}
	}
	before := len(client.Actions())

	a.events <- mesosexec.Event{Type: mesosexec.Event_MESSAGE, Message: &mesosexec.Event_Message{Data: []byte("hello")}}
	select {
	case <-done:
		t.Fatalf("Run ended on another message: %v", *runErr)
	case <-time.After(300 * time.Millisecond):
	}

	a.events <- mesosexec.Event{Type: mesosexec.Event_MESSAGE, Message: &mesosexec.Event_Message{Data: []byte(podtask.MessageRetire)}}
	select {
	case <-done:
		if !errors.Is(*runErr, ErrRetired) {
			t.Fatalf("Run = %v, want ErrRetired", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not retire")
	}
	for _, act := range client.Actions()[before:] {
		switch act.(type) {
		case k8stesting.DeleteAction, k8stesting.PatchAction, k8stesting.UpdateAction:
			t.Errorf("retiring executor wrote %s %s", act.GetVerb(), act.GetResource().Resource)
		}
	}
	select {
	case u := <-a.updates:
		t.Errorf("retiring executor sent %v for %s", u.GetState(), u.TaskID.Value)
	default:
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.stopped != 0 {
		t.Errorf("node stopped %d times, want 0", node.stopped)
	}
}
