package master_test

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// A restarted master learns the agent's running tasks back when the agent
// re-registers, and a framework re-subscribing with its ID finds them.
func TestAgentSurvivesMasterRestart(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("restart"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ti := taskInfo("keep", o, testExecutor("exec-keep"), "cpus:0.5;mem:64", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	if st := s.update("keep", 8*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	agentID, fwID := c.agent.ID(), s.fwID
	addr := c.masterURL[len("http://"):]

	c.restartMaster(t, addr)
	s.cancel()

	info := frameworkInfo("restart")
	info.ID = &mesos.FrameworkID{Value: fwID}
	s2 := subscribe(t, c, info)
	if s2.fwID != fwID {
		t.Fatalf("re-subscribed as %s, want %s", s2.fwID, fwID)
	}
	waitFor(t, 5*time.Second, "agent re-registration with its task", func() bool {
		task := c.taskState(t, fwID, "keep")
		return task != nil && task["state"] == "TASK_RUNNING" && task["slave_id"] == agentID
	})
	// The task's resources stay in use: the offer lacks them.
	off := s2.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	if cpus := scalar(off.Resources, "cpus"); cpus != 2-0.5-0.1 {
		t.Errorf("offer after restart has %v cpus, want 1.4", cpus)
	}
	s2.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"keep": agentID})))
	if st := s2.next(scheduler.Event_UPDATE, 3*time.Second).Update.Status; st.GetState() != mesos.TASK_RUNNING {
		t.Errorf("reconcile after restart: %v", st.GetState())
	}
	// The task can still be killed through the new master.
	s2.mustCall(calls.Kill("keep", agentID))
	if st := s2.update("keep", 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("kill after restart: %v", st.GetState())
	}
}

// restartMaster stops the cluster's master and starts a new one (new master
// ID, empty state) on the same address.
func (c *cluster) restartMaster(t *testing.T, addr string) {
	t.Helper()
	c.stopMaster()
	m := mesostest.StartMasterAt(t, addr, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	c.master, c.stopMaster = m.Master, m.Stop
}
