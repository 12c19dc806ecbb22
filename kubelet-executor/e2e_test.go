package kubeletexecutor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/devcluster/images"
	devnode "github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/internal/bindir"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// runAsExecutorEnv makes the test binary act as `kubemesos executor`, so the
// end-to-end test can start it the way an agent does without building it.
const runAsExecutorEnv = "KUBEMESOS_TEST_RUN_EXECUTOR"

func TestMain(m *testing.M) {
	if os.Getenv(runAsExecutorEnv) == "1" {
		ctx, stop := signalContext()
		defer stop()
		if err := RunFromEnv(ctx); err != nil {
			klog.ErrorS(err, "executor failed")
			klog.Flush()
			os.Exit(1)
		}
		klog.Flush()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// TestEndToEndKubelet runs the executor as an agent would (its own process,
// in a host's network namespace, MESOS_* and KUBEMESOS_* environment) against
// a real control plane, a real containerd and the real kubelet: the node
// registers Ready, a launched busybox pod is bound and runs, KILL deletes it,
// SHUTDOWN stops the kubelet and removes the sandboxes.
func TestEndToEndKubelet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, cgroups, containerd")
	}
	for _, tool := range []string{"ip", "nsenter", "containerd", "/usr/sbin/runc", "/usr/lib/cni/bridge", images.DefaultBusybox} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	binDir, err := bindir.Default() // KUBEMESOS_BIN_DIR, else the repository's bin/
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(binDir, "kubelet")); err != nil {
		if os.Getenv(bindir.RequireEnv) == "1" {
			t.Fatalf("kubelet binary: %v", err)
		}
		t.Skipf("no kubelet in %s (hack/build-tools.sh builds it): %v", binDir, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	// The Service CIDR is the test control plane's (the default), kept on
	// the machine like the other ranges.
	network := devnode.Network{Bridge: "kmxt0", Gateway: netip.MustParsePrefix("10.203.0.1/24"),
		PodCIDRs: netip.MustParsePrefix("10.247.0.0/16"), ServiceCIDR: netip.MustParsePrefix(controlplane.DefaultServiceCIDR)}
	sw, err := devnode.SetupSwitch(ctx, network)
	t.Cleanup(func() { _ = devnode.TeardownSwitch(context.Background(), sw) })
	if err != nil {
		t.Fatal(err)
	}
	gw := network.Gateway.Addr().String()
	cp := cptest.Start(t, cptest.WithControllerManager(), cptest.WithOptions(func(o *controlplane.Options) {
		o.BindAddress = gw
	}))
	archives, err := images.Build(ctx, images.Options{OutDir: t.TempDir(), SourceDir: ".."})
	if err != nil {
		t.Fatal(err)
	}
	nodeName := "kmxt-node1"
	host, err := devnode.Create(ctx, devnode.Config{Name: nodeName, Index: 1, Dir: filepath.Join(t.TempDir(), "host"), Network: network})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Destroy(context.Background()) })
	st := host.State()
	if err := images.ImportAll(ctx, st.ContainerdSocket, archives); err != nil {
		t.Fatal(err)
	}

	// The agent: reachable from the host's namespace at the gateway address.
	agent := newTestAgent(t)
	agent.srv.Close()
	agent.srv = httptest.NewUnstartedServer(http.HandlerFunc(agent.serve))
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	agent.srv.Listener = ln
	agent.srv.Start()
	agent.agent.Hostname = nodeName
	agent.agent.Attributes = []mesos.Attribute{
		{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r1"}},
		{Name: "kubernetes.io/role", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "master"}}, // restricted: skipped
		// This host's architecture, which Mesos does not report (the default is amd64).
		{Name: "kubernetes.io/arch", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: runtime.GOARCH}},
	}
	agent.agent.Domain = &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "e2e"},
		Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: "e2e-a"},
	}}
	agent.agent.Resources = []mesos.Resource{
		{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}},
		{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1024}},
	}
	agent.execResources = []mesos.Resource{
		{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.25}},
		{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 128}},
	}
	agent.fwInfo.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}

	nodeKubeconfig, err := cp.NodeKubeconfig(nodeName)
	if err != nil {
		t.Fatal(err)
	}
	proxyKubeconfig, err := cp.Kubeconfig("proxy-"+nodeName, "system:kube-proxy")
	if err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	env := []string{
		runAsExecutorEnv + "=1", "PATH=" + os.Getenv("PATH"),
		"MESOS_AGENT_ENDPOINT=" + agent.endpoint(), "MESOS_FRAMEWORK_ID=fw", "MESOS_EXECUTOR_ID=" + podtask.ExecutorID,
		"MESOS_DIRECTORY=" + sandbox, "MESOS_SANDBOX=" + sandbox, "MESOS_CHECKPOINT=1",
		"MESOS_RECOVERY_TIMEOUT=15mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=10secs",
		EnvKubeconfig + "=" + nodeKubeconfig, EnvExecutorKubeconfig + "=" + cp.AdminKubeconfig,
		EnvClientCA + "=" + cp.ClientCAFile(), EnvCRISocket + "=" + st.CRIEndpoint(), EnvPodCIDR + "=" + st.PodCIDR,
		EnvCNIConfDir + "=" + st.CNIConfDir(), EnvStateDir + "=" + st.StateDir(), EnvBinDir + "=" + binDir,
		EnvNodeIP + "=" + st.IP, EnvCgroupRoot + "=" + st.CgroupRoot,
		EnvProxyKubeconfig + "=" + proxyKubeconfig, EnvClusterCIDR + "=" + network.PodCIDRs.String(),
	}
	logPath := filepath.Join(sandbox, "executor.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var (
		cmd    *exec.Cmd
		exited chan error
	)
	// startExecutor starts the executor as its agent would (again after a kill).
	startExecutor := func() {
		t.Helper()
		cmd = exec.Command("nsenter", "--net="+st.NetNSPath(), os.Args[0], "-v=2")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited = make(chan error, 1)
		go func(c *exec.Cmd, done chan<- error) { done <- c.Wait() }(cmd, exited)
		select {
		case <-agent.subscribes:
		case err := <-exited:
			t.Fatalf("executor exited before subscribing: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("executor did not subscribe")
		}
	}
	t.Cleanup(func() {
		if cmd == nil {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			keep, _ := os.MkdirTemp("", "kmxt-logs-")
			for _, p := range []string{logPath, filepath.Join(sandbox, "kubelet.log"), filepath.Join(sandbox, "kube-proxy.log")} {
				b, _ := os.ReadFile(p)
				_ = os.WriteFile(filepath.Join(keep, filepath.Base(p)), b, 0o644)
				t.Logf("---- %s (tail; whole file kept in %s)\n%s", p, keep, tailOf(string(b), 3000))
			}
		}
	})
	startExecutor()

	client := cp.Client()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sleeper"},
		Spec: corev1.PodSpec{
			SchedulerName:                 "kubemesos",
			TerminationGracePeriodSeconds: ptrTo[int64](5),
			Containers: []corev1.Container{{Name: "app", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}}},
		},
	}
	for {
		pod, err = client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			break
		}
		// The default ServiceAccount appears once the controller-manager runs.
		if ctx.Err() != nil {
			t.Fatalf("create pod: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	taskID := podtask.TaskID(pod.UID, podtask.Attempt{Epoch: 1, Seq: 1})
	ref := podtask.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	agent.events <- launch(taskID, ref.Encode())

	waitState := func(want mesos.TaskState, within time.Duration) mesos.TaskStatus {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case u := <-agent.updates:
				t.Logf("update %s %v %q", u.TaskID.Value, u.GetState(), u.GetMessage())
				if u.TaskID.Value != taskID {
					t.Fatalf("update for unexpected task %s", u.TaskID.Value)
				}
				if u.GetState() == want {
					return u
				}
				if podtask.IsTerminal(u.GetState()) {
					t.Fatalf("task ended %v (%q) while waiting for %v", u.GetState(), u.GetMessage(), want)
				}
			case err := <-exited:
				t.Fatalf("executor exited while waiting for %v: %v", want, err)
			case <-deadline:
				t.Fatalf("no %v within %v", want, within)
			}
		}
	}
	waitState(mesos.TASK_STARTING, 3*time.Minute)
	running := waitState(mesos.TASK_RUNNING, 2*time.Minute)

	got, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != nodeName {
		t.Errorf("pod bound to %q, want %q", got.Spec.NodeName, nodeName)
	}
	var ips []string
	for _, ni := range running.GetContainerStatus().GetNetworkInfos() {
		for _, a := range ni.IPAddresses {
			ips = append(ips, a.GetIPAddress())
		}
	}
	if got.Status.PodIP == "" || len(ips) != 1 || ips[0] != got.Status.PodIP {
		t.Errorf("RUNNING carries IPs %v, pod IP is %q", ips, got.Status.PodIP)
	}
	if !netip.MustParsePrefix(st.PodCIDR).Contains(netip.MustParseAddr(got.Status.PodIP)) {
		t.Errorf("pod IP %s is outside the node's pod CIDR %s", got.Status.PodIP, st.PodCIDR)
	}
	n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := podtask.NodeLabels(podtask.AgentOfInfo(&agent.agent))
	for k, v := range want {
		if n.Labels[k] != v {
			t.Errorf("node label %s = %q, the contract says %q (node labels %v)", k, n.Labels[k], v, n.Labels)
		}
	}
	if n.Labels["rack"] != "r1" || n.Labels["topology.kubernetes.io/zone"] != "e2e-a" {
		t.Errorf("node labels %v lack rack=r1 and the zone from the agent", n.Labels)
	}
	if _, ok := n.Labels["kubernetes.io/role"]; ok {
		t.Errorf("node carries the restricted attribute kubernetes.io/role: %v", n.Labels)
	}
	// What Mesos gives pods here: the agent's 1 cpu and 1024 MB less the executor's 0.25 and 128.
	if cpu := n.Status.Allocatable.Cpu(); cpu.MilliValue() != 750 {
		t.Errorf("node allocatable cpu = %v, want 750m (the agent's 1 cpu less the executor's 0.25)", cpu)
	}
	if mem := n.Status.Allocatable.Memory(); mem.Value() != 896<<20 {
		t.Errorf("node allocatable memory = %v, want 896Mi (the agent's 1024 MB less the executor's 128)", mem)
	}

	// kube-proxy runs next to the kubelet: healthy (it has synced its rules)
	// and the default/kubernetes Service is programmed in the node's namespace.
	healthz := "http://" + net.JoinHostPort(st.IP, "10256") + "/healthz"
	var lastHealth string
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(healthz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			lastHealth = resp.Status
		} else {
			lastHealth = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-proxy %s not healthy: %s", healthz, lastHealth)
		}
		time.Sleep(500 * time.Millisecond)
	}
	rules, err := exec.CommandContext(ctx, "nsenter", "--net="+st.NetNSPath(), "iptables", "-t", "nat", "-S", "KUBE-SERVICES").CombinedOutput()
	if err != nil || !strings.Contains(string(rules), "default/kubernetes:https") {
		t.Errorf("KUBE-SERVICES in the node's namespace lacks default/kubernetes (%v):\n%s", err, rules)
	}

	// The executor killed (kill -9): its kubelet and kube-proxy die with it,
	// the pod's containers do not. A new executor adopts the pod when its
	// task is launched again: not bound again, the same container still
	// running (same ID, no restart), TASK_RUNNING.
	if len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].ContainerID == "" {
		t.Fatalf("container statuses %+v, want the app's", got.Status.ContainerStatuses)
	}
	container := got.Status.ContainerStatuses[0].ContainerID
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("killed executor did not exit")
	}
	killed := time.Now() // its kubelet is gone too: nothing renews the Lease until the next one runs
	startExecutor()
	agent.events <- launch(taskID, ref.Encode())
	waitState(mesos.TASK_RUNNING, 3*time.Minute)
	adopted, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("adopted pod: %v", err)
	}
	if adopted.UID != pod.UID || adopted.DeletionTimestamp != nil || len(adopted.Status.ContainerStatuses) != 1 {
		t.Fatalf("pod after the new executor: uid %s deleting %v statuses %+v, want uid %s, not deleted",
			adopted.UID, adopted.DeletionTimestamp, adopted.Status.ContainerStatuses, pod.UID)
	}
	if cs := adopted.Status.ContainerStatuses[0]; cs.ContainerID != container || cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("container after adoption %s (restarts %d, running %v), want %s still running", cs.ContainerID,
			cs.RestartCount, cs.State.Running != nil, container)
	}
	// The pod's status may still be the old kubelet's: ask containerd once
	// the new kubelet runs (it renews the node's Lease, which the killed one
	// cannot; the Lease's microsecond renewTime, unlike a condition's
	// second-resolution heartbeat, tells the two apart) and has synced its pods.
	mesostest.Eventually(t, time.Minute, "the new kubelet renewing the node's Lease", func() (bool, string) {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if l.Spec.RenewTime == nil {
			return false, "no renewTime"
		}
		return l.Spec.RenewTime.After(killed), l.Spec.RenewTime.String()
	})
	time.Sleep(3 * time.Second) // a sync period of the new kubelet's pod workers
	criConn, err := devnode.DialCRI(st.CRIEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	ctrs, err := runtimeapi.NewRuntimeServiceClient(criConn).ListContainers(ctx, &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(pod.UID)}}})
	criConn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs.Containers) != 1 || "containerd://"+ctrs.Containers[0].Id != container ||
		ctrs.Containers[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("containers of the pod in containerd after the new kubelet synced: %v, want only %s, running", ctrs.Containers, container)
	}

	grace := int64(time.Second)
	agent.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{
		TaskID: mesos.TaskID{Value: taskID}, KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace}}}}
	waitState(mesos.TASK_KILLING, 30*time.Second)
	waitState(mesos.TASK_KILLED, time.Minute)
	if _, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still exists after TASK_KILLED: %v", err)
	}

	agent.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("executor exited with %v after SHUTDOWN, want status 0", err)
		}
		exited <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("executor did not exit after SHUTDOWN")
	}
	if resp, err := http.Get(healthz); err == nil {
		resp.Body.Close()
		t.Errorf("kube-proxy still answers %s after SHUTDOWN: %s", healthz, resp.Status)
	}
	conn, err := devnode.DialCRI(st.CRIEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	list, err := runtimeapi.NewRuntimeServiceClient(conn).ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d pod sandboxes left after shutdown", len(list.Items))
	}
	if mounts, err := devnode.MountsUnder(filepath.Join(st.StateDir(), nodeName, "kubelet")); err != nil || len(mounts) != 0 {
		t.Errorf("mounts left under the kubelet root dir: %v %v", mounts, err)
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }
