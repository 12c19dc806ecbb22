package k8sapi

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// NodeMirror is the bridge's read-only view of the Nodes, for what
// Kubernetes knows of an agent and Mesos does not: its taints and whether it
// is cordoned. An agent whose Node does not exist yet has neither.
type NodeMirror struct {
	informer cache.SharedIndexInformer
}

// NewNodeMirror watches every Node.
func NewNodeMirror(client kubernetes.Interface, resync time.Duration) *NodeMirror {
	factory := informers.NewSharedInformerFactory(client, resync)
	return &NodeMirror{informer: factory.Core().V1().Nodes().Informer()}
}

// Run runs the informer until ctx ends; it returns once the cache is synced
// (error if ctx ends first) and keeps watching in the background.
func (m *NodeMirror) Run(ctx context.Context) error {
	return runSynced(ctx, m.informer, "node mirror")
}

// runSynced runs an informer until ctx ends and returns once its cache is
// synced (an error naming what if ctx ends first).
func runSynced(ctx context.Context, inf cache.SharedIndexInformer, what string) error {
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("%s: cache not synced: %w", what, ctx.Err())
	}
	return nil
}

// UnschedulableTaint is the taint of a cordoned node (spec.unschedulable).
// The node lifecycle controller adds it; Taints adds it at once, as
// kube-scheduler's NodeUnschedulable filter rejects a cordoned node for any
// pod that does not tolerate it.
var UnschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// Taints returns the taints of the Node named name, with UnschedulableTaint
// when it is cordoned; nil when there is no such Node. The slice is shared
// with the cache: callers must not modify it.
func (m *NodeMirror) Taints(name string) []corev1.Taint {
	obj, ok, err := m.informer.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	return TaintsOf(obj.(*corev1.Node))
}

// TaintsOf is the taints placement must respect on node: spec.taints, and
// UnschedulableTaint when the node is cordoned and does not carry it yet.
func TaintsOf(node *corev1.Node) []corev1.Taint {
	if !node.Spec.Unschedulable {
		return node.Spec.Taints
	}
	for _, t := range node.Spec.Taints {
		if t.Key == UnschedulableTaint.Key && t.Effect == UnschedulableTaint.Effect {
			return node.Spec.Taints
		}
	}
	return append(append(make([]corev1.Taint, 0, len(node.Spec.Taints)+1), node.Spec.Taints...), UnschedulableTaint)
}

// Nodes returns every Node in the mirror. They are the informer's: callers
// must not modify them.
func (m *NodeMirror) Nodes() []*corev1.Node {
	objs := m.informer.GetStore().List()
	out := make([]*corev1.Node, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*corev1.Node))
	}
	return out
}
