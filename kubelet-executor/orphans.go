package kubeletexecutor

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// Pods left by an earlier executor on this agent (it died or was replaced:
// Mesos ended its tasks with it) are still bound to the node, and with a
// kubelet their containers may still run. Without a task they must not run
// for long: with an AdoptWindow of zero they are deleted before the node
// starts; otherwise the framework has that long (from SUBSCRIBED) to launch
// their tasks again on this executor, which adopts them (admission finds
// them AlreadyBound: no rebind, no restart), and the ones still without a
// task at the end are deleted. See docs/decisions.md, "Executor upgrades".

// isOrphan reports whether p, bound to node, is a pod a previous executor
// left running that this executor has no task for. Pods that terminated, are
// being deleted, or are mirror pods are not.
func (e *Executor) isOrphan(p *corev1.Pod, node string) bool {
	if p.Spec.NodeName != node || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded ||
		p.Status.Phase == corev1.PodFailed || p.Annotations[corev1.MirrorPodAnnotationKey] != "" {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, launched := e.podTasks[p.UID]
	return !launched
}

// listNodePods lists the pods bound to node, retrying until the API server
// answers or ctx ends.
func (e *Executor) listNodePods(ctx context.Context, node string) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := e.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
		if err != nil {
			klog.FromContext(ctx).Error(err, "List pods left on the node; retrying", "node", node)
			return false, nil
		}
		pods = list.Items
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pods left on node %s: %w", node, err)
	}
	return pods, nil
}

// orphans are the UIDs of the pods left on node without a task.
func (e *Executor) orphans(ctx context.Context, node string) (map[types.UID]bool, error) {
	pods, err := e.listNodePods(ctx, node)
	if err != nil {
		return nil, err
	}
	out := map[types.UID]bool{}
	for i := range pods {
		if e.isOrphan(&pods[i], node) {
			out[pods[i].UID] = true
			klog.FromContext(ctx).Info("Pod left on the node without a task; adoptable until the window ends",
				"pod", klog.KObj(&pods[i]), "uid", pods[i].UID, "window", e.AdoptWindow)
		}
	}
	return out, nil
}

// deleteOrphans deletes the pods bound to node that this executor has no
// task for (of only those UIDs, when only is not nil), each with its own
// grace period and a UID precondition. A kubelet stops their containers and
// completes the deletion. It retries until the API server answers or ctx ends.
func (e *Executor) deleteOrphans(ctx context.Context, node string, only map[types.UID]bool) error {
	logger := klog.FromContext(ctx)
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := e.listNodePods(ctx, node)
		if err != nil {
			return false, err
		}
		for i := range pods {
			p := &pods[i]
			if (only != nil && !only[p.UID]) || !e.isOrphan(p, node) {
				continue
			}
			err := e.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name,
				metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				logger.Error(err, "Delete pod left on the node without a task; retrying", "pod", klog.KObj(p))
				return false, nil
			}
			logger.Info("Deleted pod left on the node without a task", "pod", klog.KObj(p), "uid", p.UID, "node", node)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("delete pods left on node %s: %w", node, err)
	}
	return nil
}

// sweepOrphans deletes, at deadline, the pods of left that no task adopted.
func (e *Executor) sweepOrphans(ctx context.Context, node string, left map[types.UID]bool, deadline time.Time) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(deadline)):
	}
	if err := e.deleteOrphans(ctx, node, left); err != nil && ctx.Err() == nil {
		klog.FromContext(ctx).Error(err, "Delete pods no task adopted")
	}
}
