package master_test

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// TestTaskIDReuseIsCounted: a framework that launches a task under the ID
// of one that ended gets it launched (Mesos refuses only the IDs of live
// and unreachable tasks) but the master warns and counts it in
// master/task_id_reuses; new IDs are not counted.
func TestTaskIDReuseIsCounted(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("reuse"))
	ei := testExecutor("exec-1")
	launch := func(id string) mesos.TaskStatus {
		t.Helper()
		o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskInfo(id, o, ei, "cpus:0.5;mem:128", ""))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
		return s.update(id, 8*time.Second)
	}
	reuses := func() float64 { return metrics(t, c.masterURL)["master/task_id_reuses"] }

	if st := launch("t1"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("t1: %v", st.GetState())
	}
	if n := reuses(); n != 0 {
		t.Fatalf("master/task_id_reuses = %v after a new ID", n)
	}
	s.mustCall(calls.Kill("t1", c.agent.ID()))
	if st := s.update("t1", 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("after KILL: %v", st.GetState())
	}
	waitFor(t, 5*time.Second, "t1 in completed_tasks", func() bool {
		task := c.taskState(t, s.fwID, "t1")
		return task != nil && task["state"] == "TASK_KILLED"
	})

	if st := launch("t1"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("t1 launched again: %v, want it running as in Mesos", st.GetState())
	}
	if n := reuses(); n != 1 {
		t.Fatalf("master/task_id_reuses = %v after reusing a terminal task's ID, want 1", n)
	}
	if st := launch("t2"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("t2: %v", st.GetState())
	}
	if n := reuses(); n != 1 {
		t.Fatalf("master/task_id_reuses = %v after a new ID, want still 1", n)
	}
}
