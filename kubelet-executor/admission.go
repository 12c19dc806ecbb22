package kubeletexecutor

import (
	"context"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// onLaunch admits a task: bad data fails it at once; otherwise its pod is
// bound once the node is Ready.
func (e *Executor) onLaunch(ctx context.Context, info mesos.TaskInfo) {
	logger := klog.FromContext(ctx).WithValues("task", info.TaskID.Value)
	e.mu.Lock()
	defer e.mu.Unlock()
	id := info.TaskID.Value
	if _, dup := e.tasks[id]; dup {
		logger.Info("Duplicate LAUNCH ignored")
		return
	}
	// A task ID launched again is a new attempt (an older bridge reused the
	// pod's task ID for every launch of the pod).
	e.ended.forget(id)
	e.unackedTasks[id] = info
	if podtask.IsNodeTask(id) {
		if e.nodeTasks[id] {
			logger.Info("Duplicate LAUNCH ignored")
			return
		}
		e.launchNodeTaskLocked(ctx, info)
		return
	}
	ref, err := podtask.DecodeTask(info)
	if err != nil {
		logger.Info("Rejecting task with bad data", "err", err)
		e.sendStatusLocked(info.TaskID, taskstate.Report{State: mesos.TASK_FAILED, Message: err.Error()},
			mesos.REASON_TASK_INVALID.Enum())
		return
	}
	t := &podTask{info: info, ref: ref, state: taskstate.NewTask(ref.UID, e.killingCapableLocked()),
		kill: make(chan struct{})}
	if e.nodeErr != nil {
		e.failNodeLocked(t)
		return
	}
	if e.shuttingDown {
		e.sendStatusLocked(info.TaskID, taskstate.Report{State: mesos.TASK_DROPPED, Message: MessageShutdown}, nil)
		return
	}
	e.addTaskLocked(t)
	e.admissions.Add(1)
	go func() {
		defer e.admissions.Done()
		e.admit(klog.NewContext(ctx, logger.WithValues("pod", ref.String())), t)
	}()
}

func (e *Executor) killingCapableLocked() bool {
	for _, c := range e.framework.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_TASK_KILLING_STATE {
			return true
		}
	}
	return false
}

// admit waits for the node, reads the pod and binds it to this node.
func (e *Executor) admit(ctx context.Context, t *podTask) {
	logger := klog.FromContext(ctx)
	select {
	case <-e.nodeReady:
	case <-e.nodeDown:
	case <-t.kill:
	case <-ctx.Done():
		return
	}
	e.mu.Lock()
	if t.state.Done() {
		e.mu.Unlock() // failed with the node meanwhile
		return
	}
	if t.state.KillRequested() {
		e.observeLocked(t, nil)
		e.mu.Unlock()
		return
	}
	node := e.nodeName
	e.mu.Unlock()

	pods := e.client.CoreV1().Pods(t.ref.Namespace)
	pod, err := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		pod, err = nil, nil
	}
	if err != nil {
		e.reject(t, taskstate.Report{State: mesos.TASK_FAILED, Message: "read pod: " + err.Error()})
		return
	}
	decision, report := taskstate.Admit(t.ref.UID, pod, node)
	switch decision {
	case taskstate.Reject:
		e.reject(t, report)
		return
	case taskstate.Bind:
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ref.Namespace, Name: t.ref.Name, UID: t.ref.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}
		if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
			// Lost a race (deleted, replaced or bound meanwhile): decide again from the pod as it is now.
			again, gerr := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(gerr) {
				again = nil
			} else if gerr != nil {
				e.reject(t, taskstate.Report{State: mesos.TASK_FAILED, Message: "bind pod: " + err.Error()})
				return
			}
			if d, r := taskstate.Admit(t.ref.UID, again, node); d != taskstate.AlreadyBound {
				if d == taskstate.Bind {
					r = taskstate.Report{State: mesos.TASK_FAILED, Message: "bind pod: " + err.Error()}
				}
				e.reject(t, r)
				return
			}
			pod = again
		} else {
			logger.Info("Bound pod to node", "node", node)
			pod.Spec.NodeName = node
		}
	case taskstate.AlreadyBound:
		logger.Info("Pod already bound to this node", "node", node)
	}
	e.mu.Lock()
	t.state.Bound()
	killed := t.state.KillRequested()
	if cur := e.cachedPodLocked(t); cur != nil {
		pod = cur
	}
	e.observeLocked(t, pod)
	e.mu.Unlock()
	if killed {
		e.deletePod(ctx, t)
	}
}

func (e *Executor) reject(t *podTask, r taskstate.Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.state.KillRequested() && !t.state.IsBound() {
		e.observeLocked(t, nil)
		return
	}
	if t.state.End(r) {
		e.sendStatusLocked(t.info.TaskID, r, nil)
	}
	e.removeTaskLocked(t)
}
