package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// StartWatch records, for the pods of one namespace, when the bench first
// saw each bound, Running and Ready (PodTimes), on its own clock.
type StartWatch struct {
	mu    sync.Mutex
	times map[string]*PodTimes
	ready int
	want  int
	done  chan struct{}
}

// NewStartWatch expects want pods.
func NewStartWatch(want int) *StartWatch {
	return &StartWatch{times: map[string]*PodTimes{}, want: want, done: make(chan struct{})}
}

// Sent records that the create of pod name is being sent.
func (w *StartWatch) Sent(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entry(name).Sent = time.Now()
}

func (w *StartWatch) entry(name string) *PodTimes {
	t, ok := w.times[name]
	if !ok {
		t = &PodTimes{}
		w.times[name] = t
	}
	return t
}

func (w *StartWatch) observe(pod *corev1.Pod) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.entry(pod.Name)
	if t.Bound.IsZero() && pod.Spec.NodeName != "" {
		t.Bound = now
	}
	if t.Running.IsZero() && pod.Status.Phase == corev1.PodRunning {
		t.Running = now
	}
	if t.Ready.IsZero() && podReady(pod) {
		t.Ready = now
		w.ready++
		if w.ready == w.want {
			close(w.done)
		}
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// AllReady is closed once the wanted number of pods were seen Ready.
func (w *StartWatch) AllReady() <-chan struct{} { return w.done }

// Times is a copy of what was recorded, by pod name.
func (w *StartWatch) Times() map[string]PodTimes {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]PodTimes, len(w.times))
	for n, t := range w.times {
		out[n] = *t
	}
	return out
}

// Run starts a pod informer on ns and returns once it has synced.
func (w *StartWatch) Run(ctx context.Context, c kubernetes.Interface, ns string) error {
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observeObj(obj) },
		UpdateFunc: func(_, obj any) { w.observeObj(obj) },
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("pod watch of %s: %v not synced", ns, typ)
		}
	}
	return nil
}

func (w *StartWatch) observeObj(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		w.observe(pod)
	}
}

// RealPod is the pod of the real-container run: one pause container (the
// sandbox image every agent has preloaded, never pulled) asking for 10m
// cpu and 16 MiB, so 30 fit on two agents and on one plain node alike. Its
// grace period is not 0, so a deleted pod stays until its kubelet has
// stopped it (pause ends on SIGTERM at once; 2 s at most).
func RealPod(ns, name, schedulerName, image string) *corev1.Pod {
	p := PodTemplate(ns, name, schedulerName)
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](2)
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		c.Image = image
		c.ImagePullPolicy = corev1.PullNever
		c.Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
		}
	}
	return p
}
