package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// The bridge's side of the hot update (#11, docs/decisions.md "Executor
// upgrades"). A kubelet-executor that dies (kill -9, a crash) or retires for
// an upgrade takes its tasks with it: its agent reports them TASK_FAILED /
// REASON_EXECUTOR_TERMINATED. Its pods' containers keep running and the
// pods stay bound. Within Policy.AdoptWindow the bridge launches each such
// pod again, as a new task on the same agent charging the same resources,
// from the first offer of that agent it fits, so that the agent's next
// executor (of the configuration the bridge runs now) adopts it. A pod no
// offer of its agent fits within the window is evicted (phase Failed,
// ReasonExecutorLost) so that its controller replaces it.

// ReasonExecutorLost is the status reason of a pod evicted because its
// executor ended under it and no offer of its agent took it again within the
// adoption window.
const ReasonExecutorLost = "MesosExecutorLost"

// lostPod is a bound pod whose executor ended under it: it waits for an
// offer of its agent to be launched again there.
type lostPod struct {
	Pod     podtask.PodRef
	AgentID string
	// Node is the pod's node: the offer must be of that node's agent.
	Node string
	// Deadline is the end of the adoption window, from the first loss.
	Deadline time.Time
	// Cause is what Mesos said of the task that ended (FailureMessage).
	Cause string
	// TaskID is the relaunch's task while it is on its way, "" while the
	// pod waits for an offer.
	TaskID string
}

// relaunchAction decides what a terminal status of a bound pod's task means
// when its executor may be gone: RelaunchPod when the agent says the
// executor ended under the pod (Action), and also when a relaunch of a pod
// that already waits (waiting) failed before it could run: the new executor
// could not run it (executorFailed: it could not start, did not subscribe),
// or the launch never reached an agent (relaunchNeverRan); it is tried again
// until the window ends. Otherwise the pod's fate is Action's.
func relaunchAction(st mesos.TaskStatus, pod *corev1.Pod, waiting bool) PodAction {
	act := Action(st, pod)
	if waiting && act != RelaunchPod && boundAndAlive(pod) && (executorFailed(st) || relaunchNeverRan(st)) {
		return RelaunchPod
	}
	return act
}

// relaunchNeverRan reports whether a terminal status says its launch never
// ran on the agent: the master did not know the task (an ACCEPT whose answer
// was lost and that never arrived), refused the offer, or dropped the task.
// For a pod whose executor ended, that says nothing of the pod.
func relaunchNeverRan(st mesos.TaskStatus) bool {
	if reason, ok := reasonOf(st); ok && (reason == mesos.REASON_RECONCILIATION || reason == mesos.REASON_INVALID_OFFERS) {
		return true
	}
	return st.GetState() == mesos.TASK_DROPPED
}

// relaunchPlan is what planRelaunches decided.
type relaunchPlan struct {
	// Launch are the pods to launch again, by offer ID.
	Launch map[string][]offermatcher.Assignment
	// Evict are the pods whose adoption window ended.
	Evict []*lostPod
	// Drop are the pods that wait no more: deleted, ended, or bound
	// elsewhere meanwhile.
	Drop []types.UID
}

// planRelaunches decides, at now, which of the lost pods are launched again
// on which offer of their own agent (offers as placement sees them, the
// executor's own resources set aside where it does not run), which are
// evicted, and which need nothing more. A pod gets its own requests (what
// its first launch was charged, offermatcher.FromPod with minPod) and its
// host ports, nothing else is checked: it already runs on that node. Pods
// are planned in UID order; held agents get none. Pure.
func planRelaunches(lost map[types.UID]*lostPod, pod func(types.UID) (*corev1.Pod, bool), offers []offermatcher.Offer,
	minPod offermatcher.Resources, held func(agentID string) bool, now time.Time) relaunchPlan {
	plan := relaunchPlan{Launch: map[string][]offermatcher.Assignment{}}
	byAgent := map[string][]offermatcher.PodRequest{}
	uids := make([]types.UID, 0, len(lost))
	for uid := range lost {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	for _, uid := range uids {
		lp := lost[uid]
		p, ok := pod(uid)
		if !ok || !boundAndAlive(p) || p.Spec.NodeName != lp.Node {
			plan.Drop = append(plan.Drop, uid)
			continue
		}
		if lp.TaskID != "" {
			continue // launched again: its status decides
		}
		if !now.Before(lp.Deadline) {
			plan.Evict = append(plan.Evict, lp)
			continue
		}
		if held(lp.AgentID) {
			continue
		}
		full := offermatcher.FromPod(p, minPod)
		byAgent[lp.AgentID] = append(byAgent[lp.AgentID], offermatcher.PodRequest{
			Key: full.Key, UID: full.UID, Namespace: full.Namespace, Resources: full.Resources})
	}
	agents := make([]string, 0, len(byAgent))
	for a := range byAgent {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	for _, agent := range agents {
		var mine []offermatcher.Offer
		for _, o := range offers {
			if o.AgentID == agent {
				o.Taints, o.Labels = nil, nil // the pod is on this node already
				mine = append(mine, o)
			}
		}
		if len(mine) == 0 {
			continue
		}
		for _, a := range offermatcher.Match(byAgent[agent], mine).Assignments {
			if lost[types.UID(a.Pod.UID)].Node == nodeOfOffer(mine, a.OfferID) {
				plan.Launch[a.OfferID] = append(plan.Launch[a.OfferID], a)
			}
		}
	}
	return plan
}

// nodeOfOffer is the node name of the offer with that ID.
func nodeOfOffer(offers []offermatcher.Offer, id string) string {
	for _, o := range offers {
		if o.ID == id {
			return o.NodeName
		}
	}
	return ""
}

// boundAndAlive reports whether a pod is bound to a node, not being deleted
// and not terminated: one whose containers may run there.
func boundAndAlive(p *corev1.Pod) bool {
	return p != nil && p.Spec.NodeName != "" && p.DeletionTimestamp == nil &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// awaitRelaunch records, at now, a bound pod whose executor ended under it
// (st): it waits for an offer of its agent until the adoption window, counted
// from its first loss, ends.
func (s *Scheduler) awaitRelaunch(ctx context.Context, pod *corev1.Pod, st mesos.TaskStatus, now time.Time) {
	lp := s.lost[pod.UID]
	if lp != nil && lp.TaskID != "" && lp.TaskID != st.TaskID.Value {
		return // news of an earlier launch: the relaunch's own status decides
	}
	if lp == nil {
		lp = &lostPod{Pod: podtask.RefOf(pod), Node: pod.Spec.NodeName, Deadline: now.Add(s.policy.AdoptWindow)}
		s.lost[pod.UID] = lp
	}
	lp.AgentID, lp.TaskID, lp.Cause = st.GetAgentID().GetValue(), "", FailureMessage(st)
	klog.FromContext(ctx).Info("Executor ended under a pod; launching it again on its agent for adoption",
		"pod", klog.KObj(pod), "agent", lp.AgentID, "until", lp.Deadline, "cause", lp.Cause)
}

// adopted forgets a lost pod whose relaunched task the new executor reports
// starting or running: it was adopted.
func (s *Scheduler) adopted(ctx context.Context, uid types.UID, st mesos.TaskStatus) {
	lp := s.lost[uid]
	if lp == nil || lp.TaskID != st.TaskID.Value || st.GetSource() != mesos.SOURCE_EXECUTOR {
		return
	}
	if st.GetState() == mesos.TASK_STARTING || st.GetState() == mesos.TASK_RUNNING {
		klog.FromContext(ctx).Info("Pod adopted by its agent's new executor", "pod", lp.Pod.String(), "task", lp.TaskID)
		delete(s.lost, uid)
	}
}

// relaunchLost performs planRelaunches at now: the pods it launches go out
// on their offers (intents first, as every launch), the evicted are marked
// Failed with ReasonExecutorLost. While any pod waits, offers are wanted: a
// suppressed framework revives.
func (s *Scheduler) relaunchLost(ctx context.Context, now time.Time) error {
	if len(s.lost) == 0 {
		return nil
	}
	held := s.offers.All()
	plan := planRelaunches(s.lost, s.pods.Get, s.placementOffers(held), s.policy.MinPod,
		func(agentID string) bool { _, h := s.heldAgent(agentID, now); return h }, now)
	for _, uid := range plan.Drop {
		delete(s.lost, uid)
	}
	for _, lp := range plan.Evict {
		delete(s.lost, lp.Pod.UID)
		if pod, ok := s.pods.Get(lp.Pod.UID); ok {
			msg := fmt.Sprintf("evicted: its kubelet-executor on agent %s ended under it and no offer of that agent fit the pod again within %v (%s)",
				lp.AgentID, s.policy.AdoptWindow, lp.Cause)
			klog.FromContext(ctx).Info("Evicting a pod whose executor ended", "pod", klog.KObj(pod), "message", msg)
			s.report.Fail(pod, ReasonExecutorLost, msg)
		}
	}
	var firstErr error
	for _, o := range held {
		as := plan.Launch[o.ID.Value]
		if len(as) == 0 {
			continue
		}
		pods := make(map[string]*corev1.Pod, len(as))
		for _, a := range as {
			pods[a.Pod.UID], _ = s.pods.Get(types.UID(a.Pod.UID))
		}
		launched, err := s.launchOn(ctx, o, as, pods)
		for _, t := range launched {
			s.lost[t.Pod.UID].TaskID = t.TaskID
		}
		if err != nil {
			if errors.Is(err, ErrDeposed) {
				return err
			}
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if s.suppressed && len(s.lost) > 0 {
		s.revive(ctx, now)
	}
	return firstErr
}

// awaitingRelaunch reports whether a lost pod still waits for an offer.
func (s *Scheduler) awaitingRelaunch() bool {
	for _, lp := range s.lost {
		if lp.TaskID == "" {
			return true
		}
	}
	return false
}

// retireEvery is how often a kubelet-executor of an earlier configuration
// is asked again to retire.
const retireEvery = 10 * time.Second

// retireStale decides, at now, about the offers of agents that run a
// kubelet-executor of another configuration than this bridge's (the bridge
// was restarted with a new --executor-command or URIs). Launching there
// would start a second executor, and a second kubelet, for the same node; so
// those offers are to be declined, and the old executor is asked (MESSAGE
// podtask.MessageRetire, at most every retireEvery per agent) to exit
// without draining its node. Its agent then ends its tasks with
// REASON_EXECUTOR_TERMINATED, and their pods are launched again onto the new
// executor, which adopts them. It returns the MESSAGE calls and the offers to decline.
func (s *Scheduler) retireStale(ctx context.Context, now time.Time) (msgs []*scheduler.Call, decline []string) {
	for _, o := range s.offers.All() {
		old := s.executor.staleOn(o)
		if old == "" {
			continue
		}
		decline = append(decline, o.ID.Value)
		key := o.AgentID.Value + "/" + old
		if now.Sub(s.retired[key]) < retireEvery {
			continue
		}
		s.retired[key] = now
		klog.FromContext(ctx).Info("Asking an executor of an earlier configuration to retire", "agent", o.Hostname,
			"executor", old, "new", s.executor.ID())
		msgs = append(msgs, calls.Message(o.AgentID.Value, old, []byte(podtask.MessageRetire)))
	}
	return msgs, decline
}

// retireStaleExecutors performs retireStale: the messages, then the
// declines, with a short filter, as the agent's next offer (once the old
// executor is gone) is wanted.
func (s *Scheduler) retireStaleExecutors(ctx context.Context, now time.Time) {
	msgs, decline := s.retireStale(ctx, now)
	s.perform(ctx, msgs)
	s.decline(ctx, decline, time.Second)
}
