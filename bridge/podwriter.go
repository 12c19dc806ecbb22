package bridge

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/podtask"
)

// The scheduler loop never writes to the API server itself: what it has to
// say about pods and Nodes (FailedScheduling events and PodScheduled=False,
// Failed marks, force deletes, Node removals) it hands to a PodWriter,
// which performs the writes on its own goroutine, rate-limited, as
// kube-scheduler's API dispatcher does. A slow or hung API server therefore
// delays the writes, never the handling of offers and status updates.
//
// Writes are keyed by what they are about (the kind and the pod UID or Node
// name): a newer write of a key replaces one not yet performed (only the
// latest reason a pod waits matters), Forget drops a pod's pending report (it
// was placed meanwhile), and a write that fails is retried with backoff up
// to podWriteRetries times.

// PodWriter performs a PodReporter's writes (and a NodeRemover's, when the
// reporter is one) asynchronously. Its methods only queue the write and
// return at once: failures are retried and logged by the writer.
type PodWriter struct {
	to PodReporter
	// volumes writes the PVs of the volumes the bridge provisions (nil
	// without UseVolumes).
	volumes VolumeWriter
	timeout time.Duration
	limit   flowcontrol.RateLimiter
	queue   workqueue.TypedRateLimitingInterface[writeKey]

	mu      sync.Mutex
	pending map[writeKey]podWrite
}

// writeKind is what a queued write does.
type writeKind int

const (
	writeUnschedulable writeKind = iota + 1
	writeForget
	writeFail
	writeForceDelete
	writeRemoveNode
	writeNodeReachability
	writeCreateVolume
	writeReleaseVolume
)

// writeKey names a queued write: its kind and the pod UID or Node name.
type writeKey struct {
	kind writeKind
	name string
}

// podWrite is a queued write and its arguments.
type podWrite struct {
	pod         *corev1.Pod
	pv          *corev1.PersistentVolume
	reason, msg string
	// reachable is what a writeNodeReachability says of the Node.
	reachable bool
	attempts  int
}

// Rate and retries of the pod writes.
const (
	// podWriteQPS and podWriteBurst bound the writes per second (client-go's
	// default client QPS is 5, kube-scheduler's 50).
	podWriteQPS   = 50
	podWriteBurst = 100
	// podWriteRetries is how often a failed write is tried again.
	podWriteRetries = 5
)

// NewPodWriter queues writes for to; Run performs them. Each write is
// bounded by timeout.
func NewPodWriter(to PodReporter, timeout time.Duration) *PodWriter {
	return &PodWriter{
		to:      to,
		timeout: timeout,
		limit:   flowcontrol.NewTokenBucketRateLimiter(podWriteQPS, podWriteBurst),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[writeKey](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[writeKey]{Name: "kubemesos_pod_writes"}),
		pending: map[writeKey]podWrite{},
	}
}

// RepeatFilter is a PodReporter that drops repeated Unschedulable reports
// itself (k8sapi.PodReporter). The writer asks it before spending a write
// token: every cycle reports every pending pod again, and with many pods
// the repeats would use up the rate while the reports that say something
// new wait behind them.
type RepeatFilter interface {
	WouldReport(uid types.UID, msg string) bool
}

// Unschedulable queues the report that pod fits nowhere, for msg.
func (w *PodWriter) Unschedulable(pod *corev1.Pod, msg string) {
	w.add(writeKey{writeUnschedulable, string(pod.UID)}, podWrite{pod: pod, msg: msg})
}

// Forget drops a pending report of the pod and queues forgetting what was
// reported (it was placed or is gone).
func (w *PodWriter) Forget(uid types.UID) {
	w.mu.Lock()
	delete(w.pending, writeKey{writeUnschedulable, string(uid)})
	w.mu.Unlock()
	w.add(writeKey{writeForget, string(uid)}, podWrite{})
}

// Fail queues marking pod Failed.
func (w *PodWriter) Fail(pod *corev1.Pod, reason, msg string) {
	w.add(writeKey{writeFail, string(pod.UID)}, podWrite{pod: pod, reason: reason, msg: msg})
}

// ForceDelete queues deleting pod at once.
func (w *PodWriter) ForceDelete(pod *corev1.Pod, msg string) {
	w.add(writeKey{writeForceDelete, string(pod.UID)}, podWrite{pod: pod, msg: msg})
}

// RemoveNode queues removing the Node name, if the wrapped reporter can.
func (w *PodWriter) RemoveNode(name, msg string) {
	if _, ok := w.to.(NodeRemover); ok {
		w.add(writeKey{writeRemoveNode, name}, podWrite{msg: msg})
	}
}

// NodeReachability marks the Node of an agent Mesos reports unreachable, and
// clears the mark once it is reachable again (k8sapi.PodReporter is one).
type NodeReachability interface {
	MarkNodeUnreachable(ctx context.Context, name, msg string) error
	MarkNodeReachable(ctx context.Context, name, msg string) error
}

// NodeReachable queues marking the Node name reachable or not (msg says
// why), if the wrapped reporter can; a newer one replaces one not yet
// written.
func (w *PodWriter) NodeReachable(name string, reachable bool, msg string) {
	if _, ok := w.to.(NodeReachability); ok {
		w.add(writeKey{writeNodeReachability, name}, podWrite{msg: msg, reachable: reachable})
	}
}

// CreateVolume queues creating the PV pv (of a volume that exists).
func (w *PodWriter) CreateVolume(pv *corev1.PersistentVolume) {
	if w.volumes != nil {
		w.queueWrite(writeKey{writeCreateVolume, pv.Name}, podWrite{pv: pv})
	}
}

// ReleaseVolume queues letting the PV name go (its volume is destroyed).
func (w *PodWriter) ReleaseVolume(name string) {
	if w.volumes != nil {
		w.queueWrite(writeKey{writeReleaseVolume, name}, podWrite{})
	}
}

func (w *PodWriter) add(k writeKey, pw podWrite) {
	if w.to == nil {
		return
	}
	w.queueWrite(k, pw)
}

func (w *PodWriter) queueWrite(k writeKey, pw podWrite) {
	w.mu.Lock()
	w.pending[k] = pw
	w.mu.Unlock()
	w.queue.Add(k)
}

// Len is the number of writes not performed yet.
func (w *PodWriter) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// Run performs queued writes until ctx ends; writes still queued then are
// dropped (the next leader's scheduler reports afresh).
func (w *PodWriter) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	for w.next(ctx, true) {
	}
}

// Drain performs, in the caller's goroutine, the writes queued so far that
// are due; for tests of the loop, which check what it reported.
func (w *PodWriter) Drain(ctx context.Context) {
	for w.queue.Len() > 0 && w.next(ctx, false) {
	}
}

// next performs one queued write; it reports false once the queue is shut
// down. Without wait, the write is performed at once, whatever the rate.
func (w *PodWriter) next(ctx context.Context, wait bool) bool {
	k, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(k)
	w.mu.Lock()
	pw, ok := w.pending[k]
	delete(w.pending, k)
	w.mu.Unlock()
	if !ok {
		w.queue.Forget(k) // replaced and already written, or forgotten
		return true
	}
	if f, ok := w.to.(RepeatFilter); ok && k.kind == writeUnschedulable && !f.WouldReport(pw.pod.UID, pw.msg) {
		w.queue.Forget(k) // a repeat the reporter would drop: no write, no token
		return true
	}
	if wait {
		if err := w.limit.Wait(ctx); err != nil {
			return true
		}
	}
	if err := w.perform(ctx, k, pw); err != nil {
		log := klog.FromContext(ctx)
		pw.attempts++
		if pw.attempts > podWriteRetries {
			log.Error(err, "Giving up a write to the API server", "attempts", pw.attempts)
			w.queue.Forget(k)
			return true
		}
		log.Error(err, "Write to the API server failed; retrying", "attempt", pw.attempts)
		w.mu.Lock()
		if _, newer := w.pending[k]; !newer {
			w.pending[k] = pw
		}
		w.mu.Unlock()
		w.queue.AddRateLimited(k)
		return true
	}
	w.queue.Forget(k)
	return true
}

// perform does one write, bounded by the writer's timeout.
func (w *PodWriter) perform(ctx context.Context, k writeKey, pw podWrite) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	switch k.kind {
	case writeUnschedulable:
		w.to.Unschedulable(ctx, pw.pod, pw.msg)
	case writeForget:
		w.to.Forget(types.UID(k.name))
	case writeFail:
		return w.to.Fail(ctx, pw.pod, pw.reason, pw.msg)
	case writeForceDelete:
		return w.to.ForceDelete(ctx, pw.pod, pw.msg)
	case writeRemoveNode:
		if err := w.to.(NodeRemover).RemoveNode(ctx, k.name, pw.msg); err != nil {
			return err
		}
		klog.FromContext(ctx).Info("Removed the Node of an agent that is gone", "node", k.name)
	case writeNodeReachability:
		nr := w.to.(NodeReachability)
		if pw.reachable {
			return nr.MarkNodeReachable(ctx, k.name, pw.msg)
		}
		return nr.MarkNodeUnreachable(ctx, k.name, pw.msg)
	case writeCreateVolume:
		if err := w.volumes.CreateVolume(ctx, pw.pv); err != nil {
			return err
		}
		klog.FromContext(ctx).Info("Created the PV of a persistent volume", "pv", k.name, "claim", klog.KRef(pw.pv.Spec.ClaimRef.Namespace, pw.pv.Spec.ClaimRef.Name))
	case writeReleaseVolume:
		return w.volumes.ReleaseVolume(ctx, k.name, podtask.FinalizerVolume)
	}
	return nil
}
