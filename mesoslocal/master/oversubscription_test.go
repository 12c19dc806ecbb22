package master_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// withEstimator gives the agent Mesos' fixed resource estimator with
// estimate and mesoslocal's QoS controller, both polled every 100 ms.
func withEstimator(estimate string) clusterOpt {
	return func(_ *master.Config, a *agent.Config) {
		a.ResourceEstimator = agent.FixedResourceEstimator
		a.ResourceEstimatorResources = estimate
		a.OversubscribedResourcesInterval = 100 * time.Millisecond
		a.QoSController = agent.EstimateQoSController
		a.QoSCorrectionIntervalMin = 100 * time.Millisecond
	}
}

func revocableFramework(name string, partitionAware bool) *mesos.FrameworkInfo {
	fi := frameworkInfo(name)
	fi.Capabilities = []mesos.FrameworkInfo_Capability{
		{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
		{Type: mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES},
	}
	if partitionAware {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE})
	}
	return fi
}

// revocableScalar sums the revocable scalar name of rs.
func revocableScalar(rs []mesos.Resource, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.Name == name && r.IsRevocable() {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

// nonRevocableScalar sums the non-revocable scalar name of rs.
func nonRevocableScalar(rs []mesos.Resource, name string) float64 {
	return scalar(rs, name) - revocableScalar(rs, name)
}

// offerWithRevocable waits for an offer with revocable cpus, declining
// the others without a filter so that their resources come back.
func (s *sched) offerWithRevocable(timeout time.Duration) mesos.Offer {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		offers := s.next(scheduler.Event_OFFERS, time.Until(deadline)).Offers.Offers
		for i, o := range offers {
			if revocableScalar(o.Resources, "cpus") > 0 {
				s.declineNow(append(offers[:i:i], offers[i+1:]...))
				return o
			}
		}
		s.declineNow(offers)
	}
}

// commandTask is a `sleep` command task on the offer's agent using rs.
func commandTask(id string, o mesos.Offer, rs ...mesos.Resource) mesos.TaskInfo {
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
	}
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs,
		Command: &mesos.CommandInfo{Value: ptr("sleep 1000")}}
}

func scalarRes(name string, v float64, revocable bool) mesos.Resource {
	r := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}, Role: ptr("*")}
	if revocable {
		r.Revocable = &mesos.Resource_RevocableInfo{}
	}
	return r
}

// TestRevocableOffersOnlyToCapableFrameworks: the fixed estimator's
// resources reach the master (state, GET_AGENTS, metrics), a framework
// without REVOCABLE_RESOURCES never sees them, one with it gets them in the
// same offer as the agent's regular resources.
func TestRevocableOffersOnlyToCapableFrameworks(t *testing.T) {
	c := startCluster(t, withEstimator("cpus:4;mem:1024"))
	waitFor(t, 5*time.Second, "the estimate in /master/state", func() bool {
		return agentState(t, c)["resources"].(map[string]any)["cpus_revocable"] == 4.0
	})
	ag := agentState(t, c)
	if res := ag["resources"].(map[string]any); res["cpus"] != 2.0 || res["mem_revocable"] != 1024.0 {
		t.Fatalf("/master/state resources = %v, want cpus 2, cpus_revocable 4, mem_revocable 1024", res)
	}
	agents := operatorProto(t, c, opv1.Call_GET_AGENTS).GetAgents.Agents
	if tr := agents[0].TotalResources; revocableScalar(tr, "cpus") != 4 || nonRevocableScalar(tr, "cpus") != 2 {
		t.Fatalf("GET_AGENTS total_resources = %v, want 2 cpus and 4 revocable cpus", mesos.Resources(tr))
	}
	metrics := metrics(t, c.masterURL)
	if metrics["master/cpus_total"] != 2.0 || metrics["master/cpus_revocable_total"] != 4.0 || metrics["master/messages_update_slave"] < 1 {
		t.Fatalf("metrics cpus_total %v cpus_revocable_total %v messages_update_slave %v, want 2, 4, ≥1",
			metrics["master/cpus_total"], metrics["master/cpus_revocable_total"], metrics["master/messages_update_slave"])
	}

	plain := subscribe(t, c, frameworkInfo("plain"))
	got := 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) || got == 0; {
		offers := plain.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers
		for _, o := range offers {
			if revocableScalar(o.Resources, "cpus")+revocableScalar(o.Resources, "mem") > 0 {
				t.Fatalf("framework without REVOCABLE_RESOURCES got revocable resources: %v", mesos.Resources(o.Resources))
			}
			if scalar(o.Resources, "cpus") != 2 {
				t.Fatalf("offer %v, want the agent's 2 regular cpus", mesos.Resources(o.Resources))
			}
		}
		got += len(offers)
		plain.declineNow(offers)
	}
	plain.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})

	rev := subscribe(t, c, revocableFramework("rev", true))
	o := rev.offerWithRevocable(5 * time.Second)
	if revocableScalar(o.Resources, "cpus") != 4 || revocableScalar(o.Resources, "mem") != 1024 || nonRevocableScalar(o.Resources, "cpus") != 2 || nonRevocableScalar(o.Resources, "mem") != 4096 {
		t.Fatalf("offer %v, want the regular cpus:2;mem:4096 and the revocable cpus:4;mem:1024 in one offer", mesos.Resources(o.Resources))
	}
	if off := agentState(t, c)["offered_resources"].(map[string]any); off["cpus_revocable"] != 4.0 {
		t.Fatalf("/master/state offered_resources = %v, want cpus_revocable 4", off)
	}
}

// TestNewEstimateRescindsRevocableOffers: a larger or a smaller estimate
// rescinds the outstanding offer holding revocable resources, and the next
// offer carries the new estimate, as Mesos'
// RescindRevocableOfferWith{In,De}creasedRevocable.
func TestNewEstimateRescindsRevocableOffers(t *testing.T) {
	c := startCluster(t, withEstimator("cpus:2"))
	s := subscribe(t, c, revocableFramework("rev", true))
	o := s.offerWithRevocable(5 * time.Second)
	for _, tc := range []struct {
		estimate string
		want     float64
	}{{"cpus:3", 3}, {"cpus:1", 1}} {
		if err := c.agent.SetResourceEstimate(tc.estimate); err != nil {
			t.Fatal(err)
		}
		if got := s.next(scheduler.Event_RESCIND, 5*time.Second).Rescind.OfferID; got != o.ID {
			t.Fatalf("estimate %s: rescinded %s, want the revocable offer %s", tc.estimate, got.Value, o.ID.Value)
		}
		o = s.offerWithRevocable(5 * time.Second)
		if got := revocableScalar(o.Resources, "cpus"); got != tc.want {
			t.Fatalf("estimate %s: offer has %v revocable cpus, want %v", tc.estimate, got, tc.want)
		}
	}
}

// TestNewEstimateAllocatesTheAgentAtOnce: a new estimate is offered
// without waiting for the next allocation cycle (here an hour away), as
// Mesos' allocator allocates an agent whose total changed.
func TestNewEstimateAllocatesTheAgentAtOnce(t *testing.T) {
	c := startCluster(t, withEstimator("cpus:2"), func(m *master.Config, _ *agent.Config) { m.AllocationInterval = time.Hour })
	s := subscribe(t, c, revocableFramework("rev", true))
	if err := c.agent.SetResourceEstimate("cpus:3"); err != nil {
		t.Fatal(err)
	}
	// An offer of the registration's estimate may come first, if the agent
	// reported it after the framework subscribed.
	o := s.offerWithRevocable(5 * time.Second)
	if revocableScalar(o.Resources, "cpus") == 2 {
		o = s.offerWithRevocable(5 * time.Second)
	}
	if revocableScalar(o.Resources, "cpus") != 3 || nonRevocableScalar(o.Resources, "cpus") != 2 {
		t.Fatalf("offer %v, want the agent's 2 cpus and the new estimate's 3 revocable cpus", mesos.Resources(o.Resources))
	}
}

// TestQoSCorrectionKillsRevocableTasks: a task on revocable cpus runs; when
// the estimate shrinks below what it uses the QoS controller kills it with
// TASK_GONE (PARTITION_AWARE) or TASK_LOST, REASON_CONTAINER_PREEMPTED,
// SOURCE_AGENT, as Mesos' agent does; a task on regular resources of the
// same agent keeps running.
func TestQoSCorrectionKillsRevocableTasks(t *testing.T) {
	for _, tc := range []struct {
		name           string
		partitionAware bool
		want           mesos.TaskState
	}{{"partition-aware", true, mesos.TASK_GONE}, {"not partition-aware", false, mesos.TASK_LOST}} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, withEstimator("cpus:2"))
			s := subscribe(t, c, revocableFramework("rev", tc.partitionAware))
			o := s.offerWithRevocable(5 * time.Second)
			revTask := commandTask("on-revocable", o, scalarRes("cpus", 1, true), scalarRes("mem", 32, false))
			regTask := commandTask("on-regular", o, scalarRes("cpus", 0.5, false), scalarRes("mem", 32, false))
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(revTask, regTask)}.WithOffers(o.ID)))
			s.Running(10*time.Second, "on-revocable", "on-regular")
			if used := agentState(t, c)["used_resources"].(map[string]any); used["cpus_revocable"] != 1.0 || used["cpus"] != 0.5 {
				t.Fatalf("/master/state used_resources = %v, want cpus 0.5 and cpus_revocable 1", used)
			}

			// Still covered: nothing is killed.
			if err := c.agent.SetResourceEstimate("cpus:1"); err != nil {
				t.Fatal(err)
			}
			s.none(scheduler.Event_UPDATE, 500*time.Millisecond)

			if err := c.agent.SetResourceEstimate("cpus:0.5"); err != nil {
				t.Fatal(err)
			}
			st := s.update("on-revocable", 5*time.Second)
			if st.GetState() != tc.want || st.GetReason() != mesos.REASON_CONTAINER_PREEMPTED || st.GetSource() != mesos.SOURCE_AGENT || st.GetMessage() != agent.MessageQoSPreempted {
				t.Fatalf("revocable task: %s %s %s %q, want %s REASON_CONTAINER_PREEMPTED SOURCE_AGENT %q",
					st.GetState(), st.GetReason(), st.GetSource(), st.GetMessage(), tc.want, agent.MessageQoSPreempted)
			}
			s.none(scheduler.Event_UPDATE, time.Second)
			if task := c.taskState(t, s.fwID, "on-regular"); task["state"] != "TASK_RUNNING" {
				t.Fatalf("regular task after the correction: %v", task)
			}
			if task := c.taskState(t, s.fwID, "on-revocable"); task["state"] != tc.want.String() {
				t.Fatalf("revocable task in /master/state: %v, want %s", task["state"], tc.want)
			}
		})
	}
}

// TestRevocableResourcesCannotBeReservedOrHoldVolumes: RESERVE of revocable
// resources and CREATE of a volume on revocable disk are refused (dropped,
// nothing changes), as Mesos' operation validation does; a task mixing
// revocable and regular cpus gets TASK_ERROR.
func TestRevocableResourcesCannotBeReservedOrHoldVolumes(t *testing.T) {
	c := startCluster(t, withEstimator("cpus:2;disk:500"))
	fi := revocableFramework("rev", true)
	fi.Principal = ptr("p-rev")
	s := subscribe(t, c, fi)
	o := s.offerWithRevocable(5 * time.Second)
	role := o.AllocationInfo.GetRole()

	reserve := scalarRes("cpus", 1, true)
	reserve.Role = ptr(role)
	reserve.Reservation = &mesos.Resource_ReservationInfo{Principal: ptr("p-rev")}
	reserve.AllocationInfo = o.AllocationInfo
	vol := scalarRes("disk", 100, true)
	vol.Role = ptr(role)
	vol.Reservation = &mesos.Resource_ReservationInfo{Principal: ptr("p-rev")}
	vol.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "v1", Principal: ptr("p-rev")},
		Volume: &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()}}
	vol.AllocationInfo = o.AllocationInfo
	mixed := commandTask("mixed", o, scalarRes("cpus", 0.5, true), scalarRes("cpus", 0.5, false))
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpReserve(reserve), calls.OpCreate(vol), calls.OpLaunch(mixed)}.WithOffers(o.ID)))

	st := s.update("mixed", 5*time.Second)
	if st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Fatalf("task mixing revocable and regular cpus: %s %s %s, want TASK_ERROR REASON_TASK_INVALID", st.GetState(), st.GetReason(), st.GetMessage())
	}
	ag := agentState(t, c)
	if res := ag["reserved_resources"].(map[string]any); len(res) != 0 {
		t.Fatalf("reserved_resources = %v after reserving revocable resources, want none", res)
	}
	if res := ag["resources"].(map[string]any); res["cpus_revocable"] != 2.0 || res["disk_revocable"] != 500.0 {
		t.Fatalf("resources = %v, want the whole estimate still unreserved", res)
	}
	agents := operatorProto(t, c, opv1.Call_GET_AGENTS).GetAgents.Agents
	for _, r := range agents[0].TotalResources {
		if r.IsRevocable() && (r.GetDisk().GetPersistence() != nil || len(r.Reservations) > 0 || r.Reservation != nil || r.GetRole() != "*") {
			t.Fatalf("GET_AGENTS total_resources has a reserved revocable resource or volume: %v", mesos.Resources{r})
		}
	}
}

// TestOversubscribedReportValidation: the master refuses a report of
// non-revocable resources (400) and one from an unknown agent (404).
func TestOversubscribedReportValidation(t *testing.T) {
	c := startCluster(t)
	regular := scalarRes("cpus", 1, false)
	revocable := scalarRes("cpus", 1, true)
	reserved := scalarRes("cpus", 1, true)
	reserved.Role = ptr("db")
	disk := scalarRes("disk", 10, true)
	disk.Disk = &mesos.Resource_DiskInfo{Source: &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_PATH, Path: &mesos.Resource_DiskInfo_Source_Path{Root: ptr("/mnt")}}}
	for _, tc := range []struct {
		name    string
		agentID string
		res     mesos.Resource
		want    int
	}{
		{"not revocable", c.agent.ID(), regular, http.StatusBadRequest},
		{"reserved", c.agent.ID(), reserved, http.StatusBadRequest},
		{"disk info", c.agent.ID(), disk, http.StatusBadRequest},
		{"unknown agent", "no-such-agent", revocable, http.StatusNotFound},
		{"valid", c.agent.ID(), revocable, http.StatusAccepted},
	} {
		body, _ := json.Marshal(link.Oversubscribed{AgentID: tc.agentID, Resources: [][]byte{link.Marshal(&tc.res)}})
		resp, err := http.Post(c.masterURL+link.PathOversubscribed, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
	if res := agentState(t, c)["resources"].(map[string]any); res["cpus_revocable"] != 1.0 || res["cpus"] != 2.0 {
		t.Fatalf("resources after the reports = %v, want only the valid one applied", res)
	}
}

// TestEstimateForwardedAfterMasterRestart: a restarted master knows no
// oversubscribed resources until the agent re-registers, and the agent
// reports its unchanged estimate again then, as Mesos' agent forwards it on
// every (re-)registration.
func TestEstimateForwardedAfterMasterRestart(t *testing.T) {
	c := startCluster(t, withEstimator("cpus:4"))
	revocableCPUs := func() any { return agentStateOrNil(t, c)["cpus_revocable"] }
	waitFor(t, 5*time.Second, "the estimate in /master/state", func() bool { return revocableCPUs() == 4.0 })
	c.restartMaster(t, c.masterURL[len("http://"):])
	waitFor(t, 10*time.Second, "the estimate in the restarted master's /master/state", func() bool { return revocableCPUs() == 4.0 })
}

// agentStateOrNil is the resources of the first agent in /master/state,
// nil while none is registered.
func agentStateOrNil(t *testing.T, c *cluster) map[string]any {
	t.Helper()
	slaves, _ := c.state(t)["slaves"].([]any)
	if len(slaves) == 0 {
		return nil
	}
	return slaves[0].(map[string]any)["resources"].(map[string]any)
}
