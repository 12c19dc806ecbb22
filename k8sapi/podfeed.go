package k8sapi

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const uidIndex = "uid"

// PodFeed is the bridge's view of the pods it schedules: every pod whose
// spec.schedulerName is the bridge's, from a shared informer. It answers
// level-based questions (which pods are pending now, does this pod still exist)
// and signals on Changed whenever any of them changed.
type PodFeed struct {
	informer cache.SharedIndexInformer
	changed  chan struct{}
}

// NewPodFeed watches the pods of schedulerName.
func NewPodFeed(client kubernetes.Interface, schedulerName string, resync time.Duration) *PodFeed {
	factory := informers.NewSharedInformerFactoryWithOptions(client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.schedulerName", schedulerName).String()
		}))
	f := &PodFeed{informer: factory.Core().V1().Pods().Informer(), changed: make(chan struct{}, 1)}
	_ = f.informer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}})
	_, _ = f.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { f.notify() },
		UpdateFunc: func(any, any) { f.notify() },
		DeleteFunc: func(any) { f.notify() },
	})
	return f
}

func (f *PodFeed) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// Run runs the informer until ctx ends; it returns once the cache is synced
// (error if ctx ends first) and keeps watching in the background.
func (f *PodFeed) Run(ctx context.Context) error {
	go f.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), f.informer.HasSynced) {
		return fmt.Errorf("pod feed: cache not synced: %w", ctx.Err())
	}
	return nil
}

// Changed receives a value (coalesced) after any watched pod changed.
func (f *PodFeed) Changed() <-chan struct{} { return f.changed }

// Get returns the pod with this UID, if it still exists.
func (f *PodFeed) Get(uid types.UID) (*corev1.Pod, bool) {
	objs, err := f.informer.GetIndexer().ByIndex(uidIndex, string(uid))
	if err != nil || len(objs) == 0 {
		return nil, false
	}
	return objs[0].(*corev1.Pod), true
}

// Pending returns the pods waiting for a node (IsPending): not bound, not
// being deleted, not gated, not finished; highest priority first, then oldest
// first. The pods are the informer's: callers must not modify them.
func (f *PodFeed) Pending() []*corev1.Pod {
	var out []*corev1.Pod
	for _, obj := range f.informer.GetStore().List() {
		p := obj.(*corev1.Pod)
		if IsPending(p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := priority(out[i]), priority(out[j])
		if pi != pj {
			return pi > pj
		}
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].UID < out[j].UID
	})
	return out
}

// IsPending reports whether a pod waits for a node. A pod with scheduling
// gates does not wait yet: the API server refuses to bind it until they are
// removed.
func IsPending(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil && len(p.Spec.SchedulingGates) == 0 &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// All returns every watched pod, bound or not. The pods are the informer's:
// callers must not modify them.
func (f *PodFeed) All() []*corev1.Pod {
	objs := f.informer.GetStore().List()
	out := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*corev1.Pod))
	}
	return out
}
