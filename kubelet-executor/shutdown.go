package kubeletexecutor

import (
	"context"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
)

// shutdown drains the node: it cordons it, deletes every pod with its grace
// period (the KILL's, else the pod's own, at most 60% of the agent's
// shutdown grace period), waits for them (force-deleting what is left when
// the time is up), reports TASK_KILLED, and only then stops the node (the
// kubelet last) and cleans it up.
func (e *Executor) shutdown(ctx context.Context) {
	logger := klog.FromContext(ctx)
	grace := e.mesos.ExecutorShutdownGracePeriod
	if grace <= 0 {
		grace = 5 * time.Second
	}
	// Pods get most of the grace period; the node's teardown the rest.
	podBudget := grace * 6 / 10
	deadline := time.Now().Add(podBudget)

	e.mu.Lock()
	e.shuttingDown = true
	for _, t := range e.tasks {
		if !t.state.KillRequested() {
			t.state.Killed()
			close(t.kill)
		}
	}
	e.mu.Unlock()
	// An admission between reading and binding its pod finishes first: the
	// pod it binds is then deleted with the others, not after the node stopped.
	admitted := make(chan struct{})
	go func() { e.admissions.Wait(); close(admitted) }()
	select {
	case <-admitted:
	case <-time.After(time.Until(deadline)):
		logger.Info("Pod admissions still running at the shutdown deadline")
	}
	e.mu.Lock()
	var bound []*podTask
	for _, t := range e.tasks {
		if t.state.IsBound() {
			t.grace = drainGrace(t.grace, e.cachedPodLocked(t), podBudget)
			bound = append(bound, t)
		} else {
			e.observeLocked(t, nil) // killed before binding
		}
	}
	name := e.nodeName
	e.mu.Unlock()
	// The node is cordoned first: nothing new lands on it while it drains.
	// A failed cordon does not stop the drain.
	if name != "" && !e.Revocable { // a revocable executor drains only its own pods
		cordonCtx, cancel := context.WithDeadline(ctx, deadline)
		if err := e.cordon(cordonCtx, name); err != nil {
			logger.Error(err, "Cordon the node on shutdown; draining it anyway")
		}
		cancel()
	}
	delCtx, cancel := context.WithDeadline(ctx, deadline)
	var wg sync.WaitGroup
	for _, t := range bound {
		wg.Add(1)
		go func() { defer wg.Done(); e.deletePod(delCtx, t) }()
	}
	wg.Wait()
	for time.Now().Before(deadline) && e.openTasks() > 0 {
		select {
		case <-delCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	e.mu.Lock()
	var left []*podTask
	for _, t := range e.tasks {
		left = append(left, t)
	}
	e.mu.Unlock()
	for _, t := range left {
		zero := int64(0)
		err := e.client.CoreV1().Pods(t.ref.Namespace).Delete(ctx, t.ref.Name,
			metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &t.ref.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			logger.Error(err, "Force-delete pod on shutdown", "pod", t.ref.String())
		}
		e.mu.Lock()
		e.observeLocked(t, nil)
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.endNodeTasksLocked(taskstate.Report{State: mesos.TASK_KILLED, Message: MessageShutdown}, nil)
	e.mu.Unlock()
	e.flush(ctx, time.Second)
	stopCtx, stop := context.WithTimeout(ctx, max(grace-podBudget, 2*time.Second))
	defer stop()
	e.mu.Lock()
	starting := e.nodeStarting
	e.mu.Unlock()
	if starting != nil {
		select { // let a starting node finish starting, then stop it
		case <-starting:
		case <-stopCtx.Done():
		}
	}
	if err := e.node.Stop(stopCtx); err != nil {
		logger.Error(err, "Node teardown")
	}
	logger.Info("Executor shut down")
}
