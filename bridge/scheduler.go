package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// Policy is how the bridge treats offers and pods.
type Policy struct {
	// OfferTTL is how long an unused offer is held before it is declined (invariant 3).
	OfferTTL time.Duration
	// DeclineFor is the refuse_seconds filter of a decline of offers nobody could use.
	DeclineFor time.Duration
	// IdleDeclineFor is the refuse_seconds filter when no pod is pending at all.
	IdleDeclineFor time.Duration
	// ReviveEvery rate-limits REVIVE calls. A REVIVE is sent only for pods
	// that became pending since the last one and fit no held offer (and to
	// end a SUPPRESS): a REVIVE clears every decline filter, so one sent for
	// nothing new undoes the filters and the same offers churn.
	ReviveEvery time.Duration
	// MinPod is what a pod without requests is given.
	MinPod offermatcher.Resources
	// Scoring is how free resources rank the offers a pod fits.
	Scoring offermatcher.Scoring
	// RelaunchBackoff is the first wait before a pod whose task ended before
	// the pod was bound is launched again; it doubles up to MaxRelaunchBackoff.
	RelaunchBackoff, MaxRelaunchBackoff time.Duration
	// AgentBackoff is how long an agent whose executor failed a launch (its
	// node could not start, the executor could not be started or did not
	// subscribe) gets no pod; it doubles with every further failure there up
	// to MaxAgentBackoff, and a task the executor reports starting there
	// clears it. Pods go to other agents meanwhile.
	AgentBackoff, MaxAgentBackoff time.Duration
	// NodeTasks launches a node task on every agent that offers resources,
	// so each agent is a Ready Node before its first pod (nodetasks.go);
	// without, the node comes with the first pod (on-demand) and the bridge
	// suppresses offers while nothing is pending. With node tasks it never
	// suppresses: a new agent is seen only through its offers.
	NodeTasks bool
	// NodeTask is what a node task holds (the executor's own resources come on top).
	NodeTask offermatcher.Resources
	// AdoptWindow is how long a bound pod whose executor ended under it
	// waits for an offer of its agent to be launched again there (for the
	// next executor to adopt it) before it is evicted (executorloss.go). Keep
	// it at most the executors' KUBEMESOS_ADOPT_WINDOW. Zero: such a pod is
	// marked Failed at once.
	AdoptWindow time.Duration
	// DrainAhead is how long before a Mesos maintenance window begins the
	// bridge drains the agent (maintenance.go); a window that has begun is
	// drained at once.
	DrainAhead time.Duration
	// DrainRetry is the refuse_seconds of the answers to inverse offers
	// and of the declines of a draining agent's offers: how soon Mesos asks
	// again.
	DrainRetry time.Duration
}

// DefaultPolicy is the policy of `kubemesos scheduler` without flags.
var DefaultPolicy = Policy{
	OfferTTL:       10 * time.Second,
	DeclineFor:     30 * time.Second,
	IdleDeclineFor: 30 * time.Second,
	ReviveEvery:    2 * time.Second,
	MinPod:         offermatcher.Resources{MilliCPU: 10, MemoryMB: 16},

	RelaunchBackoff:    time.Second,
	MaxRelaunchBackoff: time.Minute,
	AgentBackoff:       30 * time.Second,
	MaxAgentBackoff:    10 * time.Minute,

	NodeTasks: true,
	NodeTask:  offermatcher.Resources{MilliCPU: 10, MemoryMB: 8},

	AdoptWindow: time.Minute,
	DrainAhead:  10 * time.Minute,
	DrainRetry:  5 * time.Second,
}

// PodSource is the Kubernetes side the scheduler reads: pods of its scheduler name.
type PodSource interface {
	Pending() []*corev1.Pod
	Get(uid types.UID) (*corev1.Pod, bool)
	Changed() <-chan struct{}
}

// NodeSource is what the scheduler reads of the Nodes: the taints of the
// Node of an agent (cordon included), nil while the agent has no Node.
type NodeSource interface {
	Taints(nodeName string) []corev1.Taint
}

// PodReporter is how the bridge writes to pods: why one was not placed, and
// what became of one whose task Mesos ended under it. The scheduler calls
// it only through its PodWriter, from one goroutine, never from its loop.
type PodReporter interface {
	Unschedulable(ctx context.Context, pod *corev1.Pod, msg string)
	Forget(uid types.UID)
	// Fail marks a pod Failed (its controller replaces it).
	Fail(ctx context.Context, pod *corev1.Pod, reason, msg string) error
	// ForceDelete deletes a pod at once (its node is gone).
	ForceDelete(ctx context.Context, pod *corev1.Pod, msg string) error
}

// Scheduler is the bridge's loop: it owns the OfferBook and the TaskRegistry and
// runs a cycle whenever pods, offers or task states change.
type Scheduler struct {
	fw    *Framework
	store FrameworkStore
	pods  PodSource
	nodes NodeSource // may be nil: no taints known
	// report queues the writes to pods and Nodes (podwriter.go): the loop
	// never waits for the API server.
	report   *PodWriter
	executor ExecutorSpec
	policy   Policy

	offers     *OfferBook
	tasks      *TaskRegistry
	suppressed bool
	lastRevive time.Time
	// seenPending are the pods the last cycle found pending; reviveFor
	// those that became pending since the last REVIVE (new, back from a
	// backoff, or pending again after a failed launch): only they can fit
	// offers that the filters of earlier declines hold back.
	seenPending map[types.UID]bool
	reviveFor   map[types.UID]bool
	// explained are the pending pods told why by a placement attempt over
	// offers: while no offer is held (the bridge declined those it could not
	// use) that reason stands, rather than "no offers".
	explained  map[types.UID]bool
	subscribed bool
	now        func() time.Time
	// apiTimeout bounds the etcd writes of one step of the loop (and each
	// write of the PodWriter).
	apiTimeout time.Duration
	// backoff holds back pods whose last launch failed before they were bound.
	backoff map[types.UID]relaunch
	// agents holds back agents whose executor failed launches.
	agents map[string]*agentHold
	// nodeTasks are the node tasks by agent ID.
	nodeTasks map[string]*nodeTask
	// lost are the bound pods whose executor ended under them, waiting to
	// be launched again on their agent (executorloss.go); retired is when
	// each stale executor (agent/executor ID) was last asked to retire.
	lost    map[types.UID]*lostPod
	retired map[string]time.Time
	// unreachable are the agents whose Node the bridge marked unreachable,
	// with the Node's name (reachability.go).
	unreachable map[string]string
	// placement is kept between cycles for placement (placement.go).
	placement *placementState
	// intentStore is the store when it keeps launch intents (nil: it does
	// not); intents is its table, loaded when Run starts.
	intentStore IntentStore
	intents     *IntentTable
	// epoch and launched make the task ID of each launch (taskid.go).
	epoch, launched uint64
	// volumes is the state of the persistent volumes the bridge provisions
	// (volumebook.go); nil without UseVolumes.
	volumes *volumeBook
	// drainer drains agents in Mesos maintenance, maint is what the
	// scheduler knows of them (maintenance.go); nil drainer: none is.
	drainer NodeDrainer
	maint   *maintenanceBook
	// revocable starts the revocable executor (revocable.go); nil: no pod
	// is placed on revocable resources.
	revocable *ExecutorSpec
}

// agentHold is an agent that gets no pod until `until`, after `failures`
// launches in a row that its executor failed, the last for `cause`.
type agentHold struct {
	hostname string
	failures int
	delay    time.Duration
	until    time.Time
	cause    string
}

// relaunch is when a pod may be launched again, and the wait that led there.
type relaunch struct {
	at    time.Time
	delay time.Duration
}

// defaultAPITimeout bounds the Kubernetes API calls made from the scheduler
// loop: a hung API server must not stop it from handling offers and events.
const defaultAPITimeout = 10 * time.Second

// NewScheduler wires a scheduler; Run starts it. store may be nil (the
// framework ID is then forgotten when the bridge stops), and so may nodes
// (no node taints are then respected). A store that is also an IntentStore
// gets a launch intent before every ACCEPT (see RecoverIntents).
func NewScheduler(fw *Framework, store FrameworkStore, pods PodSource, nodes NodeSource, report PodReporter, exec ExecutorSpec, p Policy) *Scheduler {
	s := &Scheduler{
		fw: fw, store: store, pods: pods, nodes: nodes, report: NewPodWriter(report, defaultAPITimeout), executor: exec, policy: p,
		offers: NewOfferBook(), tasks: NewTaskRegistry(), now: time.Now, apiTimeout: defaultAPITimeout,
		backoff: map[types.UID]relaunch{}, agents: map[string]*agentHold{}, nodeTasks: map[string]*nodeTask{},
		lost: map[types.UID]*lostPod{}, retired: map[string]time.Time{}, unreachable: map[string]string{},
		seenPending: map[types.UID]bool{}, reviveFor: map[types.UID]bool{}, explained: map[types.UID]bool{},
	}
	if is, ok := store.(IntentStore); ok {
		s.intentStore, s.intents = is, NewIntentTable(nil)
	}
	return s
}

// Run subscribes to Mesos and schedules until ctx ends or the master ends the
// framework (an ERROR event), which is returned.
func (s *Scheduler) Run(ctx context.Context) error {
	log := klog.FromContext(ctx)
	if s.store != nil {
		id, err := s.store.Load(ctx)
		if err != nil {
			return err
		}
		if id != "" {
			log.Info("Resuming Mesos framework", "frameworkID", id)
			s.fw.Resume(id)
		}
	}
	if err := s.recoverIntents(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.report.Run(ctx)
	events := make(chan *scheduler.Event, 64)
	go s.fw.Stream(ctx, events)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// The master rescinds a disconnected framework's offers itself.
			return nil
		case e := <-events:
			if err := s.handle(ctx, e); err != nil {
				return err
			}
		drain: // take every event already queued before running a cycle
			for {
				select {
				case e := <-events:
					if err := s.handle(ctx, e); err != nil {
						return err
					}
				default:
					break drain
				}
			}
		case <-s.pods.Changed():
		case <-tick.C:
		}
		if s.subscribed {
			if err := s.cycle(ctx); err != nil {
				if errors.Is(err, ErrDeposed) {
					return err // another bridge leads: stop at once
				}
				log.Error(err, "Scheduling cycle")
			}
		}
	}
}

// handle applies one Mesos event to the scheduler's state.
func (s *Scheduler) handle(ctx context.Context, e *scheduler.Event) error {
	log := klog.FromContext(ctx)
	if err := eventError(e); err != nil {
		log.Error(err, "Ignoring a malformed Mesos event", "type", e.GetType())
		return nil
	}
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		sub := e.GetSubscribed()
		s.fw.setID(sub.FrameworkID.Value)
		if s.store != nil {
			sctx, cancel := context.WithTimeout(ctx, s.apiTimeout)
			err := s.store.Save(sctx, sub.FrameworkID.Value)
			cancel()
			if err != nil {
				// Keep scheduling: only a restart of the bridge needs the stored ID.
				log.Error(err, "Store framework ID")
			}
		}
		log.Info("Subscribed to Mesos", "frameworkID", sub.FrameworkID.Value, "master", sub.GetMasterInfo().GetHostname())
		s.perform(ctx, s.subscribedAt(s.now()))
		if s.drainer != nil {
			s.maintenanceBook().resubscribed()
		}
	case scheduler.Event_OFFERS:
		offers, err := usableOffers(e.GetOffers().GetOffers())
		if err != nil {
			log.Error(err, "Ignoring malformed offers")
		}
		s.offersSeen(ctx, offers)
		s.offers.Add(s.now(), offers...)
		if s.drainer != nil {
			s.maintenanceBook().offers(offers)
		}
	case scheduler.Event_INVERSE_OFFERS:
		if s.drainer != nil {
			s.maintenanceBook().inverseOffers(e.GetInverseOffers().GetInverseOffers())
		}
	case scheduler.Event_RESCIND_INVERSE_OFFER:
		if s.drainer != nil {
			s.maintenanceBook().rescindInverse(e.GetRescindInverseOffer().InverseOfferID.Value)
		}
	case scheduler.Event_RESCIND:
		s.offers.Remove(e.GetRescind().OfferID.Value)
	case scheduler.Event_UPDATE:
		s.perform(ctx, s.update(ctx, e.GetUpdate().GetStatus(), s.now()))
		if err := s.volumes.status(e.GetUpdate().GetStatus()); err != nil {
			log.Error(err, "Ignoring malformed status data")
		}
	case scheduler.Event_FAILURE:
		f := e.GetFailure()
		log.Info("Mesos failure", "agent", f.GetAgentID().GetValue(), "executor", f.GetExecutorID().GetValue(), "status", f.GetStatus())
	case scheduler.Event_ERROR:
		return fmt.Errorf("mesos master ended the framework: %s", e.GetError().GetMessage())
	case scheduler.Event_HEARTBEAT, scheduler.Event_MESSAGE:
	default:
		log.V(2).Info("Ignoring Mesos event", "type", e.GetType())
	}
	return nil
}

// update decides what a task status, received at now, means: it changes the
// scheduler's state (registry, intents, holds, backoffs), queues pod
// writes, and returns the Mesos calls to make (the acknowledgement, a KILL
// of a task that must not run). It makes no call itself.
func (s *Scheduler) update(ctx context.Context, st mesos.TaskStatus, now time.Time) (out []*scheduler.Call) {
	log := klog.FromContext(ctx)
	taskID := st.TaskID.Value
	node := s.nodeOfTask(taskID) // before the task is forgotten
	defer s.noteReachability(ctx, node, st)
	uid, ok := podtask.UIDFromTaskID(taskID)
	t, known := s.tasks.Get(uid)
	if agentID, isNode := podtask.AgentOfNodeTask(taskID); isNode {
		log.V(1).Info("Node task update", statusLogValues(st)...)
		out = s.nodeTaskUpdate(ctx, agentID, st, now)
	} else if ok && known && t.TaskID != taskID {
		out = s.otherLaunch(ctx, t, st, now)
	} else if ok {
		if known {
			s.agentOutcome(ctx, t, st, now)
			s.adopted(ctx, uid, st)
		}
		switch {
		case known:
			// Any news of the task may mean an earlier KILL was lost: the
			// next cycle sends it again if the pod is still gone.
			t.State, t.Unconfirmed, t.Killing = st.GetState(), false, false
			if st.AgentID != nil {
				t.AgentID = st.AgentID.Value
			}
		case !podtask.IsTerminal(st.GetState()) && st.AgentID != nil:
			// A task launched before a restart of the bridge, or whose ACCEPT
			// answer was lost: adopt it so it is never launched twice.
			pod, _ := s.pods.Get(uid)
			ref := podtask.PodRef{UID: uid}
			if pod != nil {
				ref = podtask.RefOf(pod)
			}
			t = s.tasks.Launched(ref, taskID, st.AgentID.Value)
			t.State = st.GetState()
		}
		log.V(1).Info("Task update", statusLogValues(st)...)
		if st.GetState() == mesos.TASK_UNKNOWN {
			// The master does not know the task, typically because its agent
			// has not re-registered after a failover: a bound pod may still
			// run there, so only an unbound one is forgotten (and pending again).
			if pod, ok := s.pods.Get(uid); !ok || pod.Spec.NodeName == "" {
				s.tasks.Forget(uid)
			}
		} else if podtask.IsTerminal(st.GetState()) {
			// The pod becomes pending again only if the executor never bound it
			// (TASK_LOST/DROPPED/ERROR before binding): PodFeed.Pending decides.
			s.tasks.Forget(uid)
			s.podAfterTask(ctx, uid, st, now)
			s.backOffRelaunch(uid, st, now)
		}
	}
	if ok && s.intents != nil {
		s.intents.Status(taskID, st.GetState(), st.GetAgentID().GetValue())
	}
	if len(st.UUID) > 0 && st.AgentID != nil {
		out = append(out, calls.Acknowledge(st.AgentID.Value, taskID, st.UUID))
	}
	return out
}

// subscribedAt decides what a new subscription (first or after a
// reconnect) at now means: offers of an earlier stream are void, filters
// of an earlier subscription may hold offers back (every pending pod
// revives once), and the master is asked about every task the scheduler
// knows (launch intents included) explicitly, before the first cycle can
// launch anything, then implicitly, so the explicit answers come first.
// It returns those reconciliations.
func (s *Scheduler) subscribedAt(now time.Time) []*scheduler.Call {
	s.subscribed = true
	s.offers = NewOfferBook()
	s.suppressed = false
	clear(s.seenPending)
	var out []*scheduler.Call
	var all []*PodTask
	s.tasks.Each(func(t *PodTask) { all = append(all, t) })
	if len(all) > 0 {
		out = append(out, s.reconcileCall(all, now))
	}
	return append(out, calls.Reconcile())
}

// perform makes the calls a decision returned, in order. A failed one is
// logged: each is made again when the news that led to it comes again (an
// unacknowledged update is resent, a task killed once per status heard).
func (s *Scheduler) perform(ctx context.Context, cs []*scheduler.Call) {
	for _, c := range cs {
		if err := s.fw.call(ctx, c); err != nil {
			klog.FromContext(ctx).Error(err, "Mesos call", "type", c.GetType(), "task", callTask(c))
		}
	}
}

// callTask is the task a call is about ("" if none).
func callTask(c *scheduler.Call) string {
	switch c.GetType() {
	case scheduler.Call_ACKNOWLEDGE:
		return c.GetAcknowledge().TaskID.Value
	case scheduler.Call_KILL:
		return c.GetKill().TaskID.Value
	}
	return ""
}

// executorFailed reports whether a terminal status says the executor on the
// task's agent could not run it: its node could not start
// (REASON_EXECUTOR_TERMINATED, from the kubelet-executor or from the agent
// when the executor exited), the agent could not start the executor
// (REASON_CONTAINER_LAUNCH_FAILED) or it never subscribed
// (REASON_EXECUTOR_REGISTRATION_TIMEOUT).
func executorFailed(st mesos.TaskStatus) bool {
	reason, ok := reasonOf(st)
	if !ok || st.GetState() != mesos.TASK_FAILED {
		return false
	}
	switch reason {
	case mesos.REASON_EXECUTOR_TERMINATED, mesos.REASON_CONTAINER_LAUNCH_FAILED, mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT:
		return true
	}
	return false
}

// agentOutcome updates the hold of the agent of a known task: a launch the
// executor failed before the pod was bound holds the agent back (longer
// after every failure in a row); a task the executor reports starting or
// running there ends the hold.
func (s *Scheduler) agentOutcome(ctx context.Context, t *PodTask, st mesos.TaskStatus, now time.Time) {
	agentID := t.AgentID
	if agentID == "" {
		agentID = st.GetAgentID().GetValue()
	}
	if agentID == "" {
		return
	}
	switch st.GetState() {
	case mesos.TASK_STARTING, mesos.TASK_RUNNING:
		if st.GetSource() == mesos.SOURCE_EXECUTOR {
			if h := s.agents[agentID]; h != nil {
				klog.FromContext(ctx).Info("Agent's executor runs pods again", "agent", agentID, "hostname", h.hostname)
				delete(s.agents, agentID)
			}
		}
		return
	}
	if !executorFailed(st) {
		return
	}
	if pod, ok := s.pods.Get(t.Pod.UID); ok && pod.Spec.NodeName != "" {
		return // the executor ended under a bound pod: not a launch failure
	}
	s.holdAgent(ctx, agentID, t.Hostname, st.GetMessage(), now)
}

// holdAgent holds an agent back, from now, after its executor failed a
// launch for cause: longer after every failure in a row, and once for the
// failures of one bring-up.
func (s *Scheduler) holdAgent(ctx context.Context, agentID, hostname, cause string, now time.Time) {
	h := s.agents[agentID]
	if h == nil {
		h = &agentHold{hostname: hostname}
		s.agents[agentID] = h
	}
	if now.Before(h.until) {
		// Launched before the hold began: the same failure (one node
		// bring-up fails every task the executor had), not another one.
		h.cause = cause
		return
	}
	h.failures++
	h.delay = s.policy.AgentBackoff
	for i := 1; i < h.failures && h.delay < s.policy.MaxAgentBackoff; i++ {
		h.delay *= 2
	}
	h.delay = min(h.delay, s.policy.MaxAgentBackoff)
	h.until = now.Add(h.delay)
	h.cause = cause
	klog.FromContext(ctx).Info("Holding back an agent whose executor failed a launch", "agent", agentID, "hostname", h.hostname,
		"failures", h.failures, "for", h.delay, "cause", h.cause)
}

// heldAgent returns the hold of an agent that gets no pod at now.
func (s *Scheduler) heldAgent(agentID string, now time.Time) (*agentHold, bool) {
	h := s.agents[agentID]
	if h == nil || !now.Before(h.until) {
		return nil, false
	}
	return h, true
}

// declineHeld declines the held offers of agents that are held back, with a
// filter until their hold ends, so Mesos offers them to other frameworks
// meanwhile. It returns a note on the held agents for pods that wait ("" if
// none is held).
func (s *Scheduler) declineHeld(ctx context.Context, now time.Time) string {
	byRefuse := map[time.Duration][]string{}
	for _, o := range s.offers.All() {
		if h, held := s.heldAgent(o.AgentID.Value, now); held {
			refuse := h.until.Sub(now).Round(time.Second) + time.Second
			byRefuse[refuse] = append(byRefuse[refuse], o.ID.Value)
		}
	}
	for refuse, ids := range byRefuse {
		s.decline(ctx, ids, refuse)
	}
	var held []string
	for id := range s.agents {
		if h, ok := s.heldAgent(id, now); ok {
			held = append(held, h.describe(id, now, true))
		}
	}
	if len(held) == 0 {
		return ""
	}
	sort.Strings(held)
	return "; " + strings.Join(held, "; ")
}

// describe says for the user which agent is held back, how long and, with
// cause, why.
func (h *agentHold) describe(agentID string, now time.Time, cause bool) string {
	name := h.hostname
	if name == "" {
		name = agentID
	}
	msg := fmt.Sprintf("agent %s held back for %v after %d failed launch(es) in a row",
		name, h.until.Sub(now).Round(100*time.Millisecond), h.failures)
	if cause {
		msg += " (" + h.cause + ")"
	}
	return msg
}

// podAfterTask applies to a bound pod what its ended task, reported at now,
// means for it (relaunchAction; without an adoption window a pod whose
// executor ended is marked Failed).
func (s *Scheduler) podAfterTask(ctx context.Context, uid types.UID, st mesos.TaskStatus, now time.Time) {
	pod, _ := s.pods.Get(uid)
	_, waiting := s.lost[uid]
	act := relaunchAction(st, pod, waiting)
	if act == RelaunchPod && s.policy.AdoptWindow <= 0 {
		act = FailPod
	}
	if act == RelaunchPod {
		s.awaitRelaunch(ctx, pod, st, now)
		return
	}
	delete(s.lost, uid)
	switch act {
	case FailPod:
		s.report.Fail(pod, FailureReason(st), FailureMessage(st))
	case DeletePod:
		s.report.ForceDelete(pod, FailureMessage(st))
	}
}

// cycle is one level-based pass: expire offers, kill tasks of deleted pods,
// place pending pods on held offers, and tell Mesos what the bridge needs.
func (s *Scheduler) cycle(ctx context.Context) error {
	if err := s.commitIntents(ctx); errors.Is(err, ErrDeposed) {
		return err
	}
	now := s.now()
	if ids := s.offers.Expired(now, s.policy.OfferTTL); len(ids) > 0 {
		s.decline(ctx, ids, s.policy.DeclineFor)
	}
	s.killOrphans(ctx)
	s.reconcileUnconfirmed(ctx, now)
	heldNote := s.declineHeld(ctx, now)
	s.maintain(ctx, now) // before node tasks and pods: a draining agent gets neither
	s.retireStaleExecutors(ctx, now)
	if err := s.relaunchLost(ctx, now); errors.Is(err, ErrDeposed) {
		return err
	}
	if s.policy.NodeTasks {
		s.launchNodeTasks(ctx, now)
	}
	s.reclaimVolumes(ctx)

	pending := s.pendingPods()
	s.notePending(pending)
	if len(pending) == 0 {
		s.placementState().pending.recordNoOffers(now, nil)
		s.declineAll(ctx, s.policy.IdleDeclineFor)
		if !s.suppressed && !s.policy.NodeTasks && !s.awaitingRelaunch() {
			if err := s.fw.call(ctx, calls.Suppress()); err != nil {
				return err
			}
			s.suppressed = true
		}
		return nil
	}
	if s.suppressed {
		// Nothing is offered while suppressed, whatever is held back.
		s.revive(ctx, now)
	}
	if s.offers.Len() == 0 {
		s.placementState().pending.recordNoOffers(now, pending)
		s.reviveIfNew(ctx, now, pending)
		s.reportNoOffers(pending, now, heldNote)
		return nil
	}
	unplaced, err := s.place(ctx, pending, heldNote)
	s.reviveIfNew(ctx, now, unplaced)
	return err
}

// notePending records which pods became pending since the last cycle.
func (s *Scheduler) notePending(pending []*corev1.Pod) {
	now := make(map[types.UID]bool, len(pending))
	for _, p := range pending {
		now[p.UID] = true
		if !s.seenPending[p.UID] {
			s.reviveFor[p.UID] = true
		}
	}
	for uid := range s.reviveFor {
		if !now[uid] {
			delete(s.reviveFor, uid) // launched, deleted or backing off
		}
	}
	for uid := range s.explained {
		if !now[uid] {
			delete(s.explained, uid)
		}
	}
	s.seenPending = now
}

// reviveIfNew revives (at most every ReviveEvery) when one of the pods that
// still wait became pending since the last REVIVE. Other changes need none:
// Mesos filters a declined agent's offer only while it is a subset of what
// was declined (the allocator's RefusedOfferFilter), so resources freed by
// an ended task, or a new agent, are offered despite the filters.
func (s *Scheduler) reviveIfNew(ctx context.Context, now time.Time, waiting []*corev1.Pod) {
	for _, p := range waiting {
		if s.reviveFor[p.UID] {
			if now.Sub(s.lastRevive) >= s.policy.ReviveEvery {
				s.revive(ctx, now)
			}
			return
		}
	}
}

// revive sends REVIVE, which clears the framework's decline filters and
// ends a SUPPRESS. A failed one is tried again by a later cycle.
func (s *Scheduler) revive(ctx context.Context, now time.Time) {
	if err := s.fw.call(ctx, calls.Revive()); err != nil {
		klog.FromContext(ctx).Error(err, "Revive offers")
		return
	}
	klog.FromContext(ctx).V(1).Info("Revived offers", "for", len(s.reviveFor))
	s.suppressed, s.lastRevive = false, now
	clear(s.reviveFor)
}

// MessageNoOffers is what a pod that has waited longer than the offer TTL is
// told while Mesos offers the framework nothing at all (invariant 2: every
// pending pod is launched or says why).
const MessageNoOffers = "0/0 offers: Mesos offers this framework no resources (the agents' resources are in use, reserved for other roles, or filtered)"

// reportNoOffers explains the wait of pods pending longer than the offer TTL
// while no offer is held, unless an attempt over offers told them why.
func (s *Scheduler) reportNoOffers(pending []*corev1.Pod, now time.Time, heldNote string) {
	for _, p := range pending {
		if !s.explained[p.UID] && now.Sub(p.CreationTimestamp.Time) >= s.policy.OfferTTL {
			s.report.Unschedulable(p, MessageNoOffers+heldNote)
		}
	}
}

// pendingPods are the pods waiting for a node that the bridge has not launched.
// A pod that is backing off is left out; entries of pods no longer pending
// are dropped.
func (s *Scheduler) pendingPods() []*corev1.Pod {
	now := s.now()
	var out []*corev1.Pod
	waiting := map[types.UID]bool{}
	for _, p := range s.pods.Pending() {
		if _, launched := s.tasks.Get(p.UID); launched {
			continue
		}
		if b, ok := s.backoff[p.UID]; ok {
			waiting[p.UID] = true
			if now.Before(b.at) {
				continue
			}
		}
		out = append(out, p)
	}
	for uid := range s.backoff {
		if !waiting[uid] {
			delete(s.backoff, uid)
		}
	}
	return out
}

// backOffRelaunch delays the next launch of a pod whose task ended before the
// pod was bound (the executor could not start, the bind was refused, …), so a
// pod that cannot start does not churn Mesos every cycle, and tells the user
// why. Ends that are no fault of the launch (a reconciliation answer for a
// task the master never saw, a stale offer) are retried at once.
func (s *Scheduler) backOffRelaunch(uid types.UID, st mesos.TaskStatus, now time.Time) {
	pod, ok := s.pods.Get(uid)
	if !ok || !k8sapi.IsPending(pod) {
		return
	}
	if reason, ok := reasonOf(st); ok && (reason == mesos.REASON_RECONCILIATION || reason == mesos.REASON_INVALID_OFFERS) {
		return
	}
	delay := s.policy.RelaunchBackoff
	if b, ok := s.backoff[uid]; ok {
		delay = min(2*b.delay, s.policy.MaxRelaunchBackoff)
	}
	s.backoff[uid] = relaunch{at: now.Add(delay), delay: delay}
	msg := fmt.Sprintf("%s; launching again in %v", FailureMessage(st), delay)
	if agentID := st.GetAgentID().GetValue(); agentID != "" {
		if h, held := s.heldAgent(agentID, now); held {
			msg += ", not on " + h.describe(agentID, now, false)
		}
	}
	s.report.Unschedulable(pod, msg)
}

// killOrphans kills the tasks whose pod no longer exists.
func (s *Scheduler) killOrphans(ctx context.Context) {
	log := klog.FromContext(ctx)
	s.tasks.Each(func(t *PodTask) {
		if t.Killing || t.Terminal() {
			return
		}
		if _, exists := s.pods.Get(t.Pod.UID); exists {
			return
		}
		if err := s.fw.call(ctx, calls.Kill(t.TaskID, t.AgentID)); err != nil {
			log.Error(err, "Kill task of deleted pod", "task", t.TaskID)
			return
		}
		log.Info("Killing task of deleted pod", "task", t.TaskID, "pod", t.Pod.String())
		t.Killing = true
	})
}

// reconcileRetry is how often the bridge asks again about a task whose
// launch was never confirmed, until the master answers.
const reconcileRetry = 10 * time.Second

// reconcileCall is the explicit reconciliation of tasks, asked at now.
func (s *Scheduler) reconcileCall(tasks []*PodTask, now time.Time) *scheduler.Call {
	ids := make(map[string]string, len(tasks))
	for _, t := range tasks {
		ids[t.TaskID] = t.AgentID
		t.asked = now
	}
	return calls.Reconcile(calls.ReconcileTasks(ids))
}

// reconcileUnconfirmed asks again about the tasks whose ACCEPT failed and of
// which the master has said nothing since.
func (s *Scheduler) reconcileUnconfirmed(ctx context.Context, now time.Time) {
	var ask []*PodTask
	s.tasks.Each(func(t *PodTask) {
		if t.Unconfirmed && now.Sub(t.asked) >= reconcileRetry {
			ask = append(ask, t)
		}
	})
	if len(ask) > 0 {
		s.perform(ctx, []*scheduler.Call{s.reconcileCall(ask, now)})
	}
}

// place matches pending pods to held offers and launches what fits; it
// returns the pods that fit none.
func (s *Scheduler) place(ctx context.Context, pending []*corev1.Pod, heldNote string) (unplaced []*corev1.Pod, err error) {
	log := klog.FromContext(ctx)
	byUID := make(map[string]*corev1.Pod, len(pending))
	reqs := make([]offermatcher.PodRequest, 0, len(pending))
	for _, p := range pending {
		req := offermatcher.FromPod(p, s.policy.MinPod)
		claims, err := s.volumes.claims(p)
		if err != nil {
			s.report.Unschedulable(p, err.Error())
			s.explained[p.UID] = true // the claim's reason stands, offers or none
			unplaced = append(unplaced, p)
			continue
		}
		req.Claims = claims
		byUID[string(p.UID)] = p
		reqs = append(reqs, req)
	}
	held := s.offers.All()
	offers := s.placementOffers(held)
	cluster := s.placementCluster(offers)
	cluster.Explain = true // for the pending log
	plan := cluster.Match(reqs, offers)
	s.placementState().pending.recordPlan(s.now(), offers, plan, byUID)

	byOffer := map[string][]offermatcher.Assignment{}
	for _, a := range plan.Assignments {
		byOffer[a.OfferID] = append(byOffer[a.OfferID], a)
	}
	var firstErr error
	for _, o := range held {
		as := byOffer[o.ID.Value]
		if len(as) == 0 {
			continue
		}
		if _, err := s.launchOn(ctx, o, as, byUID); err != nil {
			if errors.Is(err, ErrDeposed) {
				return nil, err
			}
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if len(plan.Unplaced) > 0 {
		// What is left fits no pending pod: holding it until the TTL would
		// only keep it from other frameworks (and count against our role's
		// share). A new pending pod revives.
		var unused []string
		for _, o := range held {
			if len(byOffer[o.ID.Value]) == 0 {
				unused = append(unused, o.ID.Value)
			}
		}
		s.decline(ctx, unused, s.policy.DeclineFor)
	}
	for _, u := range plan.Unplaced {
		if pod, ok := byUID[u.Pod.UID]; ok {
			msg := u.Reasons.String() + heldNote
			log.V(1).Info("Pod fits no offer", "pod", klog.KObj(pod), "reasons", msg)
			s.report.Unschedulable(pod, msg)
			s.explained[pod.UID] = true
			unplaced = append(unplaced, pod)
		}
	}
	return unplaced, firstErr
}

// placementOffers reduces held offers to what placement needs, setting aside
// the executor's own resources on agents where it does not run yet, with
// the taints of the agent's Node.
func (s *Scheduler) placementOffers(held []mesos.Offer) []offermatcher.Offer {
	out := make([]offermatcher.Offer, 0, len(held))
	for _, o := range held {
		res := fromMesos(o.Resources)
		running := s.executor.runsOn(o)
		if !running {
			res = minus(res, s.executor.Resources)
		}
		agent := podtask.AgentOfOffer(&o)
		labels, _ := podtask.NodeLabels(agent) // skipped attributes are the executor's to log
		name := podtask.NodeName(agent.Hostname)
		var taints []corev1.Taint
		if s.nodes != nil {
			taints = s.nodes.Taints(name)
			if !running {
				taints = withoutConditionTaints(taints)
			}
		}
		var execDisk int64
		if !running {
			execDisk = s.executor.Resources.DiskMB
		}
		out = append(out, offermatcher.Offer{
			ID: o.ID.Value, AgentID: o.AgentID.Value, NodeName: name,
			Labels: labels, Taints: taints, Resources: res,
			Volumes: podtask.VolumeIDs(o.Resources), UnreservedDiskMB: s.volumes.unreservedDiskMB(&o, execDisk),
			Revocable: s.revocableOffer(&o, running),
		})
	}
	return out
}

// withoutConditionTaints drops the not-ready and unreachable taints. On an
// agent where the executor does not run, they describe the node of an
// executor that is gone (the Node object outlives it), and the next launch
// there starts a new one: honouring them would keep the agent's node down
// for good.
func withoutConditionTaints(taints []corev1.Taint) []corev1.Taint {
	isCondition := func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	}
	if !slices.ContainsFunc(taints, isCondition) {
		return taints
	}
	return slices.DeleteFunc(slices.Clone(taints), isCondition)
}

// minus subtracts b's scalars from a, never below zero.
func minus(a, b offermatcher.Resources) offermatcher.Resources {
	a.MilliCPU = max(0, a.MilliCPU-b.MilliCPU)
	a.MemoryMB = max(0, a.MemoryMB-b.MemoryMB)
	a.DiskMB = max(0, a.DiskMB-b.DiskMB)
	return a
}

// decline declines offers with a refuse filter. They leave the book only once
// the master took the DECLINE: until then the master counts them as held, so
// the next cycle declines them again.
func (s *Scheduler) decline(ctx context.Context, ids []string, refuse time.Duration) {
	if len(ids) == 0 {
		return
	}
	oids := make([]mesos.OfferID, len(ids))
	for i, id := range ids {
		oids[i] = mesos.OfferID{Value: id}
	}
	if err := s.fw.call(ctx, calls.Decline(oids...).With(calls.RefuseSeconds(refuse))); err != nil {
		klog.FromContext(ctx).Error(err, "Decline offers", "offers", ids)
		return
	}
	s.offers.Remove(ids...)
}

func (s *Scheduler) declineAll(ctx context.Context, refuse time.Duration) {
	s.decline(ctx, s.offers.IDs(), refuse)
}

// launchOn launches the pods of assignments as on offer o: each is recorded
// in the TaskRegistry under a new task ID, their launch intents are written
// (no intent, no ACCEPT), then one ACCEPT(LAUNCH …) takes the offer. It
// returns the tasks sent: also when the ACCEPT failed, as the master may have
// launched them all the same (they are then unconfirmed, and asked about).
func (s *Scheduler) launchOn(ctx context.Context, o mesos.Offer, as []offermatcher.Assignment, byUID map[string]*corev1.Pod) ([]*PodTask, error) {
	exec := s.executor.executorInfo(s.fw.ID(), offerRole(o))
	tasks := make([]mesos.TaskInfo, 0, len(as))
	recorded := make([]*PodTask, 0, len(as))
	var volumeOps []mesos.Offer_Operation // RESERVE, CREATE before the LAUNCH
	for _, a := range as {
		pod := byUID[a.Pod.UID]
		ref := podtask.RefOf(pod)
		at := s.nextAttempt()
		ti := podTaskInfo(a, ref, at, o, s.executorFor(&a, &o, exec))
		ops, vols, err := s.volumes.volumeLaunch(a, pod, &o, s.fw.opts.Principal, &ti)
		if err != nil {
			s.report.Unschedulable(pod, err.Error())
			continue
		}
		volumeOps = append(volumeOps, ops...)
		tasks = append(tasks, ti)
		t := s.tasks.Launched(ref, podtask.TaskID(ref.UID, at), o.AgentID.Value) // write-ahead: never launched twice
		t.Hostname, t.Volumes = o.Hostname, vols
		recorded = append(recorded, t)
		s.report.Forget(pod.UID)
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	if err := s.writeIntents(ctx, o, recorded); err != nil {
		// Not launched: nothing may be sent without its intent stored.
		for _, t := range recorded {
			s.tasks.Forget(t.Pod.UID)
		}
		return nil, err
	}
	for _, t := range recorded {
		s.volumes.launched(t.TaskID, t.Volumes, false)
	}
	s.offers.Remove(o.ID.Value)
	accept := calls.Accept(calls.OfferOperations(append(volumeOps, calls.OpLaunch(tasks...))).WithOffers(o.ID)).
		With(calls.RefuseSeconds(0))
	if err := s.fw.call(ctx, accept); err != nil {
		// The master may have launched the tasks all the same (only its
		// answer was lost): keep them, so no pod is launched twice, and
		// ask what became of them. A task the master does not know comes
		// back TASK_GONE and its pod pending. The offer is given back in
		// case it was not used (a decline of a used offer is ignored).
		for _, t := range recorded {
			t.Unconfirmed = true
		}
		s.perform(ctx, []*scheduler.Call{s.reconcileCall(recorded, s.now())})
		s.decline(ctx, []string{o.ID.Value}, s.policy.DeclineFor)
		return recorded, err
	}
	for _, t := range tasks {
		klog.FromContext(ctx).Info("Launched pod", "pod", t.Name, "task", t.TaskID.Value, "agent", o.Hostname, "offer", o.ID.Value)
	}
	return recorded, nil
}
