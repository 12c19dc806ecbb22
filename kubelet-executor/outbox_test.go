package kubeletexecutor

import (
	"fmt"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/client-go/kubernetes/fake"
)

// TestEndedTasksForgetsOldestPastTheBound: the memory of ended tasks keeps
// the newest maxEndedTasks; a task ended again (a new attempt under its ID)
// counts as new, and forget drops one at once.
func TestEndedTasksForgetsOldestPastTheBound(t *testing.T) {
	m := endedTasks{states: map[string]endedTask{}}
	for i := range maxEndedTasks {
		m.add(fmt.Sprintf("t%d", i), mesos.TASK_KILLED)
	}
	m.add("t0", mesos.TASK_FAILED) // t0 again: now the newest
	m.add("extra", mesos.TASK_FINISHED)
	if s, ok := m.get("t0"); !ok || s != mesos.TASK_FAILED {
		t.Errorf("t0 = %v %v, want its latest end TASK_FAILED", s, ok)
	}
	if _, ok := m.get("t1"); ok {
		t.Error("t1, the oldest, is still remembered past the bound")
	}
	if _, ok := m.get("t2"); !ok {
		t.Error("t2 forgotten, want only the oldest one gone")
	}
	if len(m.states) != maxEndedTasks {
		t.Errorf("%d remembered, want %d", len(m.states), maxEndedTasks)
	}
	m.forget("extra")
	if _, ok := m.get("extra"); ok {
		t.Error("forget kept the task")
	}
}

// TestUpdateRefusedByTheAgentGoesOutWithNextSubscribe: an UPDATE the agent
// refuses stays unacknowledged and is handed back in the next SUBSCRIBE, so
// no status is lost when the agent cannot take it.
func TestUpdateRefusedByTheAgentGoesOutWithNextSubscribe(t *testing.T) {
	a := newTestAgent(t)
	a.failUpdates = true
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	a.events <- launch("pod.bad", []byte("nope"))
	refused := a.nextUpdate(t)
	if refused.GetState() != mesos.TASK_FAILED {
		t.Fatalf("update = %v, want TASK_FAILED", refused.GetState())
	}
	a.drop <- struct{}{}
	select {
	case sub := <-a.subscribes:
		if len(sub.UnacknowledgedUpdates) != 1 || string(sub.UnacknowledgedUpdates[0].Status.UUID) != string(refused.UUID) {
			t.Errorf("unacknowledged updates = %v, want the refused TASK_FAILED", sub.UnacknowledgedUpdates)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not resubscribe")
	}
}
