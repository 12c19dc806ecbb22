package kubeletexecutor

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func (e *Executor) cachedPodLocked(t *podTask) *corev1.Pod {
	if e.podLister == nil {
		return nil
	}
	p, err := e.podLister.Pods(t.ref.Namespace).Get(t.ref.Name)
	if err != nil || p.UID != t.ref.UID {
		return nil
	}
	return p
}

// observeLocked feeds the pod to the task's state and sends what changed.
func (e *Executor) observeLocked(t *podTask, pod *corev1.Pod) {
	r, changed := t.state.Observe(pod)
	if !changed {
		return
	}
	e.sendStatusLocked(t.info.TaskID, r, nil)
	if r.Terminal() {
		e.removeTaskLocked(t)
	}
}

// onPod observes an added or updated pod. When its name now belongs to a
// pod with another UID (a relist after a missed delete and re-create), the
// old UID's task observes the replacement too.
func (e *Executor) onPod(ctx context.Context, oldObj, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	uids := []types.UID{pod.UID}
	if old, ok := oldObj.(*corev1.Pod); ok && old.UID != pod.UID {
		uids = append(uids, old.UID)
	}
	for _, uid := range uids {
		if t := e.podTasks[uid]; t != nil && t.state.IsBound() {
			e.observeLocked(t, pod)
		}
	}
}

func (e *Executor) onPodDeleted(ctx context.Context, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.podTasks[pod.UID]; t != nil && t.state.IsBound() {
		e.observeLocked(t, nil)
	}
}

// resync re-reads bound pods missing from the informer's cache, so a pod
// deleted before the informer ever saw it still ends its task.
func (e *Executor) resync(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e.mu.Lock()
		var missing []*podTask
		for _, t := range e.tasks {
			if t.state.IsBound() && e.cachedPodLocked(t) == nil {
				missing = append(missing, t)
			}
		}
		e.mu.Unlock()
		for _, t := range missing {
			pod, err := e.client.CoreV1().Pods(t.ref.Namespace).Get(ctx, t.ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				pod, err = nil, nil
			}
			if err != nil {
				continue
			}
			e.mu.Lock()
			e.observeLocked(t, pod)
			e.mu.Unlock()
		}
	}
}
