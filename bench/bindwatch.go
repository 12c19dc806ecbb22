package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// BindWatch times each pod of a namespace from its create to its binding.
//
// Both ends are read on the bench's clock (Go's monotonic clock, ns
// resolution): the start when the create request is sent (the API server's
// creationTimestamp has 1 s resolution), the end when the bench's pod
// informer delivers the pod with spec.nodeName set. So a latency includes
// the create request and the watch delivery of the bound pod, the same for
// every contender.
type BindWatch struct {
	total int

	mu      sync.Mutex
	created map[string]time.Time
	bound   map[string]time.Time
	nodes   map[string]int // pods bound per node
	last    time.Time
	all     chan struct{}
}

// NewBindWatch watches for total pods (ignoring pods it was not told of).
func NewBindWatch(total int) *BindWatch {
	return &BindWatch{total: total, created: map[string]time.Time{}, bound: map[string]time.Time{}, nodes: map[string]int{}, all: make(chan struct{})}
}

// Created records when the create of pod name was sent.
func (w *BindWatch) Created(name string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.created[name] = at
}

// observe records the first time pod is seen bound.
func (w *BindWatch) observe(pod *corev1.Pod, at time.Time) {
	if pod.Spec.NodeName == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.created[pod.Name]; !ok {
		return
	}
	if _, ok := w.bound[pod.Name]; ok {
		return
	}
	w.bound[pod.Name] = at
	w.nodes[pod.Spec.NodeName]++
	w.last = at
	if len(w.bound) == w.total {
		close(w.all)
	}
}

// Run watches ns until ctx ends; it returns once the informer has synced.
func (w *BindWatch) Run(ctx context.Context, c kubernetes.Interface, ns string) error {
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.handle(obj) },
		UpdateFunc: func(_, obj any) { w.handle(obj) },
	}); err != nil {
		return fmt.Errorf("bind watch: %w", err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("bind watch of %s: %w", ns, ctx.Err())
	}
	return nil
}

func (w *BindWatch) handle(obj any) {
	now := time.Now()
	if pod, ok := obj.(*corev1.Pod); ok {
		w.observe(pod, now)
	}
}

// AllBound is closed once every pod is bound.
func (w *BindWatch) AllBound() <-chan struct{} { return w.all }

// Counts are the pods created (sent) and bound so far.
func (w *BindWatch) Counts() (created, bound int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.created), len(w.bound)
}

// Latencies returns, for each bound pod, creation→bound, and the time of
// the last binding seen.
func (w *BindWatch) Latencies() ([]time.Duration, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Duration, 0, len(w.bound))
	for name, b := range w.bound {
		out = append(out, b.Sub(w.created[name]))
	}
	return out, w.last
}

// Nodes returns how many pods were bound to each node.
func (w *BindWatch) Nodes() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.nodes))
	for n, c := range w.nodes {
		out[n] = c
	}
	return out
}
