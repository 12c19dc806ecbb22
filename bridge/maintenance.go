package bridge

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/podtask"
)

// Mesos maintenance → Kubernetes drain (#9).
//
// An agent is in maintenance while the bridge knows an unavailability for
// its machine: from an inverse offer (the master asks the resources back)
// or from its offers (a DRAINING machine's offers carry it). Its drain
// starts once that unavailability begins within Policy.DrainAhead (at once
// for a window that has begun): the agent gets no new pod and no node task
// (its offers are declined), its Node is tainted podtask.MaintenanceTaint
// and its pods are evicted through the Eviction API (NodeDrainer, off the
// loop). The bridge answers an inverse offer only when it can say something:
//
//   - some pod of its runs there and an eviction is refused (a
//     PodDisruptionBudget): DECLINE, with a Policy.DrainRetry filter, so Mesos
//     asks again soon; a Node event and /debug/maintenance say why;
//   - none runs there: the agent's node task is killed, and once it ended,
//     ACCEPT: the agent holds no kubemesos task, and the operator may start
//     the maintenance.
//
// Otherwise (evictions under way) it holds the inverse offer. The
// maintenance ends when the master rescinds the agent's inverse offers
// (the schedule changed or was cancelled; a new window brings a new inverse
// offer) or an offer of the agent's host comes without unavailability (the
// schedule was cancelled, or the machine came back UP after maintenance as
// a new agent): the taint is removed and the agent is used again. A machine
// taken DOWN is the agent's removal: its tasks end TASK_GONE_BY_OPERATOR, and
// their pods are replaced as for any lost agent (Action).

// NodeDrainer performs drains off the loop (k8sapi.NodeDrainer): the loop
// only says what it wants and reads what the last pass found.
type NodeDrainer interface {
	// Drain taints node and evicts its pods, again and again, until Release.
	Drain(node string)
	// Release removes the taint and stops the evictions.
	Release(node string)
	// Progress is what the last pass of node's drain found.
	Progress(node string) (k8sapi.DrainProgress, bool)
	// NodeEvent records an event on node.
	NodeEvent(node, eventType, reason, msg string)
}

// UseDrainer makes the scheduler drain agents for Mesos maintenance with d;
// without it, inverse offers are left unanswered and unavailability is
// ignored, as before. Call it before Run.
func (s *Scheduler) UseDrainer(d NodeDrainer) { s.drainer = d }

// Maintenance phases, as /debug/maintenance and `kubemesos why node/…` show them.
const (
	// PhaseScheduled: the window begins later than --drain-ahead from now.
	PhaseScheduled = "scheduled"
	// PhaseDraining: pods of the bridge still run on the agent.
	PhaseDraining = "draining"
	// PhaseBlocked: an eviction was refused; the inverse offer was declined.
	PhaseBlocked = "blocked"
	// PhaseEmptying: no pod runs there; the node task is being killed.
	PhaseEmptying = "emptying"
	// PhaseDrained: no kubemesos task runs there; the inverse offer was accepted.
	PhaseDrained = "drained"
)

// agentMaintenance is the bridge's record of one agent in maintenance.
type agentMaintenance struct {
	agentID, hostname string
	// window is the unavailability last heard of, from an inverse offer
	// or an offer; nil: none (the record goes at the next step).
	window *mesos.Unavailability
	// inverse are the inverse offers outstanding (not answered, not rescinded).
	inverse map[string]bool
	// draining: the drain was asked of the NodeDrainer (and not released).
	draining bool
	since    time.Time
	// killed is the node task whose KILL was sent, and when.
	killed   string
	killedAt time.Time
	phase    string
	reason   string
	answer   string // "ACCEPT" or "DECLINE": the last answer sent
}

func (a *agentMaintenance) node() string { return podtask.NodeName(a.hostname) }

// maintenanceBook is every agent in maintenance, by agent ID.
type maintenanceBook struct {
	agents map[string]*agentMaintenance
	report *MaintenanceLog
}

func (s *Scheduler) maintenanceBook() *maintenanceBook {
	if s.maint == nil {
		s.maint = &maintenanceBook{agents: map[string]*agentMaintenance{}, report: NewMaintenanceLog()}
	}
	return s.maint
}

func (b *maintenanceBook) agent(agentID, hostname string) *agentMaintenance {
	a := b.agents[agentID]
	if a == nil {
		a = &agentMaintenance{agentID: agentID, inverse: map[string]bool{}}
		b.agents[agentID] = a
	}
	if a.hostname == "" {
		a.hostname = hostname
	}
	return a
}

// inverseOffers records inverse offers (event INVERSE_OFFERS).
func (b *maintenanceBook) inverseOffers(ios []mesos.InverseOffer) {
	for _, io := range ios {
		if io.AgentID == nil || io.OfferID.Value == "" {
			continue // not about an agent: nothing the bridge runs is concerned
		}
		host := ""
		if io.URL != nil {
			host = io.URL.Address.GetHostname()
		}
		a := b.agent(io.AgentID.Value, host)
		a.inverse[io.OfferID.Value] = true
		u := io.Unavailability
		a.window = &u
	}
}

// rescindInverse records RESCIND_INVERSE_OFFER: the master withdrew the
// question; with no other outstanding, the agent's maintenance is over
// unless a new inverse offer or offer says otherwise.
func (b *maintenanceBook) rescindInverse(id string) {
	for _, a := range b.agents {
		if a.inverse[id] {
			delete(a.inverse, id)
			if len(a.inverse) == 0 {
				a.window = nil
			}
		}
	}
}

// offers records the unavailability that offers carry: an offer with one
// puts its agent in maintenance; one without ends the maintenance of every
// agent of its host (the machine is not DRAINING: a host back UP after
// maintenance comes as a new agent).
func (b *maintenanceBook) offers(offers []mesos.Offer) {
	for _, o := range offers {
		if o.Unavailability != nil {
			u := *o.Unavailability
			b.agent(o.AgentID.Value, o.Hostname).window = &u
			continue
		}
		// An agent with an inverse offer outstanding is DRAINING for the
		// master whatever this offer says: the rescind will tell.
		node := podtask.NodeName(o.Hostname)
		for _, a := range b.agents {
			if (a.agentID == o.AgentID.Value || a.node() == node) && len(a.inverse) == 0 {
				a.window = nil
			}
		}
	}
}

// resubscribed forgets the inverse offers of an earlier subscription: the
// master voids them and sends new ones.
func (b *maintenanceBook) resubscribed() {
	for _, a := range b.agents {
		clear(a.inverse)
	}
}

// draining reports whether agentID is being drained: it gets no pod and
// no node task.
func (b *maintenanceBook) draining(agentID string) bool {
	a := b.agents[agentID]
	return a != nil && a.draining
}

// maintenanceView is what the maintenance decision reads of the rest of
// the scheduler.
type maintenanceView struct {
	// hostnameOf is an agent's hostname from its offers or node task ("" if unknown).
	hostnameOf func(agentID string) string
	// available are the nodes of held offers without unavailability:
	// their machines are not DRAINING.
	available []string
	// tainted reports whether a node carries podtask.MaintenanceTaint.
	tainted func(node string) bool
	// podsOn counts the live pod tasks on an agent.
	podsOn func(agentID string) int
	// nodeTaskOn is the live node task on an agent ("" if none).
	nodeTaskOn func(agentID string) string
	// progress is the drainer's last pass over a node.
	progress func(node string) (k8sapi.DrainProgress, bool)
}

// maintenanceEffects are what the decision asks for.
type maintenanceEffects struct {
	calls []*scheduler.Call
	// answers are the calls that answer inverse offers: one that fails
	// leaves its inverse offers outstanding (answered), so the next step
	// answers again.
	answers []inverseAnswer
	drain   []string // nodes to drain
	release []string // nodes to release
	events  []nodeEvent
}

// inverseAnswer is an ACCEPT or DECLINE of an agent's inverse offers.
type inverseAnswer struct {
	agentID string
	ids     []mesos.OfferID
	call    *scheduler.Call
}

// answered undoes the answer whose call failed: its inverse offers are
// outstanding again.
func (b *maintenanceBook) answerFailed(ans inverseAnswer) {
	if a := b.agents[ans.agentID]; a != nil {
		for _, id := range ans.ids {
			a.inverse[id.Value] = true
		}
		a.answer = ""
	}
}

type nodeEvent struct{ node, eventType, reason, msg string }

// maintenanceStep decides, at now, what each agent in maintenance needs.
// It changes only the book.
func (b *maintenanceBook) step(now time.Time, p Policy, v maintenanceView) maintenanceEffects {
	var out maintenanceEffects
	ids := make([]string, 0, len(b.agents))
	for id := range b.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	draining := map[string]bool{}
	for _, id := range ids {
		a := b.agents[id]
		if a.hostname == "" && v.hostnameOf != nil {
			a.hostname = v.hostnameOf(id)
		}
		due := a.window != nil && !now.Before(windowStart(a.window).Add(-p.DrainAhead))
		if due && a.hostname == "" {
			// Its Node cannot be named yet: its next offer names it.
			a.phase, a.reason = PhaseScheduled, "waiting for the agent's hostname (its next offer)"
			continue
		}
		if !due {
			if a.draining {
				out.release = append(out.release, a.node())
				a.draining, a.killed = false, ""
			}
			if a.window == nil {
				delete(b.agents, id)
				continue
			}
			a.phase, a.reason = PhaseScheduled, fmt.Sprintf("the drain starts at %s (--drain-ahead %v before the window)",
				windowStart(a.window).Add(-p.DrainAhead).UTC().Format(time.RFC3339), p.DrainAhead)
			continue
		}
		draining[a.node()] = true
		if !a.draining {
			a.draining, a.since = true, now
			out.drain = append(out.drain, a.node())
			out.events = append(out.events, nodeEvent{a.node(), corev1.EventTypeNormal, k8sapi.ReasonDrainStarted,
				fmt.Sprintf("Mesos maintenance of agent %s (%s): no new pods, evicting the pods", a.agentID, describeWindow(a.window))})
		}
		pods := v.podsOn(id)
		prog, passed := v.progress(a.node())
		switch {
		case pods > 0 && passed && len(prog.Blocked) > 0:
			a.phase = PhaseBlocked
			a.reason = fmt.Sprintf("%d pod(s) left; eviction refused: %s", pods, strings.Join(prog.Blocked, "; "))
			if len(a.inverse) > 0 {
				ids := a.takeInverse()
				out.answers = append(out.answers, inverseAnswer{id, ids, calls.DeclineInverseOffers(ids...).With(calls.RefuseSeconds(p.DrainRetry))})
				a.answer = "DECLINE"
				out.events = append(out.events, nodeEvent{a.node(), corev1.EventTypeWarning, k8sapi.ReasonDrainBlocked,
					"Mesos maintenance inverse offer declined: " + a.reason})
			}
		case pods > 0:
			a.phase, a.reason = PhaseDraining, fmt.Sprintf("%d pod(s) left", pods)
			if passed && prog.Err != "" {
				a.reason += "; " + prog.Err
			}
		default:
			task := v.nodeTaskOn(id)
			if task != "" {
				a.phase, a.reason = PhaseEmptying, "no pod left; killing node task "+task
				if a.killed != task || now.Sub(a.killedAt) >= reconcileRetry {
					out.calls = append(out.calls, calls.Kill(task, id))
					a.killed, a.killedAt = task, now
				}
				continue
			}
			a.phase, a.reason = PhaseDrained, "no kubemesos task on the agent"
			if len(a.inverse) > 0 {
				ids := a.takeInverse()
				out.answers = append(out.answers, inverseAnswer{id, ids, calls.AcceptInverseOffers(ids...).With(calls.RefuseSeconds(p.DrainRetry))})
				if a.answer != "ACCEPT" {
					out.events = append(out.events, nodeEvent{a.node(), corev1.EventTypeNormal, k8sapi.ReasonDrained,
						"Mesos maintenance inverse offer accepted: no kubemesos task on agent " + id})
				}
				a.answer = "ACCEPT"
			}
		}
	}
	// A taint of this bridge's on a node whose machine is not DRAINING
	// (its offer says so) and that it does not drain is left from a drain
	// it forgot (a restart, an earlier leader's term): remove it.
	for _, node := range v.available {
		if !draining[node] && v.tainted != nil && v.tainted(node) && !slices.Contains(out.release, node) {
			out.release = append(out.release, node)
		}
	}
	// An earlier agent of a host that another agent of it drains again
	// releases nothing.
	out.release = slices.DeleteFunc(out.release, func(n string) bool { return draining[n] })
	return out
}

// takeInverse returns the outstanding inverse offers' IDs, now answered.
func (a *agentMaintenance) takeInverse() []mesos.OfferID {
	ids := make([]string, 0, len(a.inverse))
	for id := range a.inverse {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	clear(a.inverse)
	out := make([]mesos.OfferID, len(ids))
	for i, id := range ids {
		out[i] = mesos.OfferID{Value: id}
	}
	return out
}

func windowStart(u *mesos.Unavailability) time.Time {
	return time.Unix(0, u.Start.Nanoseconds)
}

func describeWindow(u *mesos.Unavailability) string {
	s := "unavailable from " + windowStart(u).UTC().Format(time.RFC3339)
	if d := u.GetDuration(); d != nil {
		s += fmt.Sprintf(" for %v", time.Duration(d.Nanoseconds))
	}
	return s
}

// maintain runs the maintenance decision and performs its effects: the
// Mesos calls, the drains and releases (queued to the drainer) and the
// Node events. The offers of draining agents are declined (filter
// DrainRetry), so neither a pod nor a node task goes there.
func (s *Scheduler) maintain(ctx context.Context, now time.Time) {
	if s.drainer == nil {
		return
	}
	b := s.maintenanceBook()
	var available []string
	hostnames := map[string]string{}
	for _, o := range s.offers.All() {
		hostnames[o.AgentID.Value] = o.Hostname
		if o.Unavailability == nil {
			available = append(available, podtask.NodeName(o.Hostname))
		}
	}
	out := b.step(now, s.policy, maintenanceView{
		hostnameOf: func(agentID string) string {
			if h := hostnames[agentID]; h != "" {
				return h
			}
			if nt := s.nodeTasks[agentID]; nt != nil {
				return nt.Hostname
			}
			return ""
		},
		available: available,
		tainted: func(node string) bool {
			return s.nodes != nil && slices.ContainsFunc(s.nodes.Taints(node), func(t corev1.Taint) bool {
				return t.MatchTaint(&podtask.MaintenanceTaint)
			})
		},
		podsOn: func(agentID string) int {
			n := 0
			s.tasks.Each(func(t *PodTask) {
				if t.AgentID == agentID && !t.Terminal() {
					n++
				}
			})
			return n
		},
		nodeTaskOn: func(agentID string) string {
			if nt := s.nodeTasks[agentID]; nt != nil && !podtask.IsTerminal(nt.State) {
				return nt.TaskID
			}
			return ""
		},
		progress: s.drainer.Progress,
	})
	log := klog.FromContext(ctx)
	for _, n := range out.drain {
		log.Info("Draining node for Mesos maintenance", "node", n)
		s.drainer.Drain(n)
	}
	for _, n := range out.release {
		log.Info("Mesos maintenance over, node schedulable again", "node", n)
		s.drainer.Release(n)
	}
	for _, e := range out.events {
		s.drainer.NodeEvent(e.node, e.eventType, e.reason, e.msg)
	}
	s.perform(ctx, out.calls)
	for _, ans := range out.answers {
		if err := s.fw.call(ctx, ans.call); err != nil {
			log.Error(err, "Answer inverse offers", "type", ans.call.GetType(), "agent", ans.agentID)
			b.answerFailed(ans)
		}
	}
	var drained []string
	for _, o := range s.offers.All() {
		if b.draining(o.AgentID.Value) {
			drained = append(drained, o.ID.Value)
		}
	}
	s.decline(ctx, drained, s.policy.DrainRetry)
	b.report.set(b.snapshot(now))
}
