package kubeletexecutor

import (
	"context"
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// bringUp starts the node, waits for it to be Ready and starts the pod
// informer; then launched tasks may bind their pods.
func (e *Executor) bringUp(ctx context.Context, agent mesos.AgentInfo, pods node.Resources) {
	if e.isShuttingDown() {
		close(e.nodeStarting)
		return
	}
	name, err := NodeName(agent)
	if err == nil {
		err = e.deleteOrphans(ctx, name)
	}
	if err == nil {
		name, err = e.node.Start(ctx, agent, pods)
	}
	close(e.nodeStarting)
	if err != nil {
		e.nodeFailed(ctx, fmt.Errorf("start node: %w", err))
		return
	}
	e.mu.Lock()
	e.nodeName = name
	e.mu.Unlock()
	if err := e.node.WaitReady(ctx); err != nil {
		if ctx.Err() == nil {
			e.nodeFailed(ctx, fmt.Errorf("wait for node %s: %w", name, err))
		}
		return
	}
	if err := e.uncordon(ctx, name); err != nil {
		// Pods can still run here; only placement skips the node until an operator uncordons it.
		klog.FromContext(ctx).Error(err, "Lift the cordon of a previous executor")
	}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", name).String()
		}))
	inf := factory.Core().V1().Pods()
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.onPod(ctx, nil, obj) },
		UpdateFunc: func(old, obj any) { e.onPod(ctx, old, obj) },
		DeleteFunc: func(obj any) { e.onPodDeleted(ctx, obj) },
	})
	e.mu.Lock()
	e.podLister = inf.Lister()
	e.mu.Unlock()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	close(e.nodeReady)
	go e.resync(ctx)
}

// nodeFailed fails every task with the reason the node could not start
// (none of them was bound: binding waits for the node) and ends the
// executor. Tasks launched later fail the same way until it has stopped.
func (e *Executor) nodeFailed(ctx context.Context, err error) {
	klog.FromContext(ctx).Error(err, "Node bring-up failed; failing every task")
	e.mu.Lock()
	e.nodeErr = err
	for _, t := range e.tasks {
		e.failNodeLocked(t)
	}
	e.endNodeTasksLocked(taskstate.Report{State: mesos.TASK_FAILED, Message: MessageNodeFailed + ": " + err.Error()}, ReasonNodeFailed.Enum())
	e.mu.Unlock()
	close(e.nodeDown) // admissions waiting for the node return
	e.fatal <- err
}

// failNodeLocked ends a task with the node's failure (once).
func (e *Executor) failNodeLocked(t *podTask) {
	r := taskstate.Report{State: mesos.TASK_FAILED, Message: MessageNodeFailed + ": " + e.nodeErr.Error()}
	if t.state.End(r) {
		e.sendStatusLocked(t.info.TaskID, r, ReasonNodeFailed.Enum())
	}
	delete(e.tasks, t.info.TaskID.Value)
}

// deleteOrphans deletes the pods bound to node that this executor has no
// task for, before the kubelet starts. They are left by a previous executor
// on this agent that died (Mesos ended its tasks with it, and a new executor
// never gets them back): without a task they must not run, and their
// containers may still be running under the cgroup root. The kubelet that
// starts next stops them and completes the deletion. Pods that already
// terminated and mirror pods are left alone. It retries until the API server
// answers or ctx ends.
func (e *Executor) deleteOrphans(ctx context.Context, node string) error {
	logger := klog.FromContext(ctx)
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := e.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
		if err != nil {
			logger.Error(err, "List pods left on the node; retrying", "node", node)
			return false, nil
		}
		for _, p := range list.Items {
			if p.Spec.NodeName != node || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded ||
				p.Status.Phase == corev1.PodFailed || p.Annotations[corev1.MirrorPodAnnotationKey] != "" {
				continue
			}
			e.mu.Lock()
			_, launched := e.tasks[podtask.TaskID(p.UID)]
			e.mu.Unlock()
			if launched {
				continue
			}
			err := e.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name,
				metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				logger.Error(err, "Delete pod left on the node without a task; retrying", "pod", klog.KObj(&p))
				return false, nil
			}
			logger.Info("Deleted pod left on the node without a task", "pod", klog.KObj(&p), "uid", p.UID, "node", node)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("delete pods left on node %s: %w", node, err)
	}
	return nil
}
