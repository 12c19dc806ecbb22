package kubeletexecutor

import (
	"context"
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
)

// bringUp starts the node, waits for it to be Ready and starts the pod
// informer; then launched tasks may bind their pods.
func (e *Executor) bringUp(ctx context.Context, agent mesos.AgentInfo, pods node.Resources) {
	if e.isShuttingDown() {
		close(e.nodeStarting)
		return
	}
	start := time.Now()
	name, err := NodeName(agent)
	var left map[types.UID]bool // pods an earlier executor left, kept for the adoption window
	// A revocable executor's node holds the kubelet-executor's pods: none is its orphan.
	if err == nil && !e.Revocable {
		if e.AdoptWindow > 0 {
			left, err = e.orphans(ctx, name)
		} else {
			err = e.deleteOrphans(ctx, name, nil)
		}
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
	if !e.Revocable { // else the cordon is the kubelet-executor's to lift
		if err := e.uncordon(ctx, name); err != nil {
			// Pods can still run here; only placement skips the node until an operator uncordons it.
			klog.FromContext(ctx).Error(err, "Lift the cordon of a previous executor")
		}
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
	if len(left) > 0 {
		go e.sweepOrphans(ctx, name, left, start.Add(e.AdoptWindow))
	}
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
	e.removeTaskLocked(t)
}
