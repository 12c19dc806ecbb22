package master_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// startSimCluster runs a master and n simulated agents with res each.
func startSimCluster(t *testing.T, mcfg master.Config, n int, res string) (*cluster, *agent.Simulated) {
	t.Helper()
	if mcfg.AllocationInterval == 0 {
		mcfg.AllocationInterval = 50 * time.Millisecond
	}
	mcfg.Hostname = "localhost"
	mcfg.HeartbeatInterval = time.Second
	m := mesostest.StartMaster(t, mcfg)
	c := &cluster{t: t, master: m.Master, masterURL: m.URL}
	sim, err := agent.NewSimulated(agent.SimulatedConfig{
		Master: m.Addr, Hostname: "simhost", Count: n, Resources: res,
		RegistrationBackoff: 100 * time.Millisecond, StatusUpdateRetryInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	aln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- sim.Serve(ctx, aln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-adone:
			if err != nil {
				t.Errorf("simulated agents: %v", err)
			}
		case <-time.After(mesostest.StopTimeout):
			t.Errorf("simulated agents did not stop")
		}
	})
	select {
	case <-sim.Registered():
	case <-time.After(30 * time.Second):
		t.Fatalf("%d simulated agents did not register", n)
	}
	return c, sim
}

func roleFramework(name string, caps []mesos.FrameworkInfo_Capability_Type, roles ...string) *mesos.FrameworkInfo {
	info := frameworkInfo(name)
	info.Roles = roles
	info.Principal = ptr("p-" + name)
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return info
}

// greedy drives a framework that launches one task on every offer with
// all of the offer's cpus and mem, acknowledges updates and, with hold > 0,
// kills each task after about hold. It counts the cpus its running tasks
// hold.
type greedy struct {
	s       *sched
	hold    time.Duration
	mu      sync.Mutex
	running map[string]float64 // task → cpus
	maxCPUs float64
	offers  []mesos.Offer
	n       int
}

func startGreedy(t *testing.T, c *cluster, info *mesos.FrameworkInfo, hold time.Duration) *greedy {
	g := &greedy{s: subscribe(t, c, info), hold: hold, running: map[string]float64{}}
	go g.loop()
	return g
}

func (g *greedy) cpus() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var v float64
	for _, c := range g.running {
		v += c
	}
	return v
}

func (g *greedy) loop() {
	for e := range g.s.events {
		switch e.Type {
		case scheduler.Event_OFFERS:
			for _, o := range e.Offers.Offers {
				g.mu.Lock()
				g.offers = append(g.offers, o)
				g.n++
				id := fmt.Sprintf("%s-t%d", g.s.fwID, g.n)
				g.mu.Unlock()
				var rs mesos.Resources
				for _, r := range o.Resources {
					if r.Name == "cpus" || r.Name == "mem" {
						rs = append(rs, r)
					}
				}
				ti := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs,
					Command: &mesos.CommandInfo{Value: ptr("sleep 1000")}}
				g.mu.Lock()
				g.running[id] = scalar(rs, "cpus")
				if v := g.sumLocked(); v > g.maxCPUs {
					g.maxCPUs = v
				}
				g.mu.Unlock()
				_ = g.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
			}
		case scheduler.Event_UPDATE:
			st := e.Update.Status
			if len(st.UUID) > 0 {
				_ = g.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
			}
			switch {
			case st.GetState() == mesos.TASK_RUNNING && g.hold > 0:
				d := g.hold/2 + time.Duration(rand.Int64N(int64(g.hold)))
				id, agentID := st.TaskID.Value, st.GetAgentID().GetValue()
				time.AfterFunc(d, func() { _ = g.call(calls.Kill(id, agentID)) })
			case isTerminal(st.GetState()):
				g.mu.Lock()
				delete(g.running, st.TaskID.Value)
				g.mu.Unlock()
			}
		}
	}
}

func (g *greedy) sumLocked() float64 {
	var v float64
	for _, c := range g.running {
		v += c
	}
	return v
}

func (g *greedy) call(c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: g.s.fwID}
	resp, err := g.s.caller.Call(context.Background(), c)
	if resp != nil {
		resp.Close()
	}
	return err
}

func (g *greedy) killAll() {
	g.mu.Lock()
	ids := make([]string, 0, len(g.running))
	for id := range g.running {
		ids = append(ids, id)
	}
	g.mu.Unlock()
	for _, id := range ids {
		_ = g.call(calls.Kill(id, ""))
	}
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE:
		return true
	}
	return false
}

// Two frameworks in roles weighted 1 and 3 compete for 40 one-cpu agents;
// their tasks hold an agent for a while and are killed, so the agents are
// re-allocated over and over. The time-averaged cpu shares must be 1:3.
func TestWeightedDRFSharesUnderContention(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{Weights: map[string]float64{"light": 1, "heavy": 3}}, 40, "cpus:1;mem:1024;disk:1000")
	light := startGreedy(t, c, roleFramework("light", nil, "light"), 300*time.Millisecond)
	heavy := startGreedy(t, c, roleFramework("heavy", nil, "heavy"), 300*time.Millisecond)
	time.Sleep(time.Second) // warm up
	var sumL, sumH float64
	samples := 0
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		sumL += light.cpus()
		sumH += heavy.cpus()
		samples++
	}
	avgL, avgH := sumL/float64(samples), sumH/float64(samples)
	ratio := avgH / avgL
	t.Logf("average cpus over %d samples: light %.2f heavy %.2f, ratio %.3f (want 3)", samples, avgL, avgH, ratio)
	if avgL+avgH < 30 {
		t.Errorf("the cluster was not under contention: %.1f of 40 cpus used on average", avgL+avgH)
	}
	if math.Abs(ratio-3)/3 > 0.10 {
		t.Errorf("cpu share ratio heavy/light = %.3f, want 3 within 10%%", ratio)
	}
}

// A greedy framework may not eat into the headroom held for an unsatisfied
// quota guarantee; the quota role gets its guarantee when it arrives and
// never more than its limit.
func TestQuotaGuaranteeAndLimit(t *testing.T) {
	quotas := map[string]master.Quota{"q": {Guarantees: map[string]float64{"cpus": 4}, Limits: map[string]float64{"cpus": 5}}}
	c, _ := startSimCluster(t, master.Config{Quotas: quotas}, 10, "cpus:1;mem:1024;disk:1000")
	g := startGreedy(t, c, roleFramework("greedy", nil, "g"), 0)
	waitFor(t, 5*time.Second, "greedy framework to hold 6 cpus", func() bool { return g.cpus() == 6 })
	time.Sleep(500 * time.Millisecond)
	if v := g.cpus(); v != 6 {
		t.Fatalf("greedy framework holds %.1f cpus, want 6 (4 held back for the guarantee)", v)
	}
	q := startGreedy(t, c, roleFramework("quota", nil, "q"), 0)
	waitFor(t, 5*time.Second, "quota role to get its guarantee", func() bool { return q.cpus() == 4 })
	// Free two greedy cpus: the quota role may take one more (limit 5), the
	// other goes back to the greedy role.
	g.mu.Lock()
	var victims []string
	for id, cpus := range g.running {
		// Tasks with cpus: the greedy role also holds the mem of the agents
		// kept back for the quota role (quota guarantees only cpus).
		if cpus == 1 && len(victims) < 2 {
			victims = append(victims, id)
		}
	}
	g.mu.Unlock()
	for _, id := range victims {
		_ = g.call(calls.Kill(id, ""))
	}
	waitFor(t, 5*time.Second, "freed cpus to be re-allocated", func() bool { return q.cpus()+g.cpus() == 10 })
	time.Sleep(500 * time.Millisecond)
	q.mu.Lock()
	maxQ := q.maxCPUs
	q.mu.Unlock()
	if q.cpus() != 5 || maxQ > 5 {
		t.Errorf("quota role holds %.1f cpus (max %.1f), want 5 = its limit", q.cpus(), maxQ)
	}
	if g.cpus() != 5 {
		t.Errorf("greedy role holds %.1f cpus, want 5", g.cpus())
	}
}

// offerRoles collects the allocation roles of offers arriving within d,
// declining each with refuse_seconds.
func offerRoles(s *sched, d time.Duration, refuse float64) map[string]int {
	out := map[string]int{}
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return out
			}
			if e.Type != scheduler.Event_OFFERS {
				continue
			}
			for _, o := range e.Offers.Offers {
				out[o.GetAllocationInfo().GetRole()]++
				s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(time.Duration(refuse * float64(time.Second)))))
			}
		case <-deadline:
			return out
		}
	}
}

func TestFiltersAndSuppressReviveByRole(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{}, 1, "cpus:2;mem:2048;disk:1000")
	s := subscribe(t, c, roleFramework("multi", nil, "a", "b"))
	// Declining with a long filter keeps the agent away from that role only.
	got := offerRoles(s, 500*time.Millisecond, 60)
	if got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("offers by role %v, want both a and b", got)
	}
	if got := offerRoles(s, 500*time.Millisecond, 60); len(got) != 0 {
		t.Fatalf("offers %v while both roles are filtered", got)
	}
	// REVIVE of one role clears its filter only.
	s.mustCall(calls.ReviveWith([]string{"a"}))
	got = offerRoles(s, 500*time.Millisecond, 60)
	if got["a"] != 1 || got["b"] != 0 {
		t.Fatalf("after REVIVE a: offers by role %v, want one for a", got)
	}
	// SUPPRESS a, REVIVE b: only b is offered.
	s.mustCall(calls.SuppressWith([]string{"a"}))
	s.mustCall(calls.ReviveWith([]string{"b"}))
	got = offerRoles(s, 500*time.Millisecond, 0.1)
	if got["a"] != 0 || got["b"] == 0 {
		t.Fatalf("with a suppressed: offers by role %v, want b only", got)
	}
	// SUPPRESS all roles: nothing even without filters.
	s.mustCall(calls.Suppress())
	// An offer made before the SUPPRESS may still be on its way: decline
	// what comes at first (without a filter), then nothing may come.
	offerRoles(s, 300*time.Millisecond, 0)
	if got := offerRoles(s, 500*time.Millisecond, 0); len(got) != 0 {
		t.Fatalf("offers %v while suppressed", got)
	}
	s.mustCall(calls.Revive())
	got = offerRoles(s, 500*time.Millisecond, 0.1)
	if got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("after REVIVE: offers by role %v, want both", got)
	}
}

func TestOfferRescindedAfterOfferTimeout(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{OfferTimeout: 300 * time.Millisecond}, 1, "cpus:2;mem:2048;disk:1000")
	s := subscribe(t, c, roleFramework("slow", nil, "r"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	start := time.Now()
	e := s.next(scheduler.Event_RESCIND, 5*time.Second)
	if e.Rescind.OfferID.Value != o.ID.Value {
		t.Fatalf("rescinded %s, want %s", e.Rescind.OfferID.Value, o.ID.Value)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("rescind took %s with offer_timeout 300ms", d)
	}
	// The rescinded offer is void; the resources come back in a new offer.
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskInfo("late", o, nil, "cpus:1;mem:128", ""))}.WithOffers(o.ID)))
	if st := s.update("late", 5*time.Second); st.GetState() != mesos.TASK_DROPPED || st.GetReason() != mesos.REASON_INVALID_OFFERS {
		t.Errorf("launch on a rescinded offer: %s %s, want TASK_DROPPED REASON_INVALID_OFFERS", st.GetState(), st.GetReason())
	}
	o2 := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	if o2.ID.Value == o.ID.Value || scalar(o2.Resources, "cpus") != 2 {
		t.Errorf("re-offer %s with %v", o2.ID.Value, o2.Resources)
	}
}
