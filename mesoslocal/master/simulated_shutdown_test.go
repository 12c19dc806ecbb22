package master_test

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// Simulated agents obey the master's shutdown like real agents: after
// MARK_AGENT_GONE the agent drops its tasks and registers afresh under a
// new ID; after START_MAINTENANCE it is refused while its machine is DOWN
// and comes back under a new ID after STOP_MAINTENANCE.
func TestSimulatedAgentsHandleShutdown(t *testing.T) {
	c, sim := startSimCluster(t, master.Config{}, 2, "cpus:2;mem:4096")
	s := &eventLog{sched: subscribe(t, c, frameworkInfo("sim-shutdown"))}
	ids := sim.IDs()
	byHost := map[string]mesos.Offer{}
	for len(byHost) < 2 {
		for _, o := range s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers {
			byHost[o.Hostname] = o
		}
	}
	o := byHost["simhost-sim0"]
	if o.AgentID.Value != ids[0] {
		t.Fatalf("simhost-sim0 offered as %s, IDs %v", o.AgentID.Value, ids)
	}
	ti := taskInfo("doomed", o, nil, "cpus:1;mem:128", "")
	ti.Command = &mesos.CommandInfo{Value: ptr("sleep 600")}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	if seen, _ := s.updatesUntil(5*time.Second, map[mesos.TaskState]bool{mesos.TASK_RUNNING: true}, "doomed"); !statesEqual(seen["doomed"], mesos.TASK_STARTING, mesos.TASK_RUNNING) {
		t.Fatalf("doomed: %v", seen["doomed"])
	}

	mustOperator(t, c, &opv1.Call{Type: opv1.Call_MARK_AGENT_GONE, MarkAgentGone: &opv1.Call_MarkAgentGone{AgentID: mesos.AgentID{Value: ids[0]}}})
	if seen, _ := s.updatesUntil(5*time.Second, nil, "doomed"); !statesEqual(seen["doomed"], mesos.TASK_GONE_BY_OPERATOR) {
		t.Fatalf("doomed after MARK_AGENT_GONE: %v", seen["doomed"])
	}
	waitFor(t, 5*time.Second, "simhost-sim0 registered under a new ID", func() bool {
		id := sim.IDs()[0]
		return id != "" && id != ids[0]
	})
	fresh := sim.IDs()[0]
	// The fresh agent runs nothing, and it is offered whole.
	waitFor(t, 5*time.Second, "an offer of the fresh simhost-sim0", func() bool {
		for _, o := range s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers {
			if o.AgentID.Value == fresh {
				return scalar(o.Resources, "cpus") == 2
			}
		}
		return false
	})
	if st := c.taskState(t, s.fwID, "doomed"); st != nil && st["state"] != "TASK_GONE_BY_OPERATOR" {
		t.Errorf("doomed came back: %v", st)
	}

	sim1 := mesos.MachineID{Hostname: ptr("simhost-sim1")}
	mustOperator(t, c, scheduleCall(time.Now(), time.Hour, sim1))
	mustOperator(t, c, &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{sim1}}})
	waitFor(t, 5*time.Second, "simhost-sim1 forgot its ID", func() bool { return sim.IDs()[1] == "" })
	// Refused while DOWN: it stays unregistered (and keeps trying).
	time.Sleep(500 * time.Millisecond)
	if id := sim.IDs()[1]; id != "" {
		t.Fatalf("simhost-sim1 registered as %s while its machine is DOWN", id)
	}
	mustOperator(t, c, &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{sim1}}})
	waitFor(t, 5*time.Second, "simhost-sim1 back under a new ID", func() bool {
		id := sim.IDs()[1]
		return id != "" && id != ids[1]
	})
}
