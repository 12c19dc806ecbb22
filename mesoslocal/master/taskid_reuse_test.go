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
	// Offers that arrive while the test waits for an update are kept for
	// the next launch, not skipped.
	var offers []mesos.Offer
	event := func(what string) *scheduler.Event {
		t.Helper()
		select {
		case e := <-s.events:
			if e.GetType() == scheduler.Event_OFFERS {
				offers = append(offers, e.GetOffers().GetOffers()...)
			}
			return e
		case <-time.After(8 * time.Second):
			t.Fatalf("no %s within 8s", what)
			return nil
		}
	}
	update := func(id string) mesos.TaskStatus {
		t.Helper()
		for {
			e := event("update of " + id)
			if e.GetType() != scheduler.Event_UPDATE {
				continue
			}
			st := e.GetUpdate().GetStatus()
			if len(st.UUID) > 0 {
				s.mustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
			}
			if st.TaskID.Value == id {
				return st
			}
		}
	}
	launch := func(ids ...string) {
		t.Helper()
		for len(offers) == 0 {
			event("an offer")
		}
		o := offers[0]
		offers = offers[1:]
		var tis []mesos.TaskInfo
		for _, id := range ids {
			tis = append(tis, taskInfo(id, o, ei, "cpus:0.5;mem:128", ""))
		}
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tis...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
		for _, id := range ids {
			if st := update(id); st.GetState() != mesos.TASK_RUNNING {
				t.Fatalf("%s: %v, want it running (Mesos launches it)", id, st.GetState())
			}
		}
	}
	reuses := func() float64 { return metrics(t, c.masterURL)["master/task_id_reuses"] }

	launch("t1")
	if n := reuses(); n != 0 {
		t.Fatalf("master/task_id_reuses = %v after a new ID", n)
	}
	s.mustCall(calls.Kill("t1", c.agent.ID()))
	if st := update("t1"); st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("after KILL: %v", st.GetState())
	}
	waitFor(t, 5*time.Second, "t1 in completed_tasks", func() bool {
		task := c.taskState(t, s.fwID, "t1")
		return task != nil && task["state"] == "TASK_KILLED"
	})

	launch("t1", "t2") // the ID of the ended t1 again, and a new one
	if n := reuses(); n != 1 {
		t.Fatalf("master/task_id_reuses = %v after reusing one terminal task's ID and a new ID, want 1", n)
	}
}
