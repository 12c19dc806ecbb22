package bridge_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/k8sapi"
	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// The agents launch this test binary as their executor: mesostest's test
// executor stands in for the kubelet-executor, binding the pod like the real
// one (bindPod) and reporting it RUNNING at once, without a kubelet. The real
// executor is exercised end to end in conformance/.
func TestMain(m *testing.M) {
	mesostest.RunExecutorIfRequested(bindPod)
	runHABridgeIfRequested()
	if os.Getenv(kubeletExecutorEnv) == "1" {
		// The real kubelet-executor, for tests of what it reports.
		if err := kubeletexecutor.RunFromEnv(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "kubelet-executor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kubeletExecutorEnv set to "1" in an agent's executor environment makes this
// test binary run the real kubelet-executor (kubemesos executor).
const kubeletExecutorEnv = "BRIDGE_TEST_KUBELET_EXECUTOR"

type testCluster struct {
	t          *testing.T
	client     kubernetes.Interface // admin
	bclient    kubernetes.Interface // the bridge's identity
	master     string               // every master, comma-separated
	masters    []testMaster
	executor   string
	stopBridge func()
	// execKubeconfig is the executors' identity; execEnv the environment
	// that runs mesostest's test executor.
	execKubeconfig string
	execEnv        map[string]string
	agents         int
	// policy is the bridge's (DefaultPolicy with short waits unless a test
	// changes it before startBridge).
	policy bridge.Policy
	// bridgeKubeconfig is the bridge identity's kubeconfig file;
	// adminKubeconfig the cluster admin's.
	bridgeKubeconfig, adminKubeconfig string
	// volumes makes the bridges provision persistent volumes (UseVolumes).
	volumes bool
	// maintenance is the running bridge's MaintenanceLog.
	maintenance *bridge.MaintenanceLog
	// revocable makes the bridges place pods on revocable resources, on
	// this revocable executor (UseRevocable); nil: they do not.
	revocable *bridge.ExecutorSpec
}

// startCluster starts a real API server, a mesoslocal master and agents with
// the given resources, and a bridge; everything stops when the test ends.
func startCluster(t *testing.T, agentResources ...string) *testCluster {
	t.Helper()
	return startClusterWith(t, 1, agentResources...)
}

// startClusterWith starts `masters` mesoslocal masters; more than one elect a
// leader through a real etcd, and the agents and the bridge are given them all.
func startClusterWith(t *testing.T, masters int, agentResources ...string) *testCluster {
	t.Helper()
	return startClusterPolicy(t, masters, nil, agentResources...)
}

// startClusterPolicy is startClusterWith with the bridge's policy changed by
// policy (when not nil) before the bridge starts.
func startClusterPolicy(t *testing.T, masters int, policy func(*bridge.Policy), agentResources ...string) *testCluster {
	t.Helper()
	c := newCluster(t, masters, policy, agentResources...)
	c.startBridge()
	return c
}

// newCluster is startClusterPolicy without the bridge.
func newCluster(t *testing.T, masters int, policy func(*bridge.Policy), agentResources ...string) *testCluster {
	t.Helper()
	return newClusterWith(t, masters, policy, nil, agentResources...)
}

// newClusterWith is newCluster with the control plane's options (a
// controller manager, say).
func newClusterWith(t *testing.T, masters int, policy func(*bridge.Policy), cpOpts []cptest.Option, agentResources ...string) *testCluster {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	cp := cptest.Start(t, cpOpts...)
	// Without a controller manager, create the ServiceAccount pods need.
	if _, err := cp.Client().CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	execKubeconfig, err := cp.Kubeconfig("executor", "kubemesos-executor", "kubemesos:executors")
	if err != nil {
		t.Fatal(err)
	}
	bridgeKubeconfig, err := cp.Kubeconfig("bridge", "kubemesos-bridge", "kubemesos:bridges")
	if err != nil {
		t.Fatal(err)
	}

	var ha master.HAConfig
	if masters > 1 {
		ha = master.HAConfig{EtcdEndpoints: []string{mesostest.StartEtcd(t)}, EtcdPrefix: "/mesos", SessionTTL: 2 * time.Second}
	}
	c := &testCluster{t: t, client: cp.Client()}
	var addrs []string
	for i := 0; i < masters; i++ {
		m := mesostest.StartMaster(t, master.Config{AllocationInterval: 100 * time.Millisecond, HeartbeatInterval: time.Second, HA: ha})
		c.masters = append(c.masters, testMaster{addr: m.Addr, stop: m.Stop})
		addrs = append(addrs, m.Addr)
	}
	if masters > 1 {
		// Name a non-leader first, so clients must find the leader themselves.
		eventually(t, 15*time.Second, "a leading master", func() (bool, string) {
			leader := leaderOf(addrs[0])
			if leader == addrs[0] {
				addrs[0], addrs[1] = addrs[1], addrs[0]
				c.masters[0], c.masters[1] = c.masters[1], c.masters[0]
			}
			return leader != "", "no leader yet"
		})
	}
	c.master = strings.Join(addrs, ",")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c.execKubeconfig = execKubeconfig
	c.execEnv = mesostest.ExecutorOptions{}.Environment()
	c.execEnv[kubeletexecutor.EnvExecutorKubeconfig] = execKubeconfig
	c.execEnv["PATH"] = os.Getenv("PATH")
	for _, res := range agentResources {
		c.startAgent(res, c.execEnv)
	}

	kcfg, err := clientcmd.BuildConfigFromFlags("", bridgeKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.bclient, c.executor, c.bridgeKubeconfig, c.adminKubeconfig = kubernetes.NewForConfigOrDie(kcfg), self, bridgeKubeconfig, cp.AdminKubeconfig
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubemesos-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	c.policy = bridge.DefaultPolicy
	c.policy.OfferTTL, c.policy.DeclineFor, c.policy.ReviveEvery = time.Second, time.Second, 200*time.Millisecond
	if policy != nil {
		policy(&c.policy)
	}
	return c
}

// startAgent starts the next agent (agent-<n>, attribute rack:r<n>) with
// resources res and executor environment env; it stops when the test ends.
func (c *testCluster) startAgent(res string, env map[string]string) *mesostest.Agent {
	c.agents++
	return mesostest.StartAgent(c.t, agent.Config{
		Master: c.master, Hostname: fmt.Sprintf("agent-%d", c.agents), WorkDir: c.t.TempDir(),
		Resources: res, Attributes: fmt.Sprintf("rack:r%d", c.agents),
		ExecutorEnvironment:         env,
		ExecutorShutdownGracePeriod: time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
		StatusUpdateRetryInterval:   time.Second,
	})
}

// startBridge starts a bridge (as `kubemesos scheduler` would) that stops when
// stopBridge is called or the test ends.
func (c *testCluster) startBridge() {
	t := c.t
	ctx, cancel := context.WithCancel(t.Context())
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: c.master, Name: "kubemesos", Role: "kubernetes", FailoverTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
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
	store := k8sapi.ConfigMapFrameworkStore{Client: c.bclient, Namespace: "kubemesos-system", Name: "kubemesos-framework"}
	exec := bridge.ExecutorSpec{Command: c.executor, Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 32}}
	dcfg, err := clientcmd.BuildConfigFromFlags("", c.bridgeKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// Its own client, as `kubemesos scheduler` gives it: evictions do not
	// share the rate limit of the pod writes.
	drainer := k8sapi.NewNodeDrainer(ctx, kubernetes.NewForConfigOrDie(dcfg), "default-scheduler")
	drainer.Every = 500 * time.Millisecond
	go drainer.Run(ctx)
	sched := bridge.NewScheduler(fw, store, feed, nodes, reporter, exec, c.policy)
	c.useVolumes(ctx, sched)
	if c.revocable != nil {
		sched.UseRevocable(*c.revocable)
	}
	sched.UseDrainer(drainer)
	c.maintenance = sched.MaintenanceLog()
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	var once sync.Once
	c.stopBridge = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bridge: %v", err)
			}
			reporter.Shutdown()
			drainer.Shutdown()
		})
	}
	t.Cleanup(c.stopBridge)
}

// useVolumes makes sched provision volumes when the cluster's bridges do.
func (c *testCluster) useVolumes(ctx context.Context, sched *bridge.Scheduler) {
	if !c.volumes {
		return
	}
	claims := k8sapi.NewClaimMirror(c.bclient, time.Minute)
	if err := claims.Run(ctx); err != nil {
		c.t.Errorf("claim mirror: %v", err) // a term's goroutine: no Fatal
		return
	}
	sched.UseVolumes(claims, k8sapi.NewVolumeWriter(c.bclient))
}

// leaderOf is the leader's address as the master at addr names it ("" if none).
func leaderOf(addr string) string {
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + addr + "/master/redirect")
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return strings.TrimPrefix(resp.Header.Get("Location"), "//")
}

type testMaster struct {
	addr string
	stop func()
}

func pod(name, cpu, mem string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "kubemesos.local/busybox:latest",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
			}},
		}}},
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	mesostest.Eventually(t, timeout, what, f)
}

// tasks returns the state of each pod's last task at the master, by pod
// UID (its live task, else the last that ended; node tasks left out).
func (c *testCluster) tasks(t *testing.T) map[string]string {
	out := map[string]string{}
	for uid, states := range c.podTasks(t) {
		out[uid] = states[len(states)-1]
	}
	return out
}

// podTasks returns the states of every task of each pod at the master, by
// pod UID: the ended ones first, the live one last. Every launch of a pod
// has its own task ID, so a pod launched twice has two entries.
func (c *testCluster) podTasks(t *testing.T) map[string][]string {
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	if fw, ok := st.Framework("kubemesos"); ok {
		for uid, tasks := range fw.PodTasks() {
			for _, tk := range tasks {
				out[string(uid)] = append(out[string(uid)], tk.State)
			}
		}
	}
	return out
}

// oncePerPod fails the test if a pod has more than one task at the master.
func (c *testCluster) oncePerPod(t *testing.T) {
	t.Helper()
	for uid, states := range c.podTasks(t) {
		if len(states) != 1 {
			t.Fatalf("pod %s has %d tasks (%v): launched twice", uid, len(states), states)
		}
	}
}

// allTasks returns every task of the kubemesos framework by ID, with its state.
func (c *testCluster) allTasks(t *testing.T) map[string]string {
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	if fw, ok := st.Framework("kubemesos"); ok {
		for _, tk := range append(fw.CompletedTasks, fw.Tasks...) {
			out[tk.ID] = tk.State
		}
	}
	return out
}

// allRunning reports whether the tasks of the pods with the UIDs *uids are
// all TASK_RUNNING (it reads *uids at each call), for eventually.
func (c *testCluster) allRunning(t *testing.T, uids *[]string) func() (bool, string) {
	return func() (bool, string) {
		tasks := c.tasks(t)
		n := 0
		for _, u := range *uids {
			if tasks[u] == "TASK_RUNNING" {
				n++
			}
		}
		return n == len(*uids), fmt.Sprint(tasks)
	}
}

func TestPodsBecomeTasksAndDeletionKillsThem(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048;ports:[31000-31100]", "cpus:2;mem:2048;ports:[31000-31100]")
	ctx := t.Context()
	var uids []string
	for i := 0; i < 3; i++ {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("web-%d", i), "500m", "256Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(p.UID))
	}
	eventually(t, 20*time.Second, "3 pods bound and 3 tasks RUNNING", func() (bool, string) {
		tasks := c.tasks(t)
		pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" && tasks[string(p.UID)] == "TASK_RUNNING" {
				bound++
			}
		}
		return bound == 3, fmt.Sprintf("tasks %v", tasks)
	})
	if n := len(c.tasks(t)); n != 3 {
		t.Fatalf("want exactly 3 pods with tasks, got %d", n)
	}
	c.oncePerPod(t)
	// Spread: least-allocated placement puts the pods on both agents.
	pods, _ := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	nodes := map[string]int{}
	for _, p := range pods.Items {
		nodes[p.Spec.NodeName]++
	}
	if len(nodes) != 2 {
		t.Errorf("want pods on both agents, got %v", nodes)
	}

	if err := c.client.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "web-0's task KILLED", func() (bool, string) {
		tasks := c.tasks(t)
		return tasks[uids[0]] == "TASK_KILLED", fmt.Sprintf("tasks %v", tasks)
	})
}

// waitFailedScheduling waits for a FailedScheduling event of the pod whose
// message contains want.
func (c *testCluster) waitFailedScheduling(t *testing.T, pod, want string) {
	t.Helper()
	eventually(t, 20*time.Second, "a FailedScheduling event of "+pod+" naming "+want, func() (bool, string) {
		evs, err := c.client.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == k8sapi.ReasonFailedScheduling && e.InvolvedObject.Name == pod {
				seen = append(seen, e.Message)
				if strings.Contains(e.Message, want) {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("events %q", seen)
	})
}

func TestPodThatFitsNoOfferGetsFailedScheduling(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048", "cpus:2;mem:2048")
	ctx := t.Context()
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod("huge", "64", "256Mi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "0/2 offers fit: 2 insufficient cpu"
	c.waitFailedScheduling(t, "huge", want)
	eventually(t, 10*time.Second, "PodScheduled=False Unschedulable", func() (bool, string) {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("an impossible pod was placed on %q", p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				ok := cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable && strings.Contains(cond.Message, want)
				return ok, fmt.Sprintf("%+v", cond)
			}
		}
		return false, "no PodScheduled condition"
	})
	if tasks := c.tasks(t); len(tasks) != 0 {
		t.Fatalf("an impossible pod got a task: %v", tasks)
	}
}

// TestRestartedBridgeResumesItsFramework: a bridge that stops and starts again
// re-subscribes as the same framework, adopts the running tasks (none is
// launched twice) and still kills the task of a pod deleted afterwards.
func TestRestartedBridgeResumesItsFramework(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048", "cpus:2;mem:2048")
	ctx := t.Context()
	var uids []string
	for i := 0; i < 2; i++ {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("p-%d", i), "250m", "64Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(p.UID))
	}
	running := c.allRunning(t, &uids)
	eventually(t, 20*time.Second, "2 tasks RUNNING", running)
	before, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fwBefore, _ := before.Framework("kubemesos")

	c.stopBridge()
	c.startBridge()
	eventually(t, 20*time.Second, "the framework active again under the same ID", func() (bool, string) {
		st, err := bridge.FetchMasterState(ctx, c.master)
		if err != nil {
			return false, err.Error()
		}
		fw, ok := st.Framework("kubemesos")
		return ok && fw.Active && fw.ID == fwBefore.ID && len(st.Frameworks) == 1, fmt.Sprintf("%+v", st.Frameworks)
	})
	eventually(t, 5*time.Second, "2 tasks still RUNNING", running)
	if n := len(c.tasks(t)); n != 2 {
		t.Fatalf("want 2 pods with tasks after the restart, got %d", n)
	}
	c.oncePerPod(t)
	if err := c.client.CoreV1().Pods("default").Delete(ctx, "p-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "p-0's task KILLED by the restarted bridge", func() (bool, string) {
		tasks := c.tasks(t)
		return tasks[uids[0]] == "TASK_KILLED", fmt.Sprint(tasks)
	})
}

// TestHostPortsComeFromOffers: a hostPort is taken from the offer's ports, so
// two pods wanting the same one land on different agents and a third fits nowhere.
func TestHostPortsComeFromOffers(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048;ports:[31000-31010]", "cpus:2;mem:2048;ports:[31000-31010]")
	ctx := t.Context()
	for i := 0; i < 3; i++ {
		p := pod(fmt.Sprintf("hp-%d", i), "100m", "32Mi")
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 31005}}
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "two pods bound to different agents, one unplaced", func() (bool, string) {
		pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		nodes := map[string]bool{}
		unbound := ""
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				nodes[p.Spec.NodeName] = true
			} else {
				unbound = p.Name
			}
		}
		return len(nodes) == 2 && unbound != "", fmt.Sprintf("nodes %v unbound %q", nodes, unbound)
	})
	eventually(t, 15*time.Second, "FailedScheduling naming the host port", func() (bool, string) {
		evs, err := c.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == k8sapi.ReasonFailedScheduling {
				seen = append(seen, e.Message)
				if strings.Contains(e.Message, string(offermatcher.HostPortConflict)) {
					return true, ""
				}
			}
		}
		return false, fmt.Sprint(seen)
	})
	// The granted port is in the task's resources, as Mesos accounts it.
	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	var podTasks []bridge.StateTask
	for _, tk := range fw.Tasks {
		if !podtask.IsNodeTask(tk.ID) {
			podTasks = append(podTasks, tk)
		}
	}
	if len(podTasks) != 2 {
		t.Fatalf("want 2 pod tasks, got %+v", fw.Tasks)
	}
}

// TestMasterFailover: the leading master dies; the bridge, given every master,
// re-subscribes to the new leader as the same framework, its running tasks
// stay RUNNING, and it launches new pods there.
func TestMasterFailover(t *testing.T) {
	c := startClusterWith(t, 2, "cpus:2;mem:2048", "cpus:2;mem:2048")
	ctx := t.Context()
	var uids []string
	create := func(name string) {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(name, "250m", "64Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(p.UID))
	}
	create("before-0")
	create("before-1")
	allRunning := c.allRunning(t, &uids)
	eventually(t, 20*time.Second, "2 tasks RUNNING", allRunning)
	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fwBefore, _ := st.Framework("kubemesos")

	var leader testMaster
	for _, m := range c.masters {
		if strings.HasSuffix(st.Leader, "@"+m.addr) {
			leader = m
		}
	}
	if leader.stop == nil {
		t.Fatalf("leader %q is none of %v", st.Leader, c.masters)
	}
	start := time.Now()
	leader.stop()
	eventually(t, 30*time.Second, "the framework re-subscribed to the new leader with its ID", func() (bool, string) {
		st, err := bridge.FetchMasterState(ctx, c.master)
		if err != nil {
			return false, err.Error()
		}
		fw, ok := st.Framework("kubemesos")
		return ok && fw.Active && fw.ID == fwBefore.ID && len(st.Agents) == 2, fmt.Sprintf("leader %s frameworks %+v agents %d", st.Leader, st.Frameworks, len(st.Agents))
	})
	t.Logf("bridge back on the new leader %v after the old one died", time.Since(start).Round(time.Millisecond))
	eventually(t, 10*time.Second, "the tasks still RUNNING", allRunning)
	create("after")
	eventually(t, 20*time.Second, "a new pod launched through the new leader", allRunning)
	if n := len(c.tasks(t)); n != 3 {
		t.Fatalf("want 3 pods with tasks, got %d", n)
	}
	c.oncePerPod(t)
}

// boundPod creates a pod and waits until its task runs; it returns the pod
// as bound and the task's agent.
func (c *testCluster) boundPod(t *testing.T, name string) (*corev1.Pod, string) {
	t.Helper()
	ctx := t.Context()
	p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(name, "250m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := []string{string(p.UID)}
	eventually(t, 20*time.Second, name+"'s task RUNNING", c.allRunning(t, &uids))
	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	for _, tk := range fw.Tasks {
		if uid, _ := podtask.UIDFromTaskID(tk.ID); uid == p.UID {
			p, err = c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return p, tk.AgentID
		}
	}
	t.Fatalf("no task for %s in %+v", name, fw.Tasks)
	return nil, ""
}

// TestExecutorCrashRelaunchesItsPods: kill -9 of the executor makes the
// agent fail its tasks (TASK_FAILED / REASON_EXECUTOR_TERMINATED); the
// bridge launches the bound pod again as a new task on the same agent (for
// the new executor to adopt), and the pod is never marked Failed.
func TestExecutorCrashRelaunchesItsPods(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048")
	p, agentID := c.boundPod(t, "victim")
	old := c.liveTask(t, p.UID)
	killExecutor(t, agentID)
	eventually(t, 20*time.Second, "a new task of the pod RUNNING on its agent", func() (bool, string) {
		tk := c.liveTask(t, p.UID)
		return tk.ID != old.ID && tk.State == "TASK_RUNNING" && tk.AgentID == agentID, fmt.Sprintf("%+v (was %s)", tk, old.ID)
	})
	got, err := c.client.CoreV1().Pods("default").Get(t.Context(), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != p.UID || got.Status.Phase == corev1.PodFailed || got.Spec.NodeName != p.Spec.NodeName {
		t.Fatalf("pod %s %s on %q, want the same pod, not Failed, on %s", got.UID, got.Status.Phase, got.Spec.NodeName, p.Spec.NodeName)
	}
}

// liveTask is the task of a pod that Mesos lists as not completed (the zero task if none).
func (c *testCluster) liveTask(t *testing.T, uid types.UID) bridge.StateTask {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	for _, tk := range fw.Tasks {
		if u, _ := podtask.UIDFromTaskID(tk.ID); u == uid {
			return tk
		}
	}
	return bridge.StateTask{}
}

// TestExecutorCrashWithoutAdoptWindowFailsItsPods: with no adoption window
// the bridge marks the pods of a killed executor Failed (so a controller
// replaces them) with the Mesos reason.
func TestExecutorCrashWithoutAdoptWindowFailsItsPods(t *testing.T) {
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) { p.AdoptWindow = 0 }, "cpus:2;mem:2048")
	p, agentID := c.boundPod(t, "victim")
	killExecutor(t, agentID)
	eventually(t, 20*time.Second, "the pod Failed with reason MesosTaskFailed", func() (bool, string) {
		got, err := c.client.CoreV1().Pods("default").Get(t.Context(), p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == corev1.PodFailed && got.Status.Reason == "MesosTaskFailed" &&
				strings.Contains(got.Status.Message, "REASON_EXECUTOR_TERMINATED"),
			fmt.Sprintf("%s %q %q", got.Status.Phase, got.Status.Reason, got.Status.Message)
	})
}

// TestAgentGoneDeletesItsPods: an operator marks an agent gone; its tasks
// become TASK_GONE_BY_OPERATOR and the bridge force-deletes their pods.
func TestAgentGoneDeletesItsPods(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048")
	p, agentID := c.boundPod(t, "on-doomed-agent")
	body := fmt.Sprintf(`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":%q}}}`, agentID)
	resp, err := http.Post("http://"+c.masters[0].addr+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %s", resp.Status)
	}
	c.waitGoneByOperator(t, p)
}

// waitGoneByOperator waits for pod p, whose agent Mesos removed, to be
// force-deleted, its task TASK_GONE_BY_OPERATOR.
func (c *testCluster) waitGoneByOperator(t *testing.T, p *corev1.Pod) {
	t.Helper()
	eventually(t, 20*time.Second, "the pod force-deleted", func() (bool, string) {
		got, err := c.client.CoreV1().Pods("default").Get(t.Context(), p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return got.UID != p.UID, fmt.Sprintf("still there: %s", got.Status.Phase)
	})
	if tasks := c.tasks(t); tasks[string(p.UID)] != "TASK_GONE_BY_OPERATOR" {
		t.Fatalf("task state %q, want TASK_GONE_BY_OPERATOR", tasks[string(p.UID)])
	}
}

// killExecutor kills the test executor of an agent with SIGKILL.
func killExecutor(t *testing.T, agentID string) {
	t.Helper()
	pids := mesostest.PIDsWithEnv(t, "MESOS_SLAVE_ID="+agentID, mesostest.ExecutorEnv+"=1")
	if len(pids) == 0 {
		t.Fatal("no executor process found")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
}
