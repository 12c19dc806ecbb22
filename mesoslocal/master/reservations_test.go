package master_test

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// reservedRes is a dynamically reserved scalar in the pre-refinement format
// frameworks without RESERVATION_REFINEMENT use.
func reservedRes(name string, v float64, role, principal string, o mesos.Offer) mesos.Resource {
	return mesos.Resource{
		Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}, Role: ptr(role),
		Reservation:    &mesos.Resource_ReservationInfo{Principal: ptr(principal), Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "owner", Value: ptr("test")}}}},
		AllocationInfo: o.AllocationInfo,
	}
}

func volume(id string, v float64, role, principal string, o mesos.Offer) mesos.Resource {
	r := reservedRes("disk", v, role, principal, o)
	r.Disk = &mesos.Resource_DiskInfo{
		Persistence: &mesos.Resource_DiskInfo_Persistence{ID: id, Principal: ptr(principal)},
		Volume:      &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()},
	}
	return r
}

func hasReserved(rs []mesos.Resource) bool {
	for _, r := range rs {
		if (r.Role != nil && r.GetRole() != "*") || len(r.Reservations) > 0 || r.Reservation != nil || r.GetDisk().GetPersistence() != nil {
			return true
		}
	}
	return false
}

func findVolume(rs []mesos.Resource, id string) *mesos.Resource {
	for i := range rs {
		if rs[i].GetDisk().GetPersistence().GetID() == id {
			return &rs[i]
		}
	}
	return nil
}

func agentState(t *testing.T, c *cluster) map[string]any {
	t.Helper()
	return c.state(t)["slaves"].([]any)[0].(map[string]any)
}

func TestReservationAndVolumeReofferedToTheirRoleOnly(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{}, 1, "cpus:2;mem:2048;disk:1000")
	db := subscribe(t, c, roleFramework("db", nil, "db"))
	o := db.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	rs := []mesos.Resource{reservedRes("cpus", 1, "db", "p-db", o), reservedRes("mem", 256, "db", "p-db", o), reservedRes("disk", 100, "db", "p-db", o)}
	vol := volume("vol1", 100, "db", "p-db", o)
	ti := mesos.TaskInfo{Name: "db", TaskID: mesos.TaskID{Value: "db-1"}, AgentID: o.AgentID,
		Resources: []mesos.Resource{rs[0], rs[1], vol}, Command: &mesos.CommandInfo{Value: ptr("run-db")}}
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpReserve(rs...), calls.OpCreate(vol), calls.OpLaunch(ti)}.WithOffers(o.ID)))
	for {
		st := db.update("db-1", 5*time.Second)
		if st.GetState() == mesos.TASK_RUNNING {
			break
		}
		if st.GetState() != mesos.TASK_STARTING {
			t.Fatalf("task on the volume: %s %s", st.GetState(), st.GetMessage())
		}
	}
	ag := agentState(t, c)
	res := ag["reserved_resources"].(map[string]any)["db"].(map[string]any)
	if res["cpus"] != 1.0 || res["mem"] != 256.0 || res["disk"] != 100.0 {
		t.Fatalf("reserved_resources[db] = %v", res)
	}
	full := ag["reserved_resources_full"].(map[string]any)["db"].([]any)
	foundVol := false
	for _, x := range full {
		if d, ok := x.(map[string]any)["disk"].(map[string]any); ok && d["persistence"].(map[string]any)["id"] == "vol1" {
			foundVol = true
		}
	}
	if !foundVol {
		t.Fatalf("reserved_resources_full has no volume vol1: %v", full)
	}

	// Another role's framework never sees the reservation or the volume.
	other := subscribe(t, c, roleFramework("other", nil, "other"))
	otherDone := make(chan int)
	go func() {
		bad := 0
		deadline := time.After(3 * time.Second)
		for {
			select {
			case e := <-other.events:
				if e != nil && e.Type == scheduler.Event_OFFERS {
					for _, o := range e.Offers.Offers {
						if hasReserved(o.Resources) {
							bad++
						}
						_ = other.call(calls.Decline(o.ID).With(calls.RefuseSeconds(100 * time.Millisecond)))
					}
				}
			case <-deadline:
				otherDone <- bad
				return
			}
		}
	}()

	db.mustCall(calls.Kill("db-1", ""))
	if st := db.update("db-1", 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("kill: %s", st.GetState())
	}
	// The volume and the reserved cpus/mem come back to db.
	var back mesos.Offer
	waitFor(t, 10*time.Second, "the volume to be re-offered to its role", func() bool {
		select {
		case e := <-db.events:
			if e.Type != scheduler.Event_OFFERS {
				return false
			}
			for _, o := range e.Offers.Offers {
				if findVolume(o.Resources, "vol1") != nil {
					back = o
					return true
				}
				db.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(100 * time.Millisecond)))
			}
		default:
		}
		return false
	})
	v := findVolume(back.Resources, "vol1")
	if v.GetRole() != "db" || v.GetReservation().GetPrincipal() != "p-db" || v.GetDisk().GetVolume().GetContainerPath() != "data" {
		t.Errorf("re-offered volume %v", v)
	}
	var reservedCPUs float64
	for _, r := range back.Resources {
		if r.Name == "cpus" && r.GetRole() == "db" {
			reservedCPUs += r.GetScalar().GetValue()
		}
	}
	if reservedCPUs != 1 {
		t.Errorf("re-offer has %.1f reserved cpus, want 1: %v", reservedCPUs, back.Resources)
	}
	if bad := <-otherDone; bad > 0 {
		t.Errorf("the other role got %d offers with reserved resources or volumes", bad)
	}

	// DESTROY and UNRESERVE give the disk and cpus back to everyone.
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpDestroy(*v), calls.OpUnreserve(rs...)}.WithOffers(back.ID)))
	waitFor(t, 5*time.Second, "reservations to be gone", func() bool {
		return len(agentState(t, c)["reserved_resources"].(map[string]any)) == 0
	})
}

// Invalid operations are dropped with no state change; launches on used
// offers are TASK_DROPPED, oversized tasks TASK_ERROR.
func TestBadOperationsChangeNothing(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{}, 1, "cpus:2;mem:2048;disk:1000")
	s := subscribe(t, c, roleFramework("bad", nil, "r"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	notReserved := reservedRes("cpus", 1, "r", "p-bad", o)
	unreservedVol := mesos.Resource{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 100}, AllocationInfo: o.AllocationInfo,
		Disk: &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "v"}, Volume: &mesos.Volume{ContainerPath: "d", Mode: mesos.RW.Enum()}}}
	foreignRole := reservedRes("mem", 64, "someone-else", "p-bad", o)
	big := taskInfo("big", o, nil, "cpus:4;mem:128", "")
	big.Command = &mesos.CommandInfo{Value: ptr("true")}
	s.mustCall(calls.Accept(calls.OfferOperations{
		calls.OpUnreserve(notReserved), calls.OpCreate(unreservedVol), calls.OpReserve(foreignRole), calls.OpLaunch(big),
	}.WithOffers(o.ID)))
	if st := s.update("big", 5*time.Second); st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Errorf("oversized task: %s %s, want TASK_ERROR REASON_TASK_INVALID", st.GetState(), st.GetReason())
	}
	again := taskInfo("again", o, nil, "cpus:1;mem:128", "")
	again.Command = &mesos.CommandInfo{Value: ptr("true")}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(again)}.WithOffers(o.ID)))
	if st := s.update("again", 5*time.Second); st.GetState() != mesos.TASK_DROPPED || st.GetReason() != mesos.REASON_INVALID_OFFERS {
		t.Errorf("launch on a used offer: %s %s, want TASK_DROPPED REASON_INVALID_OFFERS", st.GetState(), st.GetReason())
	}
	ag := agentState(t, c)
	if n := len(ag["reserved_resources"].(map[string]any)); n != 0 {
		t.Errorf("reserved_resources after invalid operations: %v", ag["reserved_resources"])
	}
	if u := ag["unreserved_resources"].(map[string]any); u["cpus"] != 2.0 || u["disk"] != 1000.0 || u["mem"] != 2048.0 {
		t.Errorf("unreserved_resources after invalid operations: %v", u)
	}
	if n := len(c.taskState(t, s.fwID, "again")); n != 0 {
		t.Errorf("dropped task is known to the master: %v", c.taskState(t, s.fwID, "again"))
	}
	s.mustCall(calls.Revive())
	o2 := s.next(scheduler.Event_OFFERS, 10*time.Second).Offers.Offers[0]
	if hasReserved(o2.Resources) || scalar(o2.Resources, "cpus") != 2 {
		t.Errorf("offer after invalid operations: %v", o2.Resources)
	}
}

func TestSimulatedAgentsRegisterAndRunTasks(t *testing.T) {
	start := time.Now()
	// One cycle over 1000 agents takes tens of milliseconds (more with the
	// race detector): allocate every 500ms.
	c, sim := startSimCluster(t, master.Config{AllocationInterval: 500 * time.Millisecond}, 1000, "cpus:4;mem:8192;disk:10000;ports:[31000-32000]")
	took := time.Since(start)
	t.Logf("1000 simulated agents registered in %s", took)
	if took > 15*time.Second {
		t.Errorf("registration of 1000 agents took %s", took)
	}
	if n := c.state(t)["activated_slaves"]; n != 1000.0 {
		t.Fatalf("activated_slaves = %v", n)
	}
	hosts := map[string]bool{}
	for _, id := range sim.IDs() {
		if id == "" || hosts[id] {
			t.Fatalf("agent IDs not distinct: %q", id)
		}
		hosts[id] = true
	}
	s := subscribe(t, c, roleFramework("scale", nil, "scale"))
	var offers []mesos.Offer
	for len(offers) < 1000 {
		offers = append(offers, s.next(scheduler.Event_OFFERS, 10*time.Second).Offers.Offers...)
	}
	names := map[string]bool{}
	for _, o := range offers {
		names[o.Hostname] = true
	}
	if len(names) != 1000 || !names["simhost-sim0"] || !names["simhost-sim999"] {
		t.Fatalf("%d distinct hostnames", len(names))
	}
	t.Logf("%d offers after %s", len(offers), time.Since(start))
	const n = 200
	for i, o := range offers[:n] {
		ti := taskInfo("t"+itoa(i), o, nil, "cpus:1;mem:256", "")
		ti.Command = &mesos.CommandInfo{Value: ptr("true")}
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	}
	t.Logf("%d tasks launched after %s", n, time.Since(start))
	running := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(running) < n && time.Now().Before(deadline) {
		e := s.next(scheduler.Event_UPDATE, time.Until(deadline))
		st := e.Update.Status
		if len(st.UUID) > 0 {
			s.mustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		if st.GetState() == mesos.TASK_RUNNING {
			running[st.TaskID.Value] = true
		}
	}
	if len(running) != n {
		t.Fatalf("%d of %d tasks running", len(running), n)
	}
	s.mustCall(calls.Kill("t7", ""))
	if st := s.update("t7", 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("kill on a simulated agent: %s", st.GetState())
	}
	if ts := c.taskState(t, s.fwID, "t8"); ts["state"] != "TASK_RUNNING" {
		t.Errorf("t8 in master state: %v", ts)
	}
}
