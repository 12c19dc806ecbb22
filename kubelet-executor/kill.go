package kubeletexecutor

import (
	"context"
	"math"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
)

// onKill deletes the task's pod with the kill policy's grace period (or the
// pod's own); TASK_KILLED follows once the pod object is gone.
func (e *Executor) onKill(ctx context.Context, id mesos.TaskID, policy *mesos.KillPolicy) {
	e.mu.Lock()
	if e.killNodeTaskLocked(ctx, id) {
		e.mu.Unlock()
		return
	}
	t := e.tasks[id.Value]
	if t == nil {
		if state, ok := e.ended.get(id.Value); ok {
			// Its one terminal update is sent (the agent still holds it
			// unacknowledged, which is why it forwarded the KILL).
			klog.FromContext(ctx).V(1).Info("KILL of a task that already ended ignored", "task", id.Value, "state", state)
		} else {
			e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_KILLED, Message: MessageUnknownTask}, nil)
		}
		e.mu.Unlock()
		return
	}
	if gp := policy.GetGracePeriod(); gp != nil {
		d := time.Duration(gp.GetNanoseconds())
		t.grace = &d
	}
	already := t.state.KillRequested()
	t.state.Killed()
	if !already {
		close(t.kill)
	}
	bound := t.state.IsBound()
	e.mu.Unlock()
	if bound {
		go e.deletePod(ctx, t)
	}
}

// deletePod deletes the task's pod (only that UID) with the task's grace
// period, and observes the result. A failed delete (API server down) is
// retried with backoff until it succeeds, the task ends or ctx ends.
func (e *Executor) deletePod(ctx context.Context, t *podTask) {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &t.ref.UID}}
	e.mu.Lock()
	if t.grace != nil {
		opts.GracePeriodSeconds = ptr.To(int64((*t.grace + time.Second - 1) / time.Second))
	}
	e.mu.Unlock()
	pods := e.client.CoreV1().Pods(t.ref.Namespace)
	backoff := wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: math.MaxInt32, Cap: 10 * time.Second}
	var err error
	for {
		err = pods.Delete(ctx, t.ref.Name, opts)
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			break
		}
		klog.FromContext(ctx).Error(err, "Delete pod; retrying", "pod", t.ref.String())
		e.mu.Lock()
		done := t.state.Done()
		e.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff.Step()):
		}
	}
	var pod *corev1.Pod
	switch {
	case err != nil:
		// Gone, or replaced by a pod with another UID: ours is gone either way.
	default:
		p, gerr := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
		if gerr != nil && !apierrors.IsNotFound(gerr) {
			return
		}
		if gerr == nil {
			pod = p
		}
	}
	e.mu.Lock()
	e.observeLocked(t, pod)
	e.mu.Unlock()
}
