package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// NullSchedulerName is the schedulerName of the null binder's pods.
const NullSchedulerName = "bench-null"

// nullBinders is how many Bind requests the null binder keeps in flight.
const nullBinders = 16

// NullBinder binds every pending pod of its scheduler name to the next
// Node in turn, with no filter and no score: what scheduling through this
// API server costs at the least.
type NullBinder struct{}

var _ Contender = NullBinder{}

func (NullBinder) Name() string          { return NullContender }
func (NullBinder) SchedulerName() string { return NullSchedulerName }
func (NullBinder) NeedsNodes() bool      { return true }

// Start watches unbound pods of NullSchedulerName and binds them, each to
// env.NodeNames[i mod N] for the i-th pod seen, nullBinders at a time.
func (NullBinder) Start(ctx context.Context, env Env) (Running, error) {
	if len(env.NodeNames) == 0 {
		return nil, fmt.Errorf("null binder: no nodes")
	}
	meter := StartSelfMeter(ctx)
	ctx, cancel := context.WithCancel(ctx)
	r := &nullRunning{meter: meter, cancel: cancel, queue: make(chan *corev1.Pod, 1024)}
	sel := fields.AndSelectors(
		fields.OneTermEqualSelector("spec.schedulerName", NullSchedulerName),
		fields.OneTermEqualSelector("spec.nodeName", ""),
	).String()
	f := informers.NewSharedInformerFactoryWithOptions(env.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = sel }))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			select {
			case r.queue <- pod:
			case <-ctx.Done():
			}
		}
	}}); err != nil {
		cancel()
		meter.Stop()
		return nil, fmt.Errorf("null binder: %w", err)
	}
	f.Start(ctx.Done())
	for range nullBinders {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.bindLoop(ctx, env.Client, env.NodeNames)
		}()
	}
	r.factory = f
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		_ = r.Stop()
		return nil, fmt.Errorf("null binder: %w", ctx.Err())
	}
	return r, nil
}

type nullRunning struct {
	meter   *SelfMeter
	cancel  context.CancelFunc
	factory informers.SharedInformerFactory
	queue   chan *corev1.Pod
	next    atomic.Uint64
	wg      sync.WaitGroup
}

func (r *nullRunning) bindLoop(ctx context.Context, c kubernetes.Interface, nodes []string) {
	for {
		var pod *corev1.Pod
		select {
		case <-ctx.Done():
			return
		case pod = <-r.queue:
		}
		node := nodes[(r.next.Add(1)-1)%uint64(len(nodes))]
		b := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}
		if err := c.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Null binder: bind failed", "pod", klog.KObj(pod), "node", node)
		}
	}
}

func (r *nullRunning) Usage() (Usage, error) { return r.meter.Usage() }
func (r *nullRunning) Measured() string      { return MeasuredInProcess }

func (r *nullRunning) Stop() error {
	r.cancel()
	r.wg.Wait()
	if r.factory != nil {
		r.factory.Shutdown()
	}
	r.meter.Stop()
	return nil
}
