package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// fakeMaster is the Caller of a Framework in tests of the scheduler loop: it
// records every call and fails the call types set in fail.
type fakeMaster struct {
	mu    sync.Mutex
	calls []*scheduler.Call
	fail  map[scheduler.Call_Type]error
}

func (m *fakeMaster) Call(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, c)
	return nil, m.fail[c.GetType()]
}

// take returns the calls of type t made since the last take, and forgets all calls.
func (m *fakeMaster) take(t scheduler.Call_Type) []*scheduler.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*scheduler.Call
	for _, c := range m.calls {
		if c.GetType() == t {
			out = append(out, c)
		}
	}
	m.calls = nil
	return out
}

// fakePods is a PodSource over a fixed set of pods.
type fakePods struct{ pods map[types.UID]*corev1.Pod }

func (f *fakePods) Pending() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range f.pods {
		if k8sapi.IsPending(p) {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakePods) Get(uid types.UID) (*corev1.Pod, bool) {
	p, ok := f.pods[uid]
	return p, ok
}

func (f *fakePods) Changed() <-chan struct{} { return nil }

// fakeReporter records what the scheduler reports; block makes every call
// wait for its context to end (a hung API server).
type fakeReporter struct {
	block         bool
	unschedulable []string
	failed        []string
	deleted       []string
	// nodes are the Node writes: "removed n", "unreachable n", "reachable n".
	nodes []string
	calls atomic.Int32 // Unschedulable calls begun
}

func (r *fakeReporter) wait(ctx context.Context) {
	if r.block {
		<-ctx.Done()
	}
}

func (r *fakeReporter) Unschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	r.calls.Add(1)
	r.wait(ctx)
	r.unschedulable = append(r.unschedulable, pod.Name+": "+msg)
}
func (r *fakeReporter) Forget(types.UID) {}
func (r *fakeReporter) Fail(ctx context.Context, pod *corev1.Pod, reason, msg string) error {
	r.wait(ctx)
	r.failed = append(r.failed, pod.Name+": "+reason)
	return ctx.Err()
}
func (r *fakeReporter) ForceDelete(ctx context.Context, pod *corev1.Pod, msg string) error {
	r.wait(ctx)
	r.deleted = append(r.deleted, pod.Name)
	return ctx.Err()
}
func (r *fakeReporter) RemoveNode(ctx context.Context, name, msg string) error {
	r.nodes = append(r.nodes, "removed "+name)
	return nil
}
func (r *fakeReporter) MarkNodeUnreachable(ctx context.Context, name, msg string) error {
	r.nodes = append(r.nodes, "unreachable "+name)
	return nil
}
func (r *fakeReporter) MarkNodeReachable(ctx context.Context, name, msg string) error {
	r.nodes = append(r.nodes, "reachable "+name)
	return nil
}

type loopTest struct {
	s      *Scheduler
	master *fakeMaster
	pods   *fakePods
	report *fakeReporter
	offers int
}

func newLoopTest(t *testing.T, pods ...*corev1.Pod) *loopTest {
	t.Helper()
	fw, err := NewFramework(FrameworkOptions{Master: "127.0.0.1:1", Name: "kubemesos", Role: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMaster{fail: map[scheduler.Call_Type]error{}}
	fw.caller = m
	fw.setID("fw-1")
	ps := &fakePods{pods: map[types.UID]*corev1.Pod{}}
	for _, p := range pods {
		ps.pods[p.UID] = p
	}
	r := &fakeReporter{}
	// These tests are of pod tasks; node tasks have their own (nodetasks_test.go).
	p := DefaultPolicy
	p.NodeTasks = false
	s := NewScheduler(fw, nil, ps, nil, r, ExecutorSpec{Command: "executor"}, p)
	s.subscribed = true
	return &loopTest{s: s, master: m, pods: ps, report: r}
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}}}},
	}
}

// offer hands the scheduler one more offer of a roomy agent "a1".
func (l *loopTest) offer(t *testing.T) string {
	t.Helper()
	return l.offerOf(t, "a1", 4000, 4096)
}

// update hands the scheduler a status update and performs the pod writes
// it queued.
func (l *loopTest) update(t *testing.T, st mesos.TaskStatus) {
	t.Helper()
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}); err != nil {
		t.Fatal(err)
	}
	l.s.report.Drain(t.Context())
}

// cycle runs a cycle and performs the pod writes it queued.
func (l *loopTest) cycle(t *testing.T) {
	t.Helper()
	_ = l.s.cycle(t.Context())
	l.s.report.Drain(t.Context())
}

// taskOf is the task ID of the pod's launch the scheduler holds ("" if none).
func (l *loopTest) taskOf(uid types.UID) string {
	if t, ok := l.s.tasks.Get(uid); ok {
		return t.TaskID
	}
	return ""
}

// podOf is the pod UID of a pod task ID.
func podOf(taskID string) types.UID {
	uid, _ := podtask.UIDFromTaskID(taskID)
	return uid
}

// earlierTask is the ID of a launch of the pod by an earlier bridge.
func earlierTask(uid types.UID) string {
	return podtask.TaskID(uid, podtask.Attempt{Epoch: 1, Seq: 1})
}

func launchedTasks(accepts []*scheduler.Call) []string {
	var ids []string
	for _, a := range accepts {
		for _, op := range a.GetAccept().GetOperations() {
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				ids = append(ids, ti.TaskID.Value)
			}
		}
	}
	return ids
}

// TestAcceptFailureNeverLaunchesTwice: an ACCEPT whose answer is lost may
// still have launched the pod. The bridge must not launch it again on the
// next offer (Mesos would answer TASK_ERROR for the duplicate task ID, and
// the bridge would fail the running pod); it asks the master what became of
// the task, gives the offer back, and launches the pod again only once the
// master says the task does not exist.
func TestAcceptFailureNeverLaunchesTwice(t *testing.T) {
	p := testPod("web")
	l := newLoopTest(t, p)
	first := l.offer(t)
	l.master.fail[scheduler.Call_ACCEPT] = errors.New("timeout awaiting response headers")
	l.cycle(t)
	calls := l.master.calls
	l.master.fail = map[scheduler.Call_Type]error{}
	var reconciled, declined []string
	for _, c := range calls {
		for _, rt := range c.GetReconcile().GetTasks() {
			reconciled = append(reconciled, rt.TaskID.Value+"@"+rt.GetAgentID().GetValue())
		}
		for _, id := range c.GetDecline().GetOfferIDs() {
			declined = append(declined, id.Value)
		}
	}
	if want := l.taskOf(p.UID) + "@a1"; len(reconciled) != 1 || reconciled[0] != want {
		t.Errorf("after a failed ACCEPT, explicit reconciliation of %s expected, got %v", want, reconciled)
	}
	if len(declined) != 1 || declined[0] != first {
		t.Errorf("the offer of the failed ACCEPT should be declined, got %v", declined)
	}
	l.master.take(0)

	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("pod launched again while its first launch may have succeeded: %v", got)
	}

	// No answer yet (the RECONCILE may have been lost too): ask again later.
	later := time.Now().Add(reconcileRetry)
	l.s.now = func() time.Time { return later }
	l.cycle(t)
	if got := l.master.take(scheduler.Call_RECONCILE); len(got) != 1 {
		t.Fatalf("want the unconfirmed task reconciled again, got %d RECONCILE calls", len(got))
	}

	// The master does not know the task: the pod may be launched again.
	l.update(t, mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: l.taskOf(p.UID)}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_GONE.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(),
	})
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 {
		t.Fatalf("pod not launched again once the master said its task is gone: %v", got)
	}
	if len(l.report.failed) != 0 {
		t.Fatalf("an unbound pod was failed: %v", l.report.failed)
	}
}

// TestFailedDeclineIsRetried: an offer whose DECLINE failed is still held by
// the framework as far as the master knows (Mesos does not rescind offers by
// default); the bridge must decline it again, not forget it.
func TestFailedDeclineIsRetried(t *testing.T) {
	l := newLoopTest(t) // nothing pending: every offer is declined
	id := l.offer(t)
	l.master.fail[scheduler.Call_DECLINE] = errors.New("503 Service Unavailable")
	l.cycle(t)
	l.master.fail = map[scheduler.Call_Type]error{}
	l.master.take(0)
	l.cycle(t)
	var declined []string
	for _, c := range l.master.take(scheduler.Call_DECLINE) {
		for _, o := range c.GetDecline().GetOfferIDs() {
			declined = append(declined, o.Value)
		}
	}
	if len(declined) != 1 || declined[0] != id {
		t.Fatalf("want %s declined again after a failed DECLINE, got %v", id, declined)
	}
	if n := l.s.offers.Len(); n != 0 {
		t.Fatalf("%d offers still held after a successful DECLINE", n)
	}
}

// TestKillIsSentAgainAfterNews: a KILL may be lost (master failover, agent
// disconnected). The bridge sends it once per state it hears of, so the
// reconciliation after a re-subscription sends it again.
func TestKillIsSentAgainAfterNews(t *testing.T) {
	p := testPod("gone")
	l := newLoopTest(t)
	running := mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: earlierTask(p.UID)}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(),
	}
	l.update(t, running) // adopted; its pod does not exist
	l.cycle(t)
	if n := len(l.master.take(scheduler.Call_KILL)); n != 1 {
		t.Fatalf("want 1 KILL for the task of a deleted pod, got %d", n)
	}
	l.cycle(t)
	if n := len(l.master.take(scheduler.Call_KILL)); n != 0 {
		t.Fatalf("KILL repeated without news of the task: %d", n)
	}
	l.update(t, running) // the task still runs: the KILL was lost
	l.cycle(t)
	if n := len(l.master.take(scheduler.Call_KILL)); n != 1 {
		t.Fatalf("want the KILL sent again after the task was reported still running, got %d", n)
	}
}

// TestHungAPIServerDoesNotStallTheLoop: the loop only queues its pod
// writes, so an API server that accepts connections and never answers
// cannot keep it from launching, declining offers and handling events; the
// writer performs them meanwhile, each bounded by its timeout.
func TestHungAPIServerDoesNotStallTheLoop(t *testing.T) {
	huge, small := testPod("huge"), testPod("small")
	huge.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("64")
	l := newLoopTest(t, huge, small)
	l.report.block = true
	l.s.report.timeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go l.s.report.Run(ctx)
	l.offer(t)
	start := time.Now()
	if err := l.s.cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("a scheduling cycle took %v with a hung API server", d)
	}
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 || podOf(got[0]) != small.UID {
		t.Fatalf("launched %v, want the pod that fits at once", got)
	}
	// The report of the pod that fits nowhere reaches the hung API
	// server, times out there, and the writer moves on.
	mesostest.Eventually(t, 5*time.Second, "the report tried", func() (bool, string) {
		return l.report.calls.Load() == 1 && l.s.report.Len() == 0, fmt.Sprint(l.s.report.Len(), " writes queued")
	})
}

// TestNoOffersIsExplained: with no offer held, a pod pending longer than the
// offer TTL is told why it waits (invariant 2); a newer one is not yet.
func TestNoOffersIsExplained(t *testing.T) {
	old, fresh := testPod("old"), testPod("fresh")
	now := time.Now()
	old.CreationTimestamp = metav1.NewTime(now.Add(-2 * DefaultPolicy.OfferTTL))
	fresh.CreationTimestamp = metav1.NewTime(now)
	l := newLoopTest(t, old, fresh)
	l.s.now = func() time.Time { return now }
	if err := l.s.cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.s.report.Drain(t.Context())
	if want := []string{"old: " + MessageNoOffers}; len(l.report.unschedulable) != 1 || l.report.unschedulable[0] != want[0] {
		t.Fatalf("reports %q, want %q", l.report.unschedulable, want)
	}
	if len(l.master.take(scheduler.Call_REVIVE)) != 1 {
		t.Fatal("no REVIVE while pods wait and no offer is held")
	}
}

// TestUnknownTaskOfBoundPodIsKept: TASK_UNKNOWN (the agent has not come back
// to a new master yet) does not make the bridge forget a task whose pod is
// bound; for an unbound pod the task is forgotten and the pod pending again.
func TestUnknownTaskOfBoundPodIsKept(t *testing.T) {
	bound, unbound := testPod("bound"), testPod("unbound")
	bound.Spec.NodeName = "agent-1"
	l := newLoopTest(t, bound, unbound)
	for _, p := range []*corev1.Pod{bound, unbound} {
		l.s.tasks.Launched(podtask.RefOf(p), earlierTask(p.UID), "a1")
		l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: earlierTask(p.UID)},
			State: mesos.TASK_UNKNOWN.Enum(), AgentID: &mesos.AgentID{Value: "a1"}})
	}
	if _, ok := l.s.tasks.Get(bound.UID); !ok {
		t.Error("the task of a bound pod was forgotten on TASK_UNKNOWN")
	}
	if _, ok := l.s.tasks.Get(unbound.UID); ok {
		t.Error("the task of an unbound pod was kept on TASK_UNKNOWN: it would never be launched again")
	}
	if len(l.report.failed) != 0 {
		t.Errorf("pods failed on TASK_UNKNOWN: %v", l.report.failed)
	}
}

// TestFailedLaunchBacksOff: a task that ends before its pod was bound (here
// the executor could not bind it) holds the pod back for RelaunchBackoff,
// doubling on each failure, and says why; then the pod is launched again.
func TestFailedLaunchBacksOff(t *testing.T) {
	p := testPod("stubborn")
	l := newLoopTest(t, p)
	now := time.Now()
	l.s.now = func() time.Time { return now }
	fail := func() {
		l.update(t, mesos.TaskStatus{
			TaskID: mesos.TaskID{Value: l.taskOf(p.UID)}, AgentID: &mesos.AgentID{Value: "a1"},
			State: mesos.TASK_FAILED.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), Message: proto("bind refused"),
		})
	}
	launches := func() int {
		l.offer(t)
		l.cycle(t)
		return len(launchedTasks(l.master.take(scheduler.Call_ACCEPT)))
	}
	if n := launches(); n != 1 {
		t.Fatalf("first launch: %d tasks", n)
	}
	fail()
	if n := launches(); n != 0 {
		t.Fatal("launched again at once after a failed launch")
	}
	if len(l.report.unschedulable) == 0 || !strings.Contains(l.report.unschedulable[len(l.report.unschedulable)-1], "bind refused; launching again in 1s") {
		t.Fatalf("the user is not told why: %q", l.report.unschedulable)
	}
	now = now.Add(DefaultPolicy.RelaunchBackoff)
	if n := launches(); n != 1 {
		t.Fatal("not launched again after the backoff")
	}
	fail()
	now = now.Add(DefaultPolicy.RelaunchBackoff)
	if n := launches(); n != 0 {
		t.Fatal("the second backoff did not double")
	}
	now = now.Add(DefaultPolicy.RelaunchBackoff)
	if n := launches(); n != 1 {
		t.Fatal("not launched again after the doubled backoff")
	}
}

// TestUnsetReasonIsNotLogged: a status without a reason is logged without
// one (the protobuf enum's zero value reads REASON_COMMAND_EXECUTOR_FAILED)
// and says none in pod messages; a status with one shows it.
func TestUnsetReasonIsNotLogged(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	ctx := klog.NewContext(t.Context(), logger)
	l := newLoopTest(t)
	running := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "pod.u1"}, State: mesos.TASK_RUNNING.Enum(),
		Source: mesos.SOURCE_EXECUTOR.Enum(), AgentID: &mesos.AgentID{Value: "a1"}}
	failed := running
	failed.State, failed.Reason = mesos.TASK_FAILED.Enum(), mesos.REASON_EXECUTOR_TERMINATED.Enum()
	for _, st := range []mesos.TaskStatus{running, failed} {
		if err := l.s.handle(ctx, &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	var reasons []string // of each "Task update" line, "-" when it has none
	for _, e := range logger.GetSink().(ktesting.Underlier).GetBuffer().Data() {
		if e.Message != "Task update" {
			continue
		}
		reason := "-"
		for i := 0; i+1 < len(e.ParameterKVList); i += 2 {
			if e.ParameterKVList[i] == "reason" {
				reason = fmt.Sprint(e.ParameterKVList[i+1])
			}
		}
		reasons = append(reasons, reason)
	}
	if got, want := strings.Join(reasons, " "), "- REASON_EXECUTOR_TERMINATED"; got != want {
		t.Errorf("reasons logged for a status without and one with a reason: %q, want %q", got, want)
	}
	if msg := FailureMessage(running); strings.Contains(msg, "REASON_") {
		t.Errorf("message of a status without a reason names one: %q", msg)
	}
}

// TestReviveOnlyForNewPendingPods: with pods waiting and no offer, the bridge
// revives once, not every cycle; a pod that becomes pending (new, or back
// from its relaunch backoff) gets one more, rate-limited; a new subscription
// revives once.
func TestReviveOnlyForNewPendingPods(t *testing.T) {
	now := time.Now()
	l := newLoopTest(t, testPod("a"))
	l.s.now = func() time.Time { return now }
	revives := func(cycles int) int {
		for range cycles {
			now = now.Add(l.s.policy.ReviveEvery)
			l.cycle(t)
		}
		return len(l.master.take(scheduler.Call_REVIVE))
	}
	if n := revives(10); n != 1 {
		t.Fatalf("%d REVIVEs in 10 cycles with one waiting pod, want 1", n)
	}
	b := testPod("b")
	l.pods.pods[b.UID] = b
	if n := revives(10); n != 1 {
		t.Fatalf("%d REVIVEs after a new pod, want 1", n)
	}
	// b's launch fails before binding: pending again after its backoff.
	l.s.backoff[b.UID] = relaunch{at: now.Add(3 * l.s.policy.ReviveEvery), delay: time.Second}
	if n := revives(2); n != 0 {
		t.Fatalf("%d REVIVEs while the only new pod backs off, want 0", n)
	}
	if n := revives(10); n != 1 {
		t.Fatalf("%d REVIVEs once the pod's backoff ended, want 1", n)
	}
	// A pod that shows up right after a REVIVE waits for ReviveEvery.
	l.pods.pods["uid-c"] = testPod("c")
	if n := revives(1); n != 1 {
		t.Fatalf("%d REVIVEs for a new pod, want 1", n)
	}
	l.pods.pods["uid-d"] = testPod("d")
	l.cycle(t) // at the time of the last REVIVE
	if n := len(l.master.take(scheduler.Call_REVIVE)); n != 0 {
		t.Fatalf("%d REVIVEs within ReviveEvery of the last, want 0", n)
	}
	if n := revives(1); n != 1 {
		t.Fatalf("%d REVIVEs after ReviveEvery, want 1", n)
	}
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_SUBSCRIBED,
		Subscribed: &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-1"}}}); err != nil {
		t.Fatal(err)
	}
	if n := revives(10); n != 1 {
		t.Fatalf("%d REVIVEs after a new subscription, want 1", n)
	}
}

// TestAgentHold: launches failed by an agent's executor hold the agent back,
// doubling per failure in a row (the tasks of one failed bring-up count
// once); its offers are declined meanwhile and pods go to other agents; a
// task the executor reports starting there ends the hold.
func TestAgentHold(t *testing.T) {
	now := time.Now()
	pods := []*corev1.Pod{testPod("a"), testPod("b")}
	l := newLoopTest(t, pods...)
	l.s.now = func() time.Time { return now }
	failed := func(p *corev1.Pod) mesos.TaskStatus {
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: l.taskOf(p.UID)}, State: mesos.TASK_FAILED.Enum(),
			Source: mesos.SOURCE_EXECUTOR.Enum(), Reason: mesos.REASON_EXECUTOR_TERMINATED.Enum(),
			AgentID: &mesos.AgentID{Value: "a1"}, Message: proto("node could not start: no cgroup hierarchy is mounted")}
	}
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 2 {
		t.Fatalf("launched %v, want both pods", got)
	}
	for _, p := range pods {
		l.update(t, failed(p))
	}
	h := l.s.agents["a1"]
	if h == nil || h.failures != 1 || h.delay != DefaultPolicy.AgentBackoff {
		t.Fatalf("hold after one failed bring-up (two tasks) = %+v, want 1 failure, %v", h, DefaultPolicy.AgentBackoff)
	}
	// Held: its offers are declined until the hold ends, nothing is launched.
	now = now.Add(DefaultPolicy.MaxRelaunchBackoff)
	h.until = now.Add(time.Minute)
	l.offer(t)
	l.cycle(t)
	calls := l.master.calls
	l.master.take(scheduler.Call_ACCEPT)
	var declined, accepted int
	for _, c := range calls {
		switch c.GetType() {
		case scheduler.Call_DECLINE:
			declined++
			if rs := c.GetDecline().GetFilters().GetRefuseSeconds(); rs < 60 {
				t.Errorf("held agent's offer declined for %vs, want the rest of the hold (60 s)", rs)
			}
		case scheduler.Call_ACCEPT:
			accepted++
		}
	}
	if declined != 1 || accepted != 0 {
		t.Fatalf("while held: %d DECLINE %d ACCEPT, want 1 and 0", declined, accepted)
	}
	// The hold ends; the next failure doubles it.
	now = h.until
	l.offer(t)
	l.cycle(t)
	l.master.take(scheduler.Call_ACCEPT)
	l.update(t, failed(pods[0]))
	if h.failures != 2 || h.delay != 2*DefaultPolicy.AgentBackoff {
		t.Fatalf("hold after a second failure = %+v, want 2 failures, %v", h, 2*DefaultPolicy.AgentBackoff)
	}
	// A task the executor starts there ends it.
	l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: l.taskOf(pods[1].UID)}, State: mesos.TASK_STARTING.Enum(),
		Source: mesos.SOURCE_EXECUTOR.Enum(), AgentID: &mesos.AgentID{Value: "a1"}})
	if _, held := l.s.agents["a1"]; held {
		t.Fatal("agent still held after its executor started a task")
	}
}

// TestUpdateReturnsItsCalls: the decision on a status update makes no Mesos
// call; it returns them (the acknowledgement, a KILL of a second live task
// of a pod) for the edge to make, in order.
func TestUpdateReturnsItsCalls(t *testing.T) {
	p := testPod("web")
	l := newLoopTest(t, p)
	l.offer(t)
	l.cycle(t)
	l.master.take(0)
	current := l.taskOf(p.UID)
	running := func(id string) mesos.TaskStatus {
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: id}, State: mesos.TASK_RUNNING.Enum(),
			AgentID: &mesos.AgentID{Value: "a1"}, Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: []byte("u1")}
	}
	got := l.s.update(t.Context(), running(current), time.Now())
	if len(l.master.calls) != 0 {
		t.Fatalf("update made %d calls itself", len(l.master.calls))
	}
	if len(got) != 1 || got[0].GetType() != scheduler.Call_ACKNOWLEDGE || got[0].GetAcknowledge().TaskID.Value != current {
		t.Fatalf("calls %v, want the acknowledgement of %s", got, current)
	}
	// Another live task of the pod next to the confirmed one: killed, then acknowledged.
	other := earlierTask(p.UID)
	got = l.s.update(t.Context(), running(other), time.Now())
	if len(got) != 2 || got[0].GetType() != scheduler.Call_KILL || got[0].GetKill().TaskID.Value != other ||
		got[1].GetType() != scheduler.Call_ACKNOWLEDGE {
		t.Fatalf("calls %v, want KILL of %s and its acknowledgement", got, other)
	}
	if l.taskOf(p.UID) != current {
		t.Fatalf("the registry holds %s, want %s", l.taskOf(p.UID), current)
	}
}

// TestSubscribedReturnsReconciliations: a new subscription voids held
// offers and returns, without making them, the explicit reconciliation of
// every known task followed by the implicit one.
func TestSubscribedReturnsReconciliations(t *testing.T) {
	p := testPod("web")
	l := newLoopTest(t, p)
	l.offer(t)
	l.s.tasks.Launched(podtask.RefOf(p), earlierTask(p.UID), "a1")
	got := l.s.subscribedAt(time.Now())
	if len(l.master.calls) != 0 {
		t.Fatalf("subscribedAt made %d calls itself", len(l.master.calls))
	}
	if len(got) != 2 || got[0].GetType() != scheduler.Call_RECONCILE || got[1].GetType() != scheduler.Call_RECONCILE {
		t.Fatalf("calls %v, want two reconciliations", got)
	}
	if ids := reconciledTasks(got[:1]); len(ids) != 1 || ids[0] != earlierTask(p.UID)+"@a1" {
		t.Fatalf("explicit reconciliation of %v, want the known task first", ids)
	}
	if len(got[1].GetReconcile().GetTasks()) != 0 {
		t.Fatal("the second reconciliation is not the implicit one")
	}
	if l.s.offers.Len() != 0 {
		t.Fatal("offers of the earlier stream still held")
	}
}

// TestReasonFromOffersStandsWithoutOffers: a pod that fits no offer is told
// why; the bridge declines the offer, and in the cycles that hold no offer
// the pod keeps that reason (report and pending log) instead of "no offers".
// A pod never tried against an offer is told there are none.
func TestReasonFromOffersStandsWithoutOffers(t *testing.T) {
	big := testPod("big")
	big.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("64")
	now := time.Now()
	big.CreationTimestamp = metav1.NewTime(now.Add(-2 * DefaultPolicy.OfferTTL))
	l := newLoopTest(t, big)
	l.s.now = func() time.Time { return now }
	l.offer(t)
	l.cycle(t)
	if len(l.master.take(scheduler.Call_DECLINE)) != 1 {
		t.Fatal("the offer no pod fits was not declined")
	}
	if len(l.report.unschedulable) != 1 || !strings.Contains(l.report.unschedulable[0], "cpu") {
		t.Fatalf("reports %q, want one naming cpu", l.report.unschedulable)
	}
	now = now.Add(time.Second)
	late := testPod("late")
	late.CreationTimestamp = metav1.NewTime(now.Add(-2 * DefaultPolicy.OfferTTL))
	l.pods.pods[late.UID] = late
	l.cycle(t)
	l.cycle(t)
	want := []string{l.report.unschedulable[0], "late: " + MessageNoOffers, "late: " + MessageNoOffers}
	if !slices.Equal(l.report.unschedulable, want) {
		t.Fatalf("reports %q, want %q", l.report.unschedulable, want)
	}
	byName := map[string]string{}
	for _, p := range l.s.PendingLog().Report().Pods {
		byName[p.Name] = p.Message
	}
	if !strings.Contains(byName["big"], "cpu") || byName["late"] != MessageNoOffers {
		t.Fatalf("pending log %q, want big's cpu reason kept and late with no offers", byName)
	}
}
