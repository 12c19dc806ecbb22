package k8sapi

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// NamespaceMirror is the bridge's read-only view of the Namespaces' labels,
// which the namespace selectors of inter-pod affinity terms match.
type NamespaceMirror struct {
	informer cache.SharedIndexInformer
}

// NewNamespaceMirror watches every Namespace.
func NewNamespaceMirror(client kubernetes.Interface, resync time.Duration) *NamespaceMirror {
	factory := informers.NewSharedInformerFactory(client, resync)
	return &NamespaceMirror{informer: factory.Core().V1().Namespaces().Informer()}
}

// Run runs the informer until ctx ends; it returns once the cache is synced
// (error if ctx ends first) and keeps watching in the background.
func (m *NamespaceMirror) Run(ctx context.Context) error {
	return runSynced(ctx, m.informer, "namespace mirror")
}

// NamespaceLabels returns the labels of every Namespace, by name. The label
// maps are the informer's: callers must not modify them.
func (m *NamespaceMirror) NamespaceLabels() map[string]map[string]string {
	objs := m.informer.GetStore().List()
	out := make(map[string]map[string]string, len(objs))
	for _, obj := range objs {
		ns := obj.(*corev1.Namespace)
		out[ns.Name] = ns.Labels
	}
	return out
}
