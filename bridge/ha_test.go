package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// haLeaseTTL is the leader lease of the HA bridges in tests.
const haLeaseTTL = 2 * time.Second

// launchLog counts the LAUNCH operations of the ACCEPTs the master took from
// every bridge, by pod UID for pod tasks (every launch has its own task ID)
// and by task ID for node tasks: a pod launched twice shows as a count of 2.
type launchLog struct {
	mu    sync.Mutex
	count map[string]int
	by    map[string]string // pod UID (or node task ID) → the bridge that first launched it
}

// launchKey is what launchLog counts a task under.
func launchKey(taskID string) string {
	if uid, ok := podtask.UIDFromTaskID(taskID); ok {
		return string(uid)
	}
	return taskID
}

func newLaunchLog() *launchLog { return &launchLog{count: map[string]int{}, by: map[string]string{}} }

// wrap is the caller decorator of the bridge named name.
func (l *launchLog) wrap(name string) func(calls.Caller) calls.Caller {
	return func(c calls.Caller) calls.Caller {
		return calls.CallerFunc(func(ctx context.Context, call *scheduler.Call) (mesos.Response, error) {
			resp, err := c.Call(ctx, call)
			// Only ACCEPTs the master took count: one a killed leader's
			// cancelled context stopped may be followed by the next leader's
			// launch of the same pod. (One whose answer was lost and that was
			// launched all the same shows in the master's state, which
			// everyPodOnce checks.)
			if call.GetType() == scheduler.Call_ACCEPT && err == nil {
				l.mu.Lock()
				for _, op := range call.GetAccept().GetOperations() {
					for _, ti := range op.GetLaunch().GetTaskInfos() {
						k := launchKey(ti.TaskID.Value)
						if l.count[k]++; l.by[k] == "" {
							l.by[k] = name
						}
					}
				}
				l.mu.Unlock()
			}
			return resp, err
		})
	}
}

// launchedBy is the UID of a pod the bridge named name launched ("" if none).
func (l *launchLog) launchedBy(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.by {
		if b == name && !podtask.IsNodeTask(k) {
			return k
		}
	}
	return ""
}

// twice returns the pods (and node tasks) launched more than once.
func (l *launchLog) twice() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, n := range l.count {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s×%d", id, n))
		}
	}
	return out
}

// total is the number of pods launched (node tasks left out).
func (l *launchLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k := range l.count {
		if !podtask.IsNodeTask(k) {
			n++
		}
	}
	return n
}

// sentBy is the number of tasks (pods' and node tasks) the bridge named
// name sent in LAUNCH operations.
func (l *launchLog) sentBy(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, b := range l.by {
		if b == name {
			n += l.count[id]
		}
	}
	return n
}

// haBridge is one `kubemesos scheduler --etcd-endpoints …` of several.
type haBridge struct {
	name    string
	leading atomic.Bool
	elected atomic.Int64 // unix nanos of the last election won
	kill    func()       // cancel its context: no resign, the lease runs out
	done    chan error
	metrics *prometheus.Registry
}

// metric is the value of the metric name with the given labels (name=value
// pairs) in b's registry; ok is false when it has none.
func (b *haBridge) metric(t *testing.T, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	mfs, err := b.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

// startHABridge starts a bridge that campaigns in the etcd at endpoint and
// schedules only while it leads; launches are counted in launches.
func (c *testCluster) startHABridge(t *testing.T, name, endpoint, prefix string, launches *launchLog) *haBridge {
	t.Helper()
	var wrap func(calls.Caller) calls.Caller
	if launches != nil {
		wrap = launches.wrap(name)
	}
	return c.startHABridgeWith(t, name, endpoint, prefix, wrap)
}

// startHABridgeWith is startHABridge with the bridge's Mesos calls going
// through wrap (when not nil).
func (c *testCluster) startHABridgeWith(t *testing.T, name, endpoint, prefix string, wrap func(calls.Caller) calls.Caller) *haBridge {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cli := newEtcdClient(t, endpoint)
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: c.master, Name: "kubemesos", Role: "kubernetes", FailoverTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		fw.Decorate(wrap, nil)
	}
	feed := k8sapi.NewPodFeed(c.bclient, "default-scheduler", time.Minute)
	if err := feed.Run(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := k8sapi.NewNodeMirror(c.bclient, time.Minute)
	if err := nodes.Run(ctx); err != nil {
		t.Fatal(err)
	}
	reporter := k8sapi.NewPodReporter(ctx, c.bclient, "default-scheduler")
	exec := bridge.ExecutorSpec{Command: c.executor, Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 32}}
	b := &haBridge{name: name, done: make(chan error, 1), metrics: prometheus.NewRegistry()}
	metrics := bridge.NewMetrics(b.metrics)
	metrics.Instrument(fw)
	metrics.PendingPods(feed)
	el := &bridge.Election{
		Client: cli, Store: bridge.NewEtcdStore(cli, prefix), Identity: name, LeaseTTL: haLeaseTTL,
		OnLeader: func(leading bool) {
			metrics.SetLeader(leading)
			if leading {
				b.elected.Store(time.Now().UnixNano())
			}
			b.leading.Store(leading)
		},
	}
	go func() {
		b.done <- el.Run(ctx, func(ctx context.Context, term bridge.Term) error {
			sched := bridge.NewScheduler(fw, metrics.InstrumentStore(term.Store), feed, nodes, reporter, exec, c.policy)
			c.useVolumes(ctx, sched)
			return sched.Run(ctx)
		})
	}()
	var once sync.Once
	b.kill = func() {
		once.Do(func() {
			cancel()
			if err := <-b.done; err != nil {
				t.Errorf("bridge %s: %v", name, err)
			}
			b.leading.Store(false)
			reporter.Shutdown()
		})
	}
	t.Cleanup(b.kill)
	return b
}

// taskCounts counts the kubemesos pod tasks in /master/state by pod UID
// (live and completed, so a pod launched again after its task ended counts
// twice) and returns them with the states of the pods' last tasks.
func (c *testCluster) taskCounts(t *testing.T) (map[string]int, map[string]string) {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	n, states := map[string]int{}, map[string]string{}
	for _, fw := range append(st.Frameworks, st.CompletedFramework...) {
		if fw.Name != "kubemesos" {
			continue
		}
		for _, tk := range append(fw.CompletedTasks, fw.Tasks...) {
			uid, ok := podtask.UIDFromTaskID(tk.ID)
			if !ok {
				continue // a node task
			}
			n[string(uid)]++
			states[string(uid)] = tk.State
		}
	}
	return n, states
}

// storedIntents reads the intents in etcd.
func storedIntents(t *testing.T, cli *clientv3.Client, prefix string) []bridge.LaunchIntent {
	t.Helper()
	ins, err := bridge.NewEtcdStore(cli, prefix).Intents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// TestLeaderKilledMidLaunch: two bridges, one leads; it is killed (its
// context cancelled, its lease left to run out) while pods are being
// created and launched. The standby takes over within the lease plus a few
// seconds, adopts the tasks the dead leader launched, launches the rest,
// and no pod is launched twice.
func TestLeaderKilledMidLaunch(t *testing.T) {
	c := newCluster(t, 1, nil)
	// Binding takes a while, so at the kill some launched tasks are live in
	// Mesos while their pods still look pending to the standby: only their
	// intents keep it from launching them again.
	env := maps.Clone(c.execEnv)
	env[bindDelayEnv] = "1s"
	for range 3 {
		c.startAgent("cpus:4;mem:4096", env)
	}
	ctx := t.Context()
	cli, endpoint := etcdClient(t)
	launches := newLaunchLog()
	a := c.startHABridge(t, "bridge-a", endpoint, "/kubemesos", launches)
	eventually(t, 10*time.Second, "bridge-a leading", func() (bool, string) { return a.leading.Load(), "" })
	b := c.startHABridge(t, "bridge-b", endpoint, "/kubemesos", launches)

	const pods = 40
	burst := c.createPods(ctx, "ha", pods, 40*time.Millisecond)
	eventually(t, 30*time.Second, "the leader launching pods", func() (bool, string) {
		n := launches.total()
		return n >= 8, fmt.Sprintf("%d launched", n)
	})
	if b.leading.Load() {
		t.Fatal("the standby leads while the leader lives")
	}
	killed := time.Now()
	a.kill()
	atKill := launches.total()
	eventually(t, haLeaseTTL+10*time.Second, "bridge-b leading", func() (bool, string) { return b.leading.Load(), "" })
	elected := time.Unix(0, b.elected.Load()).Sub(killed)
	if err := <-burst.done; err != nil {
		t.Fatal(err)
	}
	all := func() (bool, string) {
		n, states := c.taskCounts(t)
		running := burst.running(states)
		return running == pods, fmt.Sprintf("%d/%d running; tasks %v", running, pods, n)
	}
	eventually(t, 60*time.Second, "every pod's task RUNNING", all)
	t.Logf("leader killed after %d launches; standby elected %v later, all %d pods running %v after the kill",
		atKill, elected.Round(time.Millisecond), pods, time.Since(killed).Round(time.Millisecond))
	if elected > haLeaseTTL+3*time.Second {
		t.Errorf("takeover took %v, want at most the lease (%v) + 3 s", elected, haLeaseTTL)
	}
	if atKill >= pods {
		t.Errorf("the leader launched all %d pods before it was killed: the test did not kill it mid-launch", pods)
	}

	if dup := launches.twice(); len(dup) > 0 {
		t.Fatalf("pods launched twice: %v", dup)
	}
	c.everyPodOnce(t, pods)
	// Every live task has its intent, confirmed.
	eventually(t, 10*time.Second, "an intent per task, each confirmed", func() (bool, string) {
		ins := storedIntents(t, cli, "/kubemesos")
		confirmed := 0
		for _, in := range ins {
			if in.Confirmed {
				confirmed++
			}
		}
		return len(ins) == pods && confirmed == pods, fmt.Sprintf("%d intents, %d confirmed", len(ins), confirmed)
	})

	// The metrics tell the same story.
	for _, m := range []struct {
		b      *haBridge
		name   string
		labels []string
		want   float64
	}{
		{a, "kubemesos_leader", nil, 0},
		{b, "kubemesos_leader", nil, 1},
		{a, "kubemesos_leader_terms_total", nil, 1},
		{b, "kubemesos_leader_terms_total", nil, 1},
		{b, "kubemesos_pending_pods", nil, 0},
	} {
		if got, _ := m.b.metric(t, m.name, m.labels...); got != m.want {
			t.Errorf("%s: %s%v = %v, want %v", m.b.name, m.name, m.labels, got, m.want)
		}
	}
	for _, h := range []*haBridge{a, b} {
		// bridge-a's last ACCEPTs may have failed as it was killed.
		ok, _ := h.metric(t, "kubemesos_launches_total", "result", "ok")
		failed, _ := h.metric(t, "kubemesos_launches_total", "result", "error")
		if sent := launches.sentBy(h.name); ok+failed != float64(sent) {
			t.Errorf("%s: kubemesos_launches_total ok %v + error %v, want the %d tasks it sent", h.name, ok, failed, sent)
		}
	}
	for _, name := range []string{"kubemesos_offers_received_total", "kubemesos_offers_declined_total"} {
		if got, _ := b.metric(t, name); got == 0 {
			t.Errorf("bridge-b: %s = 0", name)
		}
	}
	if got, _ := b.metric(t, "kubemesos_intent_writes_total", "result", "ok"); got < 1 {
		t.Errorf("bridge-b wrote no intents: %v", got)
	}
	if got, _ := b.metric(t, "kubemesos_offers_held"); got < 0 {
		t.Errorf("bridge-b holds %v offers", got)
	}

	// The new leader adopted the dead one's tasks: deleting a pod that
	// bridge-a launched kills its task, and its intent goes.
	var first corev1.Pod
	byA := launches.launchedBy("bridge-a")
	podList, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range podList.Items {
		if string(p.UID) == byA {
			first = p
		}
	}
	if first.Name == "" {
		t.Fatalf("no pod %q of bridge-a's", byA)
	}
	if err := c.client.CoreV1().Pods("default").Delete(ctx, first.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, first.Name+"'s task KILLED and its intent removed", func() (bool, string) {
		_, states := c.taskCounts(t)
		ins := storedIntents(t, cli, "/kubemesos")
		for _, in := range ins {
			if in.Pod.UID == first.UID {
				return false, "intent still there; task " + states[string(first.UID)]
			}
		}
		return states[string(first.UID)] == "TASK_KILLED", states[string(first.UID)]
	})
}

// TestNewLeaderReconcilesIntents: a leader that died between writing its
// intents and sending the ACCEPT leaves intents of tasks Mesos never saw;
// unreadable intents may be there too. The next leader reconciles them
// before launching: it launches each pod exactly once and does not crash on
// the garbage. A malformed framework ID stops the bridge with an error
// naming the key, not a crash.
func TestNewLeaderReconcilesIntents(t *testing.T) {
	c := newCluster(t, 1, nil, "cpus:2;mem:2048")
	ctx := t.Context()
	cli, endpoint := etcdClient(t)
	// The pods exist before any bridge runs.
	var names []string
	uids := map[string]string{}
	for _, name := range []string{"never-sent", "garbled", "plain"} {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(name, "100m", "32Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		uids[name] = string(p.UID)
	}
	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil || len(st.Agents) != 1 {
		t.Fatalf("master state: %+v, %v", st, err)
	}
	agentID := st.Agents[0].ID
	ns := podtask.PodRef{Namespace: "default", Name: "never-sent", UID: types.UID(uids["never-sent"])}
	rec, err := bridge.EncodeIntent(bridge.LaunchIntent{Pod: ns, TaskID: podtask.TaskID(ns.UID, podtask.Attempt{}), AgentID: agentID, OfferID: "gone", Written: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for key, val := range map[string]string{
		"/kubemesos/intents/" + uids["never-sent"]: string(rec),
		"/kubemesos/intents/" + uids["garbled"]:    "\x00garbage{",
		"/kubemesos/intents/no/pod":                "{}",
	} {
		if _, err := cli.Put(ctx, key, val); err != nil {
			t.Fatal(err)
		}
	}
	launches := newLaunchLog()
	c.startHABridge(t, "bridge-a", endpoint, "/kubemesos", launches)
	eventually(t, 30*time.Second, "the three pods RUNNING", func() (bool, string) {
		_, states := c.taskCounts(t)
		running := 0
		for _, n := range names {
			if states[uids[n]] == "TASK_RUNNING" {
				running++
			}
		}
		return running == len(names), fmt.Sprint(states)
	})
	if dup := launches.twice(); len(dup) > 0 {
		t.Fatalf("pods launched twice: %v", dup)
	}
	n, _ := c.taskCounts(t)
	for uid, k := range n {
		if k != 1 {
			t.Errorf("pod %s has %d tasks", uid, k)
		}
	}
	eventually(t, 10*time.Second, "the intents of the three pods, rewritten whole", func() (bool, string) {
		ins, err := bridge.NewEtcdStore(cli, "/kubemesos").Intents(ctx)
		var got []string
		for _, in := range ins {
			got = append(got, fmt.Sprintf("%s confirmed=%v", in.Pod.Name, in.Confirmed))
		}
		sort.Strings(got)
		// The keyless garbage stays (it names no pod) and is reported.
		return len(ins) == 3 && errors.Is(err, bridge.ErrMalformedRecord) && strings.Contains(err.Error(), "intents/no/pod") &&
			!strings.Contains(err.Error(), uids["garbled"]), fmt.Sprintf("%v; %v", got, err)
	})

	// A malformed framework ID: the bridge that leads stops with an error
	// naming the key.
	// Under a prefix of its own, so this bridge leads at once.
	el := &bridge.Election{Client: cli, Store: bridge.NewEtcdStore(cli, "/other"), Identity: "bridge-c", LeaseTTL: haLeaseTTL}
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: c.master, Name: "kubemesos", Role: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	feed := k8sapi.NewPodFeed(c.bclient, "default-scheduler", time.Minute)
	if err := feed.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/other/framework", "{oops"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = el.Run(rctx, func(ctx context.Context, term bridge.Term) error {
		return bridge.NewScheduler(fw, term.Store, feed, nil, k8sapi.NewPodReporter(ctx, c.bclient, "default-scheduler"), bridge.ExecutorSpec{Command: c.executor}, c.policy).Run(ctx)
	})
	if !errors.Is(err, bridge.ErrMalformedRecord) || !strings.Contains(err.Error(), "/other/framework") {
		t.Fatalf("bridge on a malformed framework ID: %v; want a malformed-record error naming /other/framework", err)
	}
}

// everyPodOnce checks that the master holds exactly pods pod tasks, each
// once, and that every pod is bound and not Failed.
func (c *testCluster) everyPodOnce(t *testing.T, pods int) {
	t.Helper()
	n, states := c.taskCounts(t)
	if len(n) != pods {
		t.Fatalf("want tasks of %d pods at the master, got %d: %v", pods, len(n), states)
	}
	for uid, k := range n {
		if k != 1 {
			t.Errorf("pod %s has %d tasks in the master's state", uid, k)
		}
	}
	podList, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range podList.Items {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodFailed {
			t.Errorf("pod %s: node %q phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
}

// podBurst is pods created one after another in the background.
type podBurst struct {
	mu   sync.Mutex
	uids []string
	// done receives the first create error, or nil once all are created.
	done chan error
}

// createPods creates n pods <prefix>-00… in the background, gap apart.
func (c *testCluster) createPods(ctx context.Context, prefix string, n int, gap time.Duration) *podBurst {
	b := &podBurst{done: make(chan error, 1)}
	go func() {
		for i := range n {
			p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("%s-%02d", prefix, i), "100m", "32Mi"), metav1.CreateOptions{})
			if err != nil {
				b.done <- err
				return
			}
			b.mu.Lock()
			b.uids = append(b.uids, string(p.UID))
			b.mu.Unlock()
			time.Sleep(gap)
		}
		b.done <- nil
	}()
	return b
}

// running counts the created pods whose task is TASK_RUNNING in states.
func (b *podBurst) running(states map[string]string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, u := range b.uids {
		if states[u] == "TASK_RUNNING" {
			n++
		}
	}
	return n
}
