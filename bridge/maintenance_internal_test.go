package bridge

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/k8sapi"
)

// fakeDrainer records what the scheduler asks of the drainer and returns
// the progress a test sets.
type fakeDrainer struct {
	drained, released []string
	events            []nodeEvent
	progress          map[string]k8sapi.DrainProgress
}

func (d *fakeDrainer) Drain(node string)   { d.drained = append(d.drained, node) }
func (d *fakeDrainer) Release(node string) { d.released = append(d.released, node) }
func (d *fakeDrainer) Progress(node string) (k8sapi.DrainProgress, bool) {
	p, ok := d.progress[node]
	return p, ok
}
func (d *fakeDrainer) NodeEvent(node, eventType, reason, msg string) {
	d.events = append(d.events, nodeEvent{node, eventType, reason, msg})
}

// agentView is a maintenanceView of one agent "a1" with pods pods, node
// task task and drain progress prog (nil: no pass yet).
func agentView(pods *int, task *string, prog *k8sapi.DrainProgress) maintenanceView {
	return maintenanceView{
		podsOn:     func(id string) int { return *pods },
		nodeTaskOn: func(id string) string { return *task },
		progress: func(string) (k8sapi.DrainProgress, bool) {
			if prog == nil {
				return k8sapi.DrainProgress{}, false
			}
			return *prog, true
		},
	}
}

func window(start time.Time) mesos.Unavailability {
	return mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}
}

func inverseOffer(id, agent string, start time.Time) mesos.InverseOffer {
	host := agent
	return mesos.InverseOffer{
		OfferID: mesos.OfferID{Value: id}, AgentID: &mesos.AgentID{Value: agent}, FrameworkID: mesos.FrameworkID{Value: "fw-1"},
		URL:            &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &host, Port: 5051}},
		Unavailability: window(start),
	}
}

// takeAll returns every call made since the last take, and forgets them.
func (m *fakeMaster) takeAll() []*scheduler.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

func ofType(cs []*scheduler.Call, t scheduler.Call_Type) []*scheduler.Call {
	var out []*scheduler.Call
	for _, c := range cs {
		if c.GetType() == t {
			out = append(out, c)
		}
	}
	return out
}

// stepCalls are the calls of a step, the answers to inverse offers last.
func stepCalls(out maintenanceEffects) []*scheduler.Call {
	cs := slices.Clone(out.calls)
	for _, a := range out.answers {
		cs = append(cs, a.call)
	}
	return cs
}

// callTypes are the types of calls, with the inverse offer IDs each answers.
func callTypes(cs []*scheduler.Call) []string {
	var out []string
	for _, c := range cs {
		s := c.GetType().String()
		switch c.GetType() {
		case scheduler.Call_ACCEPT_INVERSE_OFFERS:
			for _, id := range c.GetAcceptInverseOffers().InverseOfferIDs {
				s += " " + id.Value
			}
		case scheduler.Call_DECLINE_INVERSE_OFFERS:
			for _, id := range c.GetDeclineInverseOffers().InverseOfferIDs {
				s += " " + id.Value
			}
		case scheduler.Call_KILL:
			s += " " + c.GetKill().TaskID.Value
		}
		out = append(out, s)
	}
	return out
}

// TestMaintenanceStepDrainsThenAnswers walks one agent through a drain:
// the inverse offer starts it (taint and evictions asked, an event), the
// inverse offer is held while pods leave, declined with the retry filter
// while an eviction is refused (once per inverse offer, with the reason),
// the node task is killed once no pod is left (again only after
// reconcileRetry), and the inverse offer is accepted only once no
// kubemesos task is left; the rescind releases the node and forgets it.
func TestMaintenanceStepDrainsThenAnswers(t *testing.T) {
	p := DefaultPolicy
	now := time.Unix(1000, 0)
	b := &maintenanceBook{agents: map[string]*agentMaintenance{}, report: NewMaintenanceLog()}
	pods, task := 2, "node.a1.1"
	var prog *k8sapi.DrainProgress
	v := agentView(&pods, &task, prog)
	step := func() maintenanceEffects {
		t.Helper()
		v = agentView(&pods, &task, prog)
		return b.step(now, p, v)
	}
	phase := func(want string) {
		t.Helper()
		if got := b.agents["a1"].phase; got != want {
			t.Fatalf("phase %q (%s), want %q", got, b.agents["a1"].reason, want)
		}
	}

	b.inverseOffers([]mesos.InverseOffer{inverseOffer("io-1", "a1", now)})
	out := step()
	if !slices.Equal(out.drain, []string{"a1"}) || len(stepCalls(out)) != 0 || len(out.events) != 1 || out.events[0].reason != k8sapi.ReasonDrainStarted {
		t.Fatalf("first step: %+v", out)
	}
	phase(PhaseDraining)
	if !b.draining("a1") || b.draining("a2") {
		t.Fatal("draining(a1) false or draining(a2) true")
	}
	if out := step(); len(out.drain) != 0 || len(stepCalls(out)) != 0 {
		t.Fatalf("the drain is asked once, the inverse offer held while pods leave: %+v", out)
	}

	prog = &k8sapi.DrainProgress{Pods: 2, Blocked: []string{"default/web-1: The disruption budget web needs 3 healthy pods and has 3 currently"}}
	out = step()
	if got := callTypes(stepCalls(out)); !slices.Equal(got, []string{"DECLINE_INVERSE_OFFERS io-1"}) {
		t.Fatalf("blocked: calls %v", got)
	}
	if f := stepCalls(out)[0].GetDeclineInverseOffers().GetFilters().GetRefuseSeconds(); f != p.DrainRetry.Seconds() {
		t.Errorf("decline filter %v s, want %v", f, p.DrainRetry.Seconds())
	}
	if len(out.events) != 1 || out.events[0].reason != k8sapi.ReasonDrainBlocked || !strings.Contains(out.events[0].msg, "needs 3 healthy pods") {
		t.Errorf("blocked: events %+v", out.events)
	}
	phase(PhaseBlocked)
	if out := step(); len(stepCalls(out)) != 0 {
		t.Fatalf("an answered inverse offer is answered again: %v", callTypes(stepCalls(out)))
	}
	b.inverseOffers([]mesos.InverseOffer{inverseOffer("io-2", "a1", now)})
	if got := callTypes(stepCalls(step())); !slices.Equal(got, []string{"DECLINE_INVERSE_OFFERS io-2"}) {
		t.Fatalf("the next inverse offer while blocked: %v", got)
	}

	b.inverseOffers([]mesos.InverseOffer{inverseOffer("io-3", "a1", now)})
	pods, prog = 0, &k8sapi.DrainProgress{}
	if got := callTypes(stepCalls(step())); !slices.Equal(got, []string{"KILL node.a1.1"}) {
		t.Fatalf("no pod left: calls %v, want the node task's KILL and no answer", got)
	}
	phase(PhaseEmptying)
	if got := step().calls; len(got) != 0 {
		t.Fatalf("KILL sent again at once: %v", callTypes(got))
	}
	now = now.Add(reconcileRetry)
	if got := callTypes(stepCalls(step())); !slices.Equal(got, []string{"KILL node.a1.1"}) {
		t.Fatalf("KILL not sent again after %v: %v", reconcileRetry, got)
	}

	task = ""
	out = step()
	if got := callTypes(stepCalls(out)); !slices.Equal(got, []string{"ACCEPT_INVERSE_OFFERS io-3"}) {
		t.Fatalf("no kubemesos task left: calls %v", got)
	}
	if len(out.events) != 1 || out.events[0].reason != k8sapi.ReasonDrained {
		t.Errorf("drained: events %+v", out.events)
	}
	phase(PhaseDrained)
	if r := b.snapshot(now); len(r.Agents) != 1 || r.Agents[0].Node != "a1" || r.Agents[0].Answer != "ACCEPT" || r.Agents[0].Phase != PhaseDrained {
		t.Errorf("report %+v", r)
	}

	b.inverseOffers([]mesos.InverseOffer{inverseOffer("io-4", "a1", now)})
	b.rescindInverse("io-4")
	out = step()
	if !slices.Equal(out.release, []string{"a1"}) || len(stepCalls(out)) != 0 {
		t.Fatalf("after the rescind: %+v", out)
	}
	if _, ok := b.agents["a1"]; ok || b.draining("a1") {
		t.Fatal("the agent is still in maintenance after its inverse offers were rescinded")
	}
}

// TestMaintenanceWindowAndOffers: a window further away than DrainAhead
// is only scheduled (nothing drained, the inverse offer held); it is
// drained from DrainAhead before its start; offers carry the window too,
// and an offer of the agent's host without one ends the maintenance, also
// of an earlier agent of that host (a machine back UP registers anew),
// except while an inverse offer for it is outstanding.
func TestMaintenanceWindowAndOffers(t *testing.T) {
	p := DefaultPolicy
	now := time.Unix(1000, 0)
	b := &maintenanceBook{agents: map[string]*agentMaintenance{}, report: NewMaintenanceLog()}
	pods, task := 1, ""
	v := agentView(&pods, &task, nil)

	start := now.Add(p.DrainAhead + time.Minute)
	b.inverseOffers([]mesos.InverseOffer{inverseOffer("io-1", "a1", start)})
	if out := b.step(now, p, v); len(out.drain) != 0 || len(stepCalls(out)) != 0 || b.draining("a1") {
		t.Fatalf("a window %v away drained: %+v", p.DrainAhead+time.Minute, out)
	}
	if a := b.agents["a1"]; a.phase != PhaseScheduled || !strings.Contains(a.reason, "--drain-ahead") {
		t.Errorf("phase %q %q", a.phase, a.reason)
	}
	now = now.Add(time.Minute)
	if out := b.step(now, p, v); !slices.Equal(out.drain, []string{"a1"}) {
		t.Fatalf("not drained %v before the window: %+v", p.DrainAhead, out)
	}

	// An offer without unavailability while the inverse offer is
	// outstanding changes nothing; once none is, it ends the maintenance.
	b.offers([]mesos.Offer{{ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "a1"}})
	if out := b.step(now, p, v); len(out.release) != 0 {
		t.Fatalf("released while an inverse offer is outstanding: %+v", out)
	}
	b.resubscribed()
	b.offers([]mesos.Offer{{ID: mesos.OfferID{Value: "o2"}, AgentID: mesos.AgentID{Value: "a1-new"}, Hostname: "a1"}})
	if out := b.step(now, p, v); !slices.Equal(out.release, []string{"a1"}) {
		t.Fatalf("an offer of the host without unavailability did not release it: %+v", out)
	}
	if len(b.agents) != 0 {
		t.Fatalf("agents left in maintenance: %v", b.agents)
	}

	// Offers alone (no inverse offer) drain too, and answer nothing.
	u := window(now)
	b.offers([]mesos.Offer{{ID: mesos.OfferID{Value: "o3"}, AgentID: mesos.AgentID{Value: "a2"}, Hostname: "a2", Unavailability: &u}})
	pods = 0
	out := b.step(now, p, v)
	if !slices.Equal(out.drain, []string{"a2"}) || len(stepCalls(out)) != 0 {
		t.Fatalf("offer with unavailability: %+v", out)
	}
}

// TestDrainingAgentGetsNoPodNorNodeTask: with a drainer, an INVERSE_OFFERS
// event for agent a1 makes the next cycle ask the drain and decline a1's
// offer (filter DrainRetry) instead of launching the pending pod or a node
// task there; after RESCIND_INVERSE_OFFER the agent is released and used.
func TestDrainingAgentGetsNoPodNorNodeTask(t *testing.T) {
	l := newLoopTest(t, testPod("a"))
	l.s.policy.NodeTasks = true
	d := &fakeDrainer{}
	l.s.UseDrainer(d)
	io := inverseOffer("io-1", "a1", time.Now())
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: []mesos.InverseOffer{io}}}); err != nil {
		t.Fatal(err)
	}
	id := l.offer(t)
	l.cycle(t)
	made := l.master.takeAll()
	if got := ofType(made, scheduler.Call_ACCEPT); len(got) != 0 {
		t.Fatalf("launched on a draining agent: %v", launchedTasks(got))
	}
	declines := ofType(made, scheduler.Call_DECLINE)
	if len(declines) != 1 || declines[0].GetDecline().OfferIDs[0].Value != id ||
		declines[0].GetDecline().GetFilters().GetRefuseSeconds() != DefaultPolicy.DrainRetry.Seconds() {
		t.Fatalf("declines %v", declines)
	}
	if !slices.Equal(d.drained, []string{"a1"}) {
		t.Fatalf("drained %v", d.drained)
	}
	if r := l.s.MaintenanceLog().Report(); len(r.Agents) != 1 || r.Agents[0].Phase != PhaseDrained {
		// No pod task and no node task: drained, and the inverse offer accepted.
		t.Fatalf("report %+v", r)
	}
	if got := ofType(made, scheduler.Call_ACCEPT_INVERSE_OFFERS); len(got) != 1 {
		t.Fatalf("accepted %d inverse offers, want 1", len(got))
	}

	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_RESCIND_INVERSE_OFFER, RescindInverseOffer: &scheduler.Event_RescindInverseOffer{InverseOfferID: io.OfferID}}); err != nil {
		t.Fatal(err)
	}
	l.offer(t)
	l.cycle(t)
	if !slices.Equal(d.released, []string{"a1"}) {
		t.Fatalf("released %v", d.released)
	}
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) == 0 {
		t.Fatal("nothing launched on the agent after its maintenance ended")
	}
}

// TestInverseOffersIgnoredWithoutDrainer: without a drainer inverse offers
// are left unanswered and the agent is used, as before maintenance support.
func TestInverseOffersIgnoredWithoutDrainer(t *testing.T) {
	l := newLoopTest(t, testPod("a"))
	io := inverseOffer("io-1", "a1", time.Now())
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: []mesos.InverseOffer{io}}}); err != nil {
		t.Fatal(err)
	}
	l.offer(t)
	l.cycle(t)
	made := l.master.takeAll()
	if got := launchedTasks(ofType(made, scheduler.Call_ACCEPT)); len(got) != 1 {
		t.Fatalf("launched %v", got)
	}
	if got := ofType(made, scheduler.Call_ACCEPT_INVERSE_OFFERS); len(got) != 0 {
		t.Fatal("answered an inverse offer without a drainer")
	}
}

// TestMaintenanceStaleTaintAndUnknownHostname: an inverse offer without
// the agent's hostname waits for it (no Node to name: nothing drained);
// a node carrying the maintenance taint whose machine's offer has no
// unavailability, and that the bridge does not drain, is released (a
// drain of an earlier term or run), one it drains is not.
func TestMaintenanceStaleTaintAndUnknownHostname(t *testing.T) {
	p := DefaultPolicy
	now := time.Unix(1000, 0)
	b := &maintenanceBook{agents: map[string]*agentMaintenance{}, report: NewMaintenanceLog()}
	pods, task := 1, ""
	v := agentView(&pods, &task, nil)
	io := inverseOffer("io-1", "a9", now)
	io.URL = nil
	b.inverseOffers([]mesos.InverseOffer{io})
	if out := b.step(now, p, v); len(out.drain) != 0 || b.agents["a9"].phase != PhaseScheduled {
		t.Fatalf("drained an agent whose hostname is unknown: %+v", out)
	}
	v.hostnameOf = func(id string) string { return map[string]string{"a9": "host-9"}[id] }
	if out := b.step(now, p, v); !slices.Equal(out.drain, []string{"host-9"}) {
		t.Fatalf("hostname known: %+v", out)
	}

	v.tainted = func(node string) bool { return node == "host-9" || node == "host-7" }
	v.available = []string{"host-7", "host-8", "host-9"}
	out := b.step(now, p, v)
	if !slices.Equal(out.release, []string{"host-7"}) {
		t.Fatalf("released %v, want the stale taint of host-7 only (host-8 untainted, host-9 drained)", out.release)
	}
}

// TestFailedInverseOfferAnswerIsSentAgain: an ACCEPT the master did not
// take leaves the inverse offer outstanding, and the next cycle sends it
// again.
func TestFailedInverseOfferAnswerIsSentAgain(t *testing.T) {
	l := newLoopTest(t)
	l.s.UseDrainer(&fakeDrainer{})
	io := inverseOffer("io-1", "a1", time.Now())
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: []mesos.InverseOffer{io}}}); err != nil {
		t.Fatal(err)
	}
	l.master.fail[scheduler.Call_ACCEPT_INVERSE_OFFERS] = errors.New("master unreachable")
	l.cycle(t)
	if got := ofType(l.master.takeAll(), scheduler.Call_ACCEPT_INVERSE_OFFERS); len(got) != 1 {
		t.Fatalf("%d ACCEPTs, want 1", len(got))
	}
	if r := l.s.MaintenanceLog().Report(); r.Agents[0].InverseOffers != 1 || r.Agents[0].Answer != "" {
		t.Fatalf("after the failed ACCEPT: %+v", r.Agents[0])
	}
	delete(l.master.fail, scheduler.Call_ACCEPT_INVERSE_OFFERS)
	l.cycle(t)
	got := ofType(l.master.takeAll(), scheduler.Call_ACCEPT_INVERSE_OFFERS)
	if len(got) != 1 || got[0].GetAcceptInverseOffers().InverseOfferIDs[0].Value != "io-1" {
		t.Fatalf("ACCEPT not sent again: %v", got)
	}
	l.cycle(t)
	if got := ofType(l.master.takeAll(), scheduler.Call_ACCEPT_INVERSE_OFFERS); len(got) != 0 {
		t.Fatalf("a taken ACCEPT sent again: %v", got)
	}
}
