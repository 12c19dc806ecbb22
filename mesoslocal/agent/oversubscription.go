package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// Oversubscription (Mesos' docs/oversubscription.md): a resource estimator
// tells the agent how much can be oversubscribed; the agent reports the
// total to the master, which offers it as revocable resources to
// frameworks with the REVOCABLE_RESOURCES capability; a QoS controller
// kills revocable containers when the estimate no longer covers them.

// Names of the resource estimator and QoS controller modules an agent can
// be given (Mesos' --resource_estimator and --qos_controller).
const (
	// FixedResourceEstimator is Mesos' org_apache_mesos_FixedResourceEstimator:
	// it reports a fixed amount (its module parameter "resources", here
	// Config.ResourceEstimatorResources) as oversubscribable.
	FixedResourceEstimator = "org_apache_mesos_FixedResourceEstimator"
	// EstimateQoSController is mesoslocal's QoS controller (Mesos ships
	// none that looks at the estimate): every correction interval it kills
	// revocable containers, in the order of their framework and executor
	// IDs, until the revocable resources still in use fit in the current
	// estimate.
	EstimateQoSController = "mesoslocal_EstimateQoSController"
)

// MessageQoSPreempted is the message of the updates of tasks a QoS
// correction killed.
const MessageQoSPreempted = "Container preempted by QoS correction"

// ErrNoResourceEstimator: the agent has no estimator whose estimate can be
// changed.
var ErrNoResourceEstimator = errors.New("the agent runs no " + FixedResourceEstimator)

// termination is what a run's tasks end with when it was destroyed on
// purpose (Mesos' Executor::pendingTermination).
type termination struct {
	state   mesos.TaskState
	reason  mesos.TaskStatus_Reason
	message string
}

// estimatorConfig parses the oversubscription settings of cfg: the fixed
// estimate (nil without an estimator).
func estimatorConfig(cfg *Config) (mesos.Resources, error) {
	switch cfg.ResourceEstimator {
	case "":
		if cfg.ResourceEstimatorResources != "" {
			return nil, fmt.Errorf("--resource_estimator_resources needs --resource_estimator=%s", FixedResourceEstimator)
		}
	case FixedResourceEstimator:
	default:
		return nil, fmt.Errorf("--resource_estimator: unknown estimator %q (want %s)", cfg.ResourceEstimator, FixedResourceEstimator)
	}
	switch cfg.QoSController {
	case "", EstimateQoSController:
	default:
		return nil, fmt.Errorf("--qos_controller: unknown controller %q (want %s)", cfg.QoSController, EstimateQoSController)
	}
	if cfg.ResourceEstimator == "" {
		return nil, nil
	}
	return parseEstimate(cfg.ResourceEstimatorResources)
}

// parseEstimate reads a fixed estimate in --resources syntax and marks it
// revocable, as the FixedResourceEstimator does with its parameter.
func parseEstimate(s string) (mesos.Resources, error) {
	rs, err := resources.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--resource_estimator_resources: %w", err)
	}
	return resources.MakeRevocable(rs), nil
}

// SetResourceEstimate replaces the fixed estimator's estimate at runtime
// (resources in --resources syntax; "" oversubscribes nothing). The agent
// reports the new total at once and, with the EstimateQoSController,
// kills the revocable containers the smaller estimate no longer covers.
func (a *Agent) SetResourceEstimate(s string) error {
	if a.cfg.ResourceEstimator != FixedResourceEstimator {
		return ErrNoResourceEstimator
	}
	rs, err := parseEstimate(s)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.estimate = rs
	a.mu.Unlock()
	klog.InfoS("Resource estimate changed", "oversubscribable", rs.String())
	a.pokeOversubscription()
	return nil
}

func (a *Agent) pokeOversubscription() {
	select {
	case a.oversubscriptionPoke <- struct{}{}:
	default:
	}
}

// oversubscriptionLoop polls the estimator every
// OversubscribedResourcesInterval (and at once when the estimate changed or
// the agent registered), forwards a changed total to the master, and runs
// the QoS controller every QoSCorrectionIntervalMin.
func (a *Agent) oversubscriptionLoop(ctx context.Context) {
	estimate := time.NewTicker(a.cfg.OversubscribedResourcesInterval)
	defer estimate.Stop()
	correct := time.NewTicker(a.cfg.QoSCorrectionIntervalMin)
	defer correct.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-estimate.C:
		case <-a.oversubscriptionPoke:
		case <-correct.C:
		}
		a.forwardOversubscribed(ctx)
		a.mu.Lock()
		a.qosCorrectLocked()
		a.mu.Unlock()
	}
}

// forwardOversubscribed sends the master the agent's oversubscribed total
// when it changed since the last report or the agent (re-)registered.
// With the fixed estimator the total is the estimate itself: Mesos' fixed
// estimator reports the estimate minus the revocable resources in use as
// oversubscribable, and the agent adds those back.
func (a *Agent) forwardOversubscribed(ctx context.Context) {
	a.mu.Lock()
	if a.cfg.ResourceEstimator == "" || !a.connected || (!a.forwardEstimate && resources.Equal(a.estimate, a.sentEstimate)) {
		a.mu.Unlock()
		return
	}
	total := a.estimate.Clone()
	msg := link.Oversubscribed{AgentID: a.id}
	for i := range total {
		msg.Resources = append(msg.Resources, link.Marshal(&total[i]))
	}
	a.mu.Unlock()
	if err := a.post(ctx, link.PathOversubscribed, msg); err != nil {
		klog.InfoS("Reporting oversubscribed resources failed; retrying", "err", err)
		return
	}
	a.mu.Lock()
	if a.id == msg.AgentID {
		a.sentEstimate, a.forwardEstimate = total, false
	}
	a.mu.Unlock()
	klog.InfoS("Reported oversubscribed resources", "agent", msg.AgentID, "resources", total.String())
}

// runResources sums what a run's executor and live tasks hold.
func runResources(r *executorRun) mesos.Resources {
	var rs mesos.Resources
	if !r.command {
		rs.Add(resources.Unallocated(r.info.Resources)...)
	}
	for _, t := range r.tasks {
		if !isTerminal(t.state) {
			rs.Add(resources.Unallocated(t.info.Resources)...)
		}
	}
	return rs
}

// qosCorrectLocked is the EstimateQoSController: while the revocable
// resources of the live containers do not fit in the estimate, it kills
// one more revocable container (a container with any revocable resource is
// revocable as a whole, as in Mesos).
func (a *Agent) qosCorrectLocked() {
	if a.cfg.QoSController != EstimateQoSController || a.stopped {
		return
	}
	type candidate struct {
		fw        *frameworkState
		r         *executorRun
		revocable mesos.Resources
	}
	var cands []candidate
	var inUse mesos.Resources
	for _, fw := range a.frameworks {
		for _, r := range fw.executors {
			if r.exited || r.termination != nil {
				continue
			}
			if rev := resources.Revocable(runResources(r)); len(rev) > 0 {
				cands = append(cands, candidate{fw, r, rev})
				inUse.Add(rev...)
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].r.fwID != cands[j].r.fwID {
			return cands[i].r.fwID < cands[j].r.fwID
		}
		return cands[i].r.info.ExecutorID.Value < cands[j].r.info.ExecutorID.Value
	})
	for _, c := range cands {
		if resources.Contains(a.estimate, inUse) {
			return
		}
		a.preemptLocked(c.fw, c.r)
		inUse.Subtract(c.revocable...)
	}
}

// preemptLocked carries out a QoS kill correction on run r, as Mesos'
// Slave::_qosCorrections: the container is destroyed and its tasks end
// TASK_GONE (PARTITION_AWARE frameworks) or TASK_LOST, REASON_CONTAINER_PREEMPTED,
// SOURCE_AGENT.
func (a *Agent) preemptLocked(fw *frameworkState, r *executorRun) {
	state := mesos.TASK_LOST
	if fw.partitionAware() {
		state = mesos.TASK_GONE
	}
	term := &termination{state: state, reason: mesos.REASON_CONTAINER_PREEMPTED, message: MessageQoSPreempted}
	r.termination = term
	for _, c := range r.children {
		c.termination = term
	}
	klog.InfoS("QoS correction: killing revocable container", "framework", r.fwID, "executor", r.info.ExecutorID.Value, "container", r.containerID)
	r.shutdown = true
	a.terminateLocked(r, 0)
}
