package kubeletexecutor

import (
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestUnknownKillIsKilled: KILL of a task the executor never launched is
// answered with TASK_KILLED, so the framework's view converges.
func TestUnknownKillIsKilled(t *testing.T) {
	a := newTestAgent(t)
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: "pod.nope"}}}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED || u.GetMessage() != MessageUnknownTask {
		t.Fatalf("update = %v %q, want TASK_KILLED %q", u.GetState(), u.GetMessage(), MessageUnknownTask)
	}
}

// TestKillRetriesDeleteUntilTheAPIServerAnswers: a KILL while the API server
// fails deletes still ends in TASK_KILLED once it answers again.
func TestKillRetriesDeleteUntilTheAPIServerAnswers(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("")
	var failures atomic.Int32
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures.Add(1) <= 3 {
			return true, nil, apierrors.NewServiceUnavailable("API server down")
		}
		return false, nil, nil
	})
	node := &readyNode{}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	bindAfterBringUp(t, client, node)
	a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1})}}}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED {
		t.Fatalf("update = %v %q, want TASK_KILLED", u.GetState(), u.GetMessage())
	}
	if n := failures.Load(); n < 4 {
		t.Errorf("%d delete calls, want the 3 failed ones and a successful one", n)
	}
}

// TestEndedTaskGetsOneTerminalUpdate: a KILL that arrives after the task has
// ended (the framework kills the task of a pod it saw deleted, while the
// executor already reported it) gets no second terminal update: Mesos' agent
// refuses a status for a terminal task. Whether the pod went first or the
// KILL did, each task reports exactly one TASK_KILLED.
func TestEndedTaskGetsOneTerminalUpdate(t *testing.T) {
	kill := func(id string) mesosexec.Event {
		return mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: id}}}
	}
	// nextEnd skips TASK_STARTING (the fake API server's informer ignores
	// the node field selector, so the pod is seen before and after binding).
	nextEnd := func(t *testing.T, a *testAgent) mesos.TaskStatus {
		t.Helper()
		for {
			if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
				return u
			}
		}
	}
	for _, killFirst := range []bool{false, true} {
		name := "pod deleted, then KILL"
		if killFirst {
			name = "KILL, then KILL again"
		}
		t.Run(name, func(t *testing.T) {
			a := newTestAgent(t)
			// Pending, not bound yet: a pod already bound to the node before
			// its LAUNCH is an orphan the executor's bring-up may delete.
			client := boundPodClient("")
			runExecutor(t, a, New(a.mesosConfig(), client, &readyNode{}))
			id := podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1})
			a.events <- launch(id, podU1.Encode())
			if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
				t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
			}
			if killFirst {
				a.events <- kill(id)
			} else if err := client.CoreV1().Pods("ns").Delete(t.Context(), "p", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if u := nextEnd(t, a); u.GetState() != mesos.TASK_KILLED {
				t.Fatalf("update = %v %q, want TASK_KILLED", u.GetState(), u.GetMessage())
			}
			a.events <- kill(id)
			select {
			case u := <-a.updates:
				t.Fatalf("update %v %q after the task ended, want none", u.GetState(), u.GetMessage())
			case <-time.After(time.Second):
			}
			// A task the executor never had is still answered.
			a.events <- kill("pod.never")
			if u := a.nextUpdate(t); u.TaskID.Value != "pod.never" || u.GetState() != mesos.TASK_KILLED {
				t.Fatalf("update = %s %v, want pod.never TASK_KILLED", u.TaskID.Value, u.GetState())
			}
		})
	}
}
