package simnode_test

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/internal/bindir"
	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// podCIDR is the simulated node's pod CIDR in these tests.
const podCIDR = "10.244.7.0/24"

// simCluster is a real kube-apiserver, a mesoslocal master and one agent
// whose executor is the real `kubemesos executor` in the simulated runtime,
// and a framework (this test) subscribed to the master.
type simCluster struct {
	t      *testing.T
	client kubernetes.Interface
	agent  *mesostest.Agent
	// workDir is the agent's; the executor's sandbox is under it.
	workDir string
	sched   *mesostest.Scheduler
	exec    *mesos.ExecutorInfo
	node    string
	// offers were received while waiting for updates; launches use them first.
	offers []mesos.Offer
}

// next returns the next event of type typ, keeping offers that come before
// it for the next launch.
func (c *simCluster) next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	c.t.Helper()
	if typ == scheduler.Event_OFFERS && len(c.offers) > 0 {
		o := c.offers[0]
		c.offers = c.offers[1:]
		return &scheduler.Event{Type: typ, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{o}}}
	}
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-c.sched.Events:
			if !ok {
				c.t.Fatalf("event stream closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
			if e.Type == scheduler.Event_OFFERS {
				c.offers = append(c.offers, e.Offers.Offers...)
			}
		case <-deadline:
			c.t.Fatalf("no %s event within %s", typ, timeout)
		}
	}
}

// startSimCluster starts everything; the agent declares resources (Mesos
// syntax) and gives its executors shutdownGrace and env besides the
// simulated runtime's settings.
func startSimCluster(t *testing.T, resources string, shutdownGrace time.Duration, env map[string]string) *simCluster {
	t.Helper()
	binDir, err := bindir.Default()
	if err == nil {
		err = bindir.Check(binDir, "kubemesos")
	}
	if err != nil {
		if os.Getenv(bindir.RequireEnv) == "1" {
			t.Fatalf("kubemesos binary: %v", err)
		}
		t.Skipf("kubemesos binary not built (make build): %v", err)
	}
	cp := cptest.Start(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	// No controller manager: the default ServiceAccount pods need is made here.
	if _, err := client.CoreV1().ServiceAccounts("default").Create(t.Context(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	executorEnv := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		kubeletexecutor.EnvRuntime:    kubeletexecutor.RuntimeSimulated,
		kubeletexecutor.EnvKubeconfig: cp.AdminKubeconfig,
		kubeletexecutor.EnvPodCIDR:    podCIDR,
	}
	maps.Copy(executorEnv, env)
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	workDir := t.TempDir()
	a := mesostest.StartAgent(t, agent.Config{Master: m.Addr, Hostname: "Sim-Agent-1", WorkDir: workDir,
		Resources: resources, Attributes: "rack:r7", RegistrationBackoff: 100 * time.Millisecond,
		ExecutorShutdownGracePeriod: shutdownGrace,
		ExecutorEnvironment:         executorEnv})
	s := mesostest.Subscribe(t, m.URL, &mesos.FrameworkInfo{User: "root", Name: "simnode-test", Roles: []string{"*"},
		Checkpoint: ptr.To(true), Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}, {Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}})
	c := &simCluster{t: t, client: client, agent: a, workDir: workDir, sched: s, node: "sim-agent-1"}
	c.exec = &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: podtask.ExecutorID}, Type: mesos.ExecutorInfo_CUSTOM,
		Command: &mesos.CommandInfo{Shell: ptr.To(false), Value: ptr.To(filepath.Join(binDir, "kubemesos")),
			Arguments: []string{"kubemesos", "executor", "--v=2"}}}
	t.Cleanup(func() {
		if t.Failed() {
			c.logExecutor()
		}
		// A checkpointing framework's executor outlives its agent (as with
		// Mesos); this one must not outlive the test.
		for _, pid := range mesostest.PIDsWithEnv(t, "MESOS_SLAVE_ID="+a.ID()) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	})
	return c
}

// logExecutor prints the executor's stderr (its log).
func (c *simCluster) logExecutor() {
	matches, _ := filepath.Glob(filepath.Join(c.workDir, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "latest", "stderr"))
	for _, f := range matches {
		b, _ := os.ReadFile(f)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		c.t.Logf("--- %s ---\n%s", f, b)
	}
}

func scalars(spec string, o mesos.Offer) []mesos.Resource {
	var out []mesos.Resource
	for _, kv := range strings.Split(spec, ";") {
		name, v, _ := strings.Cut(kv, ":")
		f, _ := strconv.ParseFloat(v, 64)
		out = append(out, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: f},
			AllocationInfo: o.AllocationInfo})
	}
	return out
}

// createPod creates an unbound pod with one container and the given grace period.
func (c *simCluster) createPod(name string, grace int64) *corev1.Pod {
	c.t.Helper()
	p, err := c.client.CoreV1().Pods("default").Create(c.t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{SchedulerName: "kubemesos", TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// launch launches a node task and a task for each pod from the next offer;
// it returns the node task's ID.
func (c *simCluster) launch(pods ...*corev1.Pod) string { return c.launchTasks(true, pods...) }

// launchTasks launches a task for each pod, and a node task when withNode,
// from the next offer; it returns the node task's ID.
func (c *simCluster) launchTasks(withNode bool, pods ...*corev1.Pod) string {
	c.t.Helper()
	o := c.next(scheduler.Event_OFFERS, 10*time.Second).Offers.Offers[0]
	exec := *c.exec
	exec.Resources = scalars("cpus:0.1;mem:32", o)
	nodeTask := podtask.NodeTaskID(o.AgentID.Value, time.Now())
	var tasks []mesos.TaskInfo
	if withNode {
		tasks = append(tasks, mesos.TaskInfo{Name: "node " + c.node, TaskID: mesos.TaskID{Value: nodeTask}, AgentID: o.AgentID,
			Executor: &exec, Resources: scalars("cpus:0.01;mem:8", o)})
	}
	for _, p := range pods {
		ref := podtask.PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID}
		tasks = append(tasks, mesos.TaskInfo{Name: p.Namespace + "/" + p.Name, TaskID: mesos.TaskID{Value: podtask.TaskID(p.UID, podtask.Attempt{Epoch: 1, Seq: 1})},
			AgentID: o.AgentID, Executor: &exec, Resources: scalars("cpus:0.1;mem:16", o), Data: ref.Encode()})
	}
	// What is left is offered again at once (no refuse filter): tests launch in several cycles.
	c.sched.MustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	return nodeTask
}

// states collects task updates (acknowledging them) until done says stop.
func (c *simCluster) states(timeout time.Duration, done func(map[string][]mesos.TaskStatus) bool) map[string][]mesos.TaskStatus {
	c.t.Helper()
	got := map[string][]mesos.TaskStatus{}
	for deadline := time.Now().Add(timeout); !done(got); {
		if time.Now().After(deadline) {
			c.t.Fatalf("task updates so far: %s", formatStates(got))
		}
		st := c.next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status
		if len(st.UUID) > 0 {
			c.sched.MustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		got[st.TaskID.Value] = append(got[st.TaskID.Value], st)
	}
	return got
}

func last(got map[string][]mesos.TaskStatus, id string) mesos.TaskState {
	if s := got[id]; len(s) > 0 {
		return s[len(s)-1].GetState()
	}
	return -1
}

func formatStates(got map[string][]mesos.TaskStatus) string {
	var b strings.Builder
	for id, ss := range got {
		fmt.Fprintf(&b, "\n  %s:", id)
		for _, s := range ss {
			fmt.Fprintf(&b, " %v(%s)", s.GetState(), s.GetMessage())
		}
	}
	return b.String()
}

// executorPID is the PID of the agent's executor process.
func (c *simCluster) executorPID() int {
	c.t.Helper()
	pids := mesostest.PIDsWithEnv(c.t, "MESOS_SLAVE_ID="+c.agent.ID(), "MESOS_EXECUTOR_ID="+podtask.ExecutorID)
	if len(pids) != 1 {
		c.t.Fatalf("executor processes of agent %s: %v, want one", c.agent.ID(), pids)
	}
	return pids[0]
}

// cpuTime is the CPU time pid has used (user + system, from /proc/<pid>/stat
// in clock ticks of 10 ms) and how long it has run.
func cpuTime(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15, starttime 22.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ticks := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i-3], 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	ran := time.Duration(secs*float64(time.Second)) - ticks(22)
	return fmt.Sprintf("%s in %s", ticks(14)+ticks(15), ran.Round(time.Second))
}

// memKiB is the memory of pid in /proc/<pid>/status: VmRSS, and of it
// RssAnon (heap, stacks) and RssFile (the binary's pages).
func memKiB(t *testing.T, pid int) (rss, anon, file int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		case "RssFile":
			file = n
		}
	}
	if rss == 0 {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, anon, file
}

// maxExecutorAnonMiB bounds one simulated executor's own memory (RssAnon:
// heap and stacks); the bench runs a thousand of them on one machine. The
// binary's file pages (RssFile, most of VmRSS) are shared by them all.
const maxExecutorAnonMiB = 32

// TestSimulatedRuntimeRunsPods: with KUBEMESOS_EXECUTOR_RUNTIME=simulated the
// real executor, started by a mesoslocal agent, needs no kubelet and no root:
// it registers the agent's Node Ready with what Mesos gives pods there
// (the agent's resources less the executor's own) as allocatable and its attributes as labels, renews the node's Lease, binds a
// launched pod and reports it Running and Ready with an IP of the pod CIDR
// (TASK_RUNNING with the IP in the status data, after TASK_STARTING if its
// watch saw the pod Pending); KILL
// deletes the pod and ends in TASK_KILLED. One executor's own memory stays small.
func TestSimulatedRuntimeRunsPods(t *testing.T) {
	c := startSimCluster(t, "cpus:3;mem:3072;disk:1000", 5*time.Second, nil)
	pod := c.createPod("web", 30)
	nodeTask := c.launch(pod)
	podTask := podtask.TaskID(pod.UID, podtask.Attempt{Epoch: 1, Seq: 1})
	got := c.states(60*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return last(m, nodeTask) == mesos.TASK_RUNNING && last(m, podTask) == mesos.TASK_RUNNING
	})
	// The executor reports the pod's state as its watch sees it: bound and
	// Pending is TASK_STARTING, but a watch that first sees the pod already
	// Running (bind and status written in between) reports TASK_RUNNING
	// alone. Nothing else may come before it.
	for _, st := range got[podTask] {
		if s := st.GetState(); s != mesos.TASK_STARTING && s != mesos.TASK_RUNNING {
			t.Errorf("pod task: %s, want STARTING (if seen) then RUNNING", formatStates(got))
		}
	}
	running := got[podTask][len(got[podTask])-1]
	data, err := podtask.DecodeStatusData(running.Data)
	if err != nil || data.PodIP == "" {
		t.Errorf("TASK_RUNNING data %q (%v): want the pod IP", running.Data, err)
	}

	ctx := t.Context()
	n, err := c.client.CoreV1().Nodes().Get(ctx, c.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, cond := range n.Status.Conditions {
		ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
	}
	if !ready {
		t.Errorf("node conditions %v, want Ready", n.Status.Conditions)
	}
	// The agent's 3 cpus and 3072 MB less the executor's own 0.1 and 32.
	for res, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "2900m", corev1.ResourceMemory: "3040Mi"} {
		if q := n.Status.Allocatable[res]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("allocatable %s = %s, want %s: the agent's resources less the executor's", res, q.String(), want)
		}
	}
	if n.Labels["rack"] != "r7" || n.Labels[corev1.LabelHostname] != c.node {
		t.Errorf("node labels %v, want rack=r7 and hostname %s", n.Labels, c.node)
	}

	p, err := c.client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podReady := false
	for _, cond := range p.Status.Conditions {
		podReady = podReady || cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue
	}
	ip, ipErr := netip.ParseAddr(p.Status.PodIP)
	if p.Spec.NodeName != c.node || p.Status.Phase != corev1.PodRunning || !podReady || ipErr != nil ||
		!netip.MustParsePrefix(podCIDR).Contains(ip) || p.Status.PodIP != data.PodIP {
		t.Errorf("pod on %q phase %s ready %v IP %q: want Running and Ready on %s with an IP of %s (the task's %q)",
			p.Spec.NodeName, p.Status.Phase, podReady, p.Status.PodIP, c.node, podCIDR, data.PodIP)
	}
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil || !p.Status.ContainerStatuses[0].Ready {
		t.Errorf("container statuses %+v, want app running and ready", p.Status.ContainerStatuses)
	}

	// The lease is the kubelet's: held by the node, renewed every 10 s.
	l, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, c.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(l.Spec.HolderIdentity, "") != c.node || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != n.UID {
		t.Errorf("lease holder %v owners %v, want the node %s", l.Spec.HolderIdentity, l.OwnerReferences, c.node)
	}
	first := l.Spec.RenewTime.Time
	mesostest.Eventually(t, 25*time.Second, "the node lease renewed", func() (bool, string) {
		l, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, c.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.After(first), l.Spec.RenewTime.String()
	})

	pid := c.executorPID()
	rss, anon, file := memKiB(t, pid)
	t.Logf("executor RSS with one pod: %d KiB (anonymous %d KiB, file %d KiB); CPU %s", rss, anon, file, cpuTime(t, pid))
	if anon > maxExecutorAnonMiB*1024 {
		t.Errorf("executor anonymous RSS %d KiB, want at most %d MiB", anon, maxExecutorAnonMiB)
	}

	c.sched.MustCall(calls.Kill(podTask, c.agent.ID()))
	got = c.states(30*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return podtask.IsTerminal(last(m, podTask))
	})
	if s := last(got, podTask); s != mesos.TASK_KILLED {
		t.Errorf("after KILL: %s, want TASK_KILLED", formatStates(got))
	}
	if _, err := c.client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod after TASK_KILLED: %v, want it gone", err)
	}
}

// TestSimulatedShutdownDrains: SHUTDOWN of the real executor drains its node
// against a real API server: the Node is cordoned before any pod is marked
// for deletion (resource versions are one etcd's revisions, so they order
// the writes), each pod is deleted with its own grace period capped at 60%
// of the agent's shutdown grace period, every task ends KILLED, and the
// executor exits.
func TestSimulatedShutdownDrains(t *testing.T) {
	c := startSimCluster(t, "cpus:3;mem:3072", 10*time.Second, nil)
	short, long := c.createPod("short", 3), c.createPod("long", 1000)
	nodeTask := c.launch(short, long)
	tasks := []string{nodeTask, podtask.TaskID(short.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podtask.TaskID(long.UID, podtask.Attempt{Epoch: 1, Seq: 1})}
	c.states(60*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return !slices.ContainsFunc(tasks, func(id string) bool { return last(m, id) != mesos.TASK_RUNNING })
	})

	ctx := t.Context()
	nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeWatch, err := c.client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{ResourceVersion: nodes.ResourceVersion,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", c.node).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer nodeWatch.Stop()
	podWatch, err := c.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: nodes.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer podWatch.Stop()

	c.sched.MustCall(calls.Shutdown(podtask.ExecutorID, c.agent.ID()))
	got := c.states(30*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return !slices.ContainsFunc(tasks, func(id string) bool { return !podtask.IsTerminal(last(m, id)) })
	})
	for _, id := range tasks {
		if last(got, id) != mesos.TASK_KILLED {
			t.Errorf("after SHUTDOWN: %s, want every task KILLED", formatStates(got))
			break
		}
	}

	rv := func(o metav1.Object) uint64 {
		n, err := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
		if err != nil {
			t.Fatalf("resource version %q: %v", o.GetResourceVersion(), err)
		}
		return n
	}
	var cordonRV uint64
	for cordonRV == 0 {
		select {
		case ev := <-nodeWatch.ResultChan():
			if n, ok := ev.Object.(*corev1.Node); ok && n.Spec.Unschedulable {
				cordonRV = rv(n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the node was never cordoned")
		}
	}
	deleted := map[string]*corev1.Pod{}
	for len(deleted) < 2 {
		select {
		case ev := <-podWatch.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); ok && p.DeletionTimestamp != nil && deleted[p.Name] == nil {
				deleted[p.Name] = p
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("pods marked for deletion: %v, want short and long", deleted)
		}
	}
	for name, p := range deleted {
		if rv(p) < cordonRV {
			t.Errorf("pod %s marked for deletion (rv %s) before the node was cordoned (rv %d)", name, p.ResourceVersion, cordonRV)
		}
	}
	if g := deleted["short"].DeletionGracePeriodSeconds; g == nil || *g != 3 {
		t.Errorf("pod short deleted with grace %v, want its own 3 s", g)
	}
	if g := deleted["long"].DeletionGracePeriodSeconds; g == nil || *g != 6 {
		t.Errorf("pod long deleted with grace %v, want 6 s (60%% of the 10 s shutdown grace)", g)
	}
	mesostest.Eventually(t, 15*time.Second, "the executor exited", func() (bool, string) {
		pids := mesostest.PIDsWithEnv(t, "MESOS_SLAVE_ID="+c.agent.ID())
		return len(pids) == 0, fmt.Sprint(pids)
	})
}

// TestSimulatedExecutorKilledPodsAdopted: an executor killed with SIGKILL
// takes its tasks with it (the agent fails them) but not its pods; when the
// framework launches a pod's task again on the agent, the new executor
// adopts the pod as it is: same UID, not bound again, not restarted (start
// time, container ID and IP unchanged), TASK_RUNNING. The pod whose task
// nobody launched again is deleted once the adoption window has passed.
func TestSimulatedExecutorKilledPodsAdopted(t *testing.T) {
	c := startSimCluster(t, "cpus:3;mem:3072", 5*time.Second, map[string]string{kubeletexecutor.EnvAdoptWindow: "10s"})
	keep, drop := c.createPod("keep", 30), c.createPod("drop", 30)
	nodeTask := c.launch(keep, drop)
	keepTask, dropTask := podtask.TaskID(keep.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podtask.TaskID(drop.UID, podtask.Attempt{Epoch: 1, Seq: 1})
	c.states(60*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return last(m, nodeTask) == mesos.TASK_RUNNING && last(m, keepTask) == mesos.TASK_RUNNING && last(m, dropTask) == mesos.TASK_RUNNING
	})
	ctx := t.Context()
	before, err := c.client.CoreV1().Pods("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(c.executorPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := c.states(30*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return podtask.IsTerminal(last(m, keepTask)) && podtask.IsTerminal(last(m, dropTask))
	})
	if s := got[keepTask][len(got[keepTask])-1]; s.GetState() != mesos.TASK_FAILED || s.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Errorf("after SIGKILL: %s, want the agent's TASK_FAILED (REASON_EXECUTOR_TERMINATED)", formatStates(got))
	}

	// A node task brings a new executor up; the pod's task comes later, as
	// a framework relaunches pods in its next offer cycles.
	newNode := c.launch()
	c.states(60*time.Second, func(m map[string][]mesos.TaskStatus) bool { return last(m, newNode) == mesos.TASK_RUNNING })
	c.launchTasks(false, before)
	got = c.states(60*time.Second, func(m map[string][]mesos.TaskStatus) bool {
		return last(m, keepTask) == mesos.TASK_RUNNING || podtask.IsTerminal(last(m, keepTask))
	})
	if last(got, keepTask) != mesos.TASK_RUNNING {
		t.Fatalf("relaunched task: %s, want TASK_RUNNING", formatStates(got))
	}
	mesostest.Eventually(t, 20*time.Second, "the pod nobody relaunched deleted after the window", func() (bool, string) {
		_, err := c.client.CoreV1().Pods("default").Get(ctx, "drop", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	after, err := c.client.CoreV1().Pods("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("adopted pod: %v", err)
	}
	if after.UID != before.UID || after.DeletionTimestamp != nil || after.Spec.NodeName != c.node {
		t.Errorf("adopted pod uid %s deleting %v node %q, want uid %s, not deleted, on %s",
			after.UID, after.DeletionTimestamp, after.Spec.NodeName, before.UID, c.node)
	}
	if !after.Status.StartTime.Equal(before.Status.StartTime) || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod start %v IP %s, want unchanged %v %s", after.Status.StartTime, after.Status.PodIP, before.Status.StartTime, before.Status.PodIP)
	}
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || a.State.Running == nil || !a.State.Running.StartedAt.Equal(&b.State.Running.StartedAt) || a.RestartCount != 0 {
		t.Errorf("container %s started %v restarts %d, want unchanged %s started %v", a.ContainerID, a.State.Running, a.RestartCount,
			b.ContainerID, b.State.Running.StartedAt)
	}
}
