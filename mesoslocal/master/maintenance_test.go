package master_test

import (
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosalloc "github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func machine() mesos.MachineID {
	return mesos.MachineID{Hostname: ptr("agent-1"), IP: ptr("127.0.0.1")}
}

func scheduleCall(start time.Time, d time.Duration, ids ...mesos.MachineID) *opv1.Call {
	return &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{
		Schedule: maintenance.Schedule{Windows: []maintenance.Window{{
			MachineIDs: ids,
			Unavailability: mesos.Unavailability{
				Start:    mesos.TimeInfo{Nanoseconds: start.UnixNano()},
				Duration: &mesos.DurationInfo{Nanoseconds: int64(d)},
			},
		}}},
	}}
}

func mustOperator(t *testing.T, c *cluster, call *opv1.Call) *opv1.Response {
	t.Helper()
	code, resp := operatorCall(t, c, call)
	if code != http.StatusOK {
		t.Fatalf("%s: HTTP %d", call.Type, code)
	}
	return resp
}

// A maintenance window makes the agent's machine DRAINING: offers carry the
// unavailability and the framework running there gets an inverse offer
// (rescinded when the schedule changes); its answer shows in the
// maintenance status; START_MAINTENANCE takes the machine DOWN (task gone,
// no offers) and STOP_MAINTENANCE brings the agent back.
func TestMaintenanceInverseOffersDownAndUp(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("maintained"))
	launchRunning(t, s, "m1", 0)
	agentID := c.agent.ID()

	start := time.Now().Add(time.Hour)
	mustOperator(t, c, scheduleCall(start, time.Hour, machine()))
	// The inverse offer and the re-made offer come in either order.
	var ios []mesos.InverseOffer
	var o *mesos.Offer
	deadline := time.After(5 * time.Second)
	for ios == nil || o == nil {
		select {
		case e := <-s.events:
			switch e.Type {
			case scheduler.Event_INVERSE_OFFERS:
				ios = e.InverseOffers.InverseOffers
			case scheduler.Event_OFFERS:
				for i := range e.Offers.Offers {
					if e.Offers.Offers[i].Unavailability != nil {
						o = &e.Offers.Offers[i]
					}
				}
			}
		case <-deadline:
			t.Fatalf("inverse offer %v, offer with unavailability %v", ios != nil, o != nil)
		}
	}
	if len(ios) != 1 || ios[0].GetAgentID().GetValue() != agentID || ios[0].Unavailability.Start.Nanoseconds != start.UnixNano() {
		t.Fatalf("inverse offers: %+v", ios)
	}
	first := ios[0].OfferID
	if o.Unavailability.Start.Nanoseconds != start.UnixNano() || o.Unavailability.GetDuration().GetNanoseconds() != int64(time.Hour) {
		t.Errorf("offer unavailability %+v", o.Unavailability)
	}

	// A new schedule rescinds the outstanding inverse offer and makes a new one.
	mustOperator(t, c, scheduleCall(start, 2*time.Hour, machine()))
	if id := s.next(scheduler.Event_RESCIND_INVERSE_OFFER, 5*time.Second).RescindInverseOffer.InverseOfferID; id != first {
		t.Errorf("rescinded %v, want %v", id, first)
	}
	ios = s.next(scheduler.Event_INVERSE_OFFERS, 5*time.Second).InverseOffers.InverseOffers
	if len(ios) != 1 || ios[0].Unavailability.GetDuration().GetNanoseconds() != int64(2*time.Hour) {
		t.Fatalf("inverse offers after the schedule change: %+v", ios)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT_INVERSE_OFFERS, AcceptInverseOffers: &scheduler.Call_AcceptInverseOffers{
		InverseOfferIDs: []mesos.OfferID{ios[0].OfferID},
		Filters:         &mesos.Filters{RefuseSeconds: ptr(3600.0)},
	}})
	waitFor(t, 5*time.Second, "ACCEPT in the maintenance status", func() bool {
		st := mustOperator(t, c, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_STATUS}).GetMaintenanceStatus.Status
		return len(st.DrainingMachines) == 1 && len(st.DrainingMachines[0].Statuses) == 1 &&
			st.DrainingMachines[0].Statuses[0].GetStatus() == mesosalloc.InverseOfferStatus_ACCEPT &&
			st.DrainingMachines[0].Statuses[0].FrameworkID.Value == s.fwID
	})
	sched := mustOperator(t, c, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_SCHEDULE}).GetMaintenanceSchedule.Schedule
	if len(sched.Windows) != 1 || sched.Windows[0].MachineIDs[0].GetHostname() != "agent-1" {
		t.Errorf("schedule %+v", sched)
	}

	mustOperator(t, c, &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{machine()}}})
	st := s.updateOf("m1", mesos.TASK_GONE_BY_OPERATOR, 5*time.Second)
	if st.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("source %v", st.GetSource())
	}
	status := mustOperator(t, c, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_STATUS}).GetMaintenanceStatus.Status
	if len(status.DownMachines) != 1 || len(status.DrainingMachines) != 0 {
		t.Errorf("status after START_MAINTENANCE: %+v", status)
	}
	s.none(scheduler.Event_OFFERS, time.Second)
	if n := len(c.state(t)["slaves"].([]any)); n != 0 {
		t.Errorf("%d agents registered while their machine is DOWN", n)
	}

	mustOperator(t, c, &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{machine()}}})
	back := s.offerWhere(5*time.Second, "the agent back", func(o mesos.Offer) bool { return o.AgentID.Value != agentID })
	if o := back; o.AgentID.Value == agentID || o.Unavailability != nil {
		t.Errorf("offer after STOP_MAINTENANCE from %s with unavailability %v", o.AgentID.Value, o.Unavailability)
	}
	if cpus := scalar(back.Resources, "cpus"); cpus != 2 {
		t.Errorf("offer after maintenance has %v cpus, want 2", cpus)
	}
}

// Invalid maintenance calls are refused with 400 and change nothing.
func TestMaintenanceBadCalls(t *testing.T) {
	c := startCluster(t)
	bad := []*opv1.Call{
		scheduleCall(time.Now(), time.Hour, mesos.MachineID{}),
		scheduleCall(time.Now(), time.Hour, machine(), machine()),
		scheduleCall(time.Now(), time.Hour, mesos.MachineID{IP: ptr("not-an-ip")}),
		{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{machine()}}},
		{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{machine()}}},
		{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{}},
		{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{}},
	}
	for _, call := range bad {
		if code, _ := operatorCall(t, c, call); code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", call.Type, code)
		}
	}
	if w := mustOperator(t, c, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_SCHEDULE}).GetMaintenanceSchedule.Schedule.Windows; len(w) != 0 {
		t.Errorf("schedule changed by bad calls: %+v", w)
	}
	// A DOWN machine cannot be dropped from the schedule.
	mustOperator(t, c, scheduleCall(time.Now(), time.Hour, machine()))
	mustOperator(t, c, &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{machine()}}})
	if code, _ := operatorCall(t, c, &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{}}); code != http.StatusBadRequest {
		t.Errorf("dropping a DOWN machine: HTTP %d, want 400", code)
	}
	// A machine listed twice, or with a malformed IP, is refused.
	for _, ids := range [][]mesos.MachineID{{machine(), machine()}, {{IP: ptr("not-an-ip")}}} {
		call := &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: ids}}
		if code, _ := operatorCall(t, c, call); code != http.StatusBadRequest {
			t.Errorf("STOP_MAINTENANCE of %v: HTTP %d, want 400", ids, code)
		}
	}
}

// A framework that only holds an offer of a DRAINING agent gets an inverse
// offer for it (Mesos' allocator counts offered resources as allocated),
// and a REVIVE clears the filter of its last answer, as in Mesos.
func TestMaintenanceInverseOfferForHeldOfferAndRevive(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("holder"))
	s.offerWhere(5*time.Second, "an offer", func(mesos.Offer) bool { return true })
	mustOperator(t, c, scheduleCall(time.Now(), time.Hour, machine()))
	ios := s.next(scheduler.Event_INVERSE_OFFERS, 5*time.Second).InverseOffers.InverseOffers
	if len(ios) != 1 || ios[0].GetAgentID().GetValue() != c.agent.ID() {
		t.Fatalf("inverse offers to a framework holding only an offer: %+v", ios)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_DECLINE_INVERSE_OFFERS, DeclineInverseOffers: &scheduler.Call_DeclineInverseOffers{
		InverseOfferIDs: []mesos.OfferID{ios[0].OfferID},
		Filters:         &mesos.Filters{RefuseSeconds: ptr(3600.0)},
	}})
	s.none(scheduler.Event_INVERSE_OFFERS, 1500*time.Millisecond)
	s.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE})
	if again := s.next(scheduler.Event_INVERSE_OFFERS, 5*time.Second).InverseOffers.InverseOffers; len(again) != 1 || again[0].OfferID == ios[0].OfferID {
		t.Fatalf("inverse offers after REVIVE: %+v", again)
	}
}

// A framework that subscribes again (failover) gets new inverse offers for
// the agents it had unanswered ones for: Mesos voids a framework's inverse
// offers with its connection, as it does its offers.
func TestMaintenanceInverseOffersVoidedOnFailover(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("failing-over"))
	launchRunning(t, s, "m1", 0)
	mustOperator(t, c, scheduleCall(time.Now(), time.Hour, machine()))
	first := s.next(scheduler.Event_INVERSE_OFFERS, 5*time.Second).InverseOffers.InverseOffers
	if len(first) != 1 {
		t.Fatalf("inverse offers %+v", first)
	}
	s.cancel()
	info := frameworkInfo("failing-over")
	info.ID = &mesos.FrameworkID{Value: s.fwID}
	again := subscribe(t, c, info)
	ios := again.next(scheduler.Event_INVERSE_OFFERS, 5*time.Second).InverseOffers.InverseOffers
	if len(ios) != 1 || ios[0].OfferID == first[0].OfferID || ios[0].GetAgentID().GetValue() != c.agent.ID() {
		t.Fatalf("inverse offers after the failover: %+v (before: %v)", ios, first[0].OfferID)
	}
}
