package kubeletexecutor

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/client-go/kubernetes/fake"
)

// TestResubscribeCarriesUnacknowledged: after the stream drops, the executor
// subscribes again and hands back the tasks and updates the agent has not
// acknowledged.
func TestResubscribeCarriesUnacknowledged(t *testing.T) {
	a := newTestAgent(t)
	a.noAck = true
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	a.events <- launch("pod.bad", []byte("nope"))
	failed := a.nextUpdate(t)
	a.drop <- struct{}{}
	select {
	case sub := <-a.subscribes:
		if len(sub.UnacknowledgedTasks) != 1 || sub.UnacknowledgedTasks[0].TaskID.Value != "pod.bad" {
			t.Errorf("unacknowledged tasks = %v, want pod.bad", sub.UnacknowledgedTasks)
		}
		if len(sub.UnacknowledgedUpdates) != 1 || string(sub.UnacknowledgedUpdates[0].Status.UUID) != string(failed.UUID) {
			t.Errorf("unacknowledged updates = %v, want the TASK_FAILED update", sub.UnacknowledgedUpdates)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not resubscribe")
	}
}

// TestMalformedEventsAreIgnored: events whose body is missing (garbage from
// the agent) are logged and skipped; the executor keeps serving.
func TestMalformedEventsAreIgnored(t *testing.T) {
	a := newTestAgent(t)
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	for _, typ := range []mesosexec.Event_Type{mesosexec.Event_SUBSCRIBED, mesosexec.Event_LAUNCH,
		mesosexec.Event_LAUNCH_GROUP, mesosexec.Event_KILL, mesosexec.Event_ACKNOWLEDGED, mesosexec.Event_MESSAGE,
		mesosexec.Event_ERROR} {
		a.events <- mesosexec.Event{Type: typ}
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: "pod.after"}}}
	if u := a.nextUpdate(t); u.TaskID.Value != "pod.after" || u.GetState() != mesos.TASK_KILLED {
		t.Fatalf("update = %s %v, want pod.after TASK_KILLED", u.TaskID.Value, u.GetState())
	}
}
