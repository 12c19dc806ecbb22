package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// recordingReporter records the writes it gets; Fail fails while failFor > 0.
type recordingReporter struct {
	mu      sync.Mutex
	writes  []string
	failFor int
}

func (r *recordingReporter) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, s)
}

func (r *recordingReporter) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func (r *recordingReporter) Unschedulable(_ context.Context, pod *corev1.Pod, msg string) {
	r.record("unschedulable " + pod.Name + ": " + msg)
}
func (r *recordingReporter) Forget(uid types.UID) { r.record("forget " + string(uid)) }
func (r *recordingReporter) Fail(_ context.Context, pod *corev1.Pod, reason, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failFor > 0 {
		r.failFor--
		r.writes = append(r.writes, "fail refused "+pod.Name)
		return errors.New("503: the API server is overloaded")
	}
	r.writes = append(r.writes, "fail "+pod.Name+": "+reason)
	return nil
}
func (r *recordingReporter) ForceDelete(_ context.Context, pod *corev1.Pod, _ string) error {
	r.record("delete " + pod.Name)
	return nil
}

// TestPodWriterKeepsTheLatestReport: reports queued for one pod before the
// writer gets to them collapse into the latest; a pod placed meanwhile
// (Forget) gets none; other writes are kept, in order.
func TestPodWriterKeepsTheLatestReport(t *testing.T) {
	r := &recordingReporter{}
	w := NewPodWriter(r, time.Second)
	a, b, c := testPod("a"), testPod("b"), testPod("c")
	w.Unschedulable(a, "0/1 offers: cpu")
	w.Unschedulable(b, "0/1 offers: cpu")
	w.Unschedulable(a, "0/2 offers: cpu, memory")
	w.Unschedulable(c, "0/1 offers: cpu")
	w.Forget(c.UID)
	w.Fail(b, "MesosTaskLost", "lost")
	if n := w.Len(); n != 4 {
		t.Fatalf("%d writes queued, want 4 (a, b, forget c, fail b)", n)
	}
	w.Drain(t.Context())
	want := []string{"unschedulable a: 0/2 offers: cpu, memory", "unschedulable b: 0/1 offers: cpu", "forget uid-c", "fail b: MesosTaskLost"}
	if got := r.got(); !slices.Equal(got, want) {
		t.Fatalf("writes %q, want %q", got, want)
	}
}

// TestPodWriterRetriesFailedWrites: a refused write is tried again with
// backoff until it succeeds, and given up after podWriteRetries.
func TestPodWriterRetriesFailedWrites(t *testing.T) {
	r := &recordingReporter{failFor: 2}
	w := NewPodWriter(r, time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)
	w.Fail(testPod("p"), "MesosTaskFailed", "")
	want := []string{"fail refused p", "fail refused p", "fail p: MesosTaskFailed"}
	mesostest.Eventually(t, 5*time.Second, "the write retried until it succeeds", func() (bool, string) {
		got := r.got()
		return slices.Equal(got, want), fmt.Sprint(got)
	})

	r2 := &recordingReporter{failFor: 100}
	w2 := NewPodWriter(r2, time.Second)
	w2.queue = workqueueFast()
	go w2.Run(ctx)
	w2.Fail(testPod("q"), "MesosTaskFailed", "")
	mesostest.Eventually(t, 5*time.Second, "the write given up", func() (bool, string) {
		n := len(r2.got())
		return n == podWriteRetries+1 && w2.Len() == 0, fmt.Sprint(n, " attempts")
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(r2.got()); n != podWriteRetries+1 {
		t.Fatalf("%d attempts, want %d", n, podWriteRetries+1)
	}
}

// TestPodWriterIsRateLimited: the writer performs at most its rate of
// writes per second beyond its burst.
func TestPodWriterIsRateLimited(t *testing.T) {
	r := &recordingReporter{}
	w := NewPodWriter(r, time.Second)
	w.limit = flowcontrol.NewTokenBucketRateLimiter(20, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := time.Now()
	for i := range 11 {
		w.Unschedulable(testPod(fmt.Sprint("p", i)), "no room")
	}
	go w.Run(ctx)
	mesostest.Eventually(t, 5*time.Second, "all written", func() (bool, string) { return len(r.got()) == 11, fmt.Sprint(len(r.got())) })
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("11 writes at 20/s (burst 1) took %v, want at least 500 ms", d)
	}
}

// TestPodWriterWithoutReporter: a scheduler without a reporter queues nothing.
func TestPodWriterWithoutReporter(t *testing.T) {
	w := NewPodWriter(nil, time.Second)
	w.Unschedulable(testPod("a"), "x")
	w.RemoveNode("n", "gone")
	if w.Len() != 0 {
		t.Fatalf("%d writes queued without a reporter", w.Len())
	}
}

// workqueueFast retries within milliseconds.
func workqueueFast() workqueue.TypedRateLimitingInterface[writeKey] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[writeKey](time.Millisecond, 10*time.Millisecond))
}

// filteringReporter drops a report it already has, as k8sapi.PodReporter does.
type filteringReporter struct {
	recordingReporter
	seen map[types.UID]string
}

func (r *filteringReporter) WouldReport(uid types.UID, msg string) bool { return r.seen[uid] != msg }

func (r *filteringReporter) Unschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	r.seen[pod.UID] = msg
	r.recordingReporter.Unschedulable(ctx, pod, msg)
}

// TestPodWriterSpendsNoTokenOnRepeats: reports the reporter would drop as
// repeats cost no write token, so a new report is written at once behind
// many repeats (at 1 write/s, 50 repeats would otherwise hold it back 50 s).
func TestPodWriterSpendsNoTokenOnRepeats(t *testing.T) {
	r := &filteringReporter{seen: map[types.UID]string{}}
	w := NewPodWriter(r, time.Second)
	w.limit = flowcontrol.NewTokenBucketRateLimiter(1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var pods []*corev1.Pod
	for i := range 50 {
		p := testPod(fmt.Sprint("p", i))
		pods = append(pods, p)
		r.seen[p.UID] = "no room" // reported before
		w.Unschedulable(p, "no room")
	}
	news := testPod("new")
	w.Unschedulable(news, "no room")
	start := time.Now()
	go w.Run(ctx)
	mesostest.Eventually(t, 5*time.Second, "the new pod's report written", func() (bool, string) {
		got := r.got()
		return slices.Contains(got, "unschedulable new: no room"), fmt.Sprint(got)
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the new report waited %v behind repeats", d)
	}
	if got := r.got(); len(got) != 1 {
		t.Fatalf("writes %q, want only the new pod's", got)
	}
}

// TestPodWriterKeepsTheLatestReachability: a Node marked unreachable and
// then reachable before the writer got to it is written once, reachable.
func TestPodWriterKeepsTheLatestReachability(t *testing.T) {
	r := &fakeReporter{}
	w := NewPodWriter(r, time.Second)
	w.NodeReachable("n1", false, "agent unreachable")
	w.NodeReachable("n2", false, "agent unreachable")
	w.NodeReachable("n1", true, "agent back")
	w.Drain(t.Context())
	if got := fmt.Sprint(r.nodes); got != "[reachable n1 unreachable n2]" && got != "[unreachable n2 reachable n1]" {
		t.Fatalf("Node writes %s, want n1 reachable once and n2 unreachable", got)
	}
}

// recordingVolumes is a VolumeWriter that records its writes and refuses
// the first failFor of them.
type recordingVolumes struct {
	recordingReporter
}

func (r *recordingVolumes) write(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failFor > 0 {
		r.failFor--
		r.writes = append(r.writes, "refused "+s)
		return errors.New("503: the API server is overloaded")
	}
	r.writes = append(r.writes, s)
	return nil
}

func (r *recordingVolumes) CreateVolume(_ context.Context, pv *corev1.PersistentVolume) error {
	return r.write("create " + pv.Name)
}

func (r *recordingVolumes) ReleaseVolume(_ context.Context, name, finalizer string) error {
	return r.write("release " + name + " " + finalizer)
}

// TestPodWriterWritesVolumes: the PV writes go through the writer, a
// failed one retried; a writer without a VolumeWriter drops them.
func TestPodWriterWritesVolumes(t *testing.T) {
	v := &recordingVolumes{recordingReporter{failFor: 1}}
	w := NewPodWriter(&recordingReporter{}, time.Second)
	w.volumes = v
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)
	w.CreateVolume(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"}, Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Name: "c"}}})
	w.ReleaseVolume("pvc-2")
	mesostest.Eventually(t, 5*time.Second, "both written, the refused one again", func() (bool, string) {
		got := slices.Clone(v.got())
		slices.Sort(got)
		return slices.Equal(got, []string{"create pvc-1", "refused create pvc-1", "release pvc-2 kubemesos.io/mesos-volume"}), fmt.Sprint(got)
	})
	none := NewPodWriter(&recordingReporter{}, time.Second)
	none.CreateVolume(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"}})
	none.ReleaseVolume("pvc-2")
	if n := none.Len(); n != 0 {
		t.Fatalf("%d writes queued without a VolumeWriter", n)
	}
}
