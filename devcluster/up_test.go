package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

func TestExecutorEnv(t *testing.T) {
	st, err := node.Plan(node.Config{Name: "agent-1", Index: 1, Dir: "/d/agents/agent-1", Network: node.DefaultNetwork()})
	if err != nil {
		t.Fatal(err)
	}
	env := ExecutorEnv(st, "/k/node", "/k/exec", "/pki/ca.crt", "/bin/k8s")
	want := map[string]string{
		"KUBEMESOS_KUBECONFIG":          "/k/node",
		"KUBEMESOS_EXECUTOR_KUBECONFIG": "/k/exec",
		"KUBEMESOS_CLIENT_CA":           "/pki/ca.crt",
		"KUBEMESOS_CRI_SOCKET":          "unix:///run/kubemesos/agent-1/containerd.sock",
		"KUBEMESOS_POD_CIDR":            "10.244.1.0/24",
		"KUBEMESOS_CNI_CONF_DIR":        "/d/agents/agent-1/cni/net.d",
		"KUBEMESOS_STATE_DIR":           "/d/agents/agent-1/state",
		"KUBEMESOS_BIN_DIR":             "/bin/k8s",
		"KUBEMESOS_NODE_IP":             "10.200.0.11",
		"KUBEMESOS_CGROUP_ROOT":         "/kubemesos/agent-1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Error("no PATH: the executor gets only these variables")
	}
}

func TestPreloadedImagesEnvNamesEveryImportedImage(t *testing.T) {
	env := PreloadedImagesEnv([]images.Archive{
		{Ref: "kubemesos.local/busybox:latest"},
		{Ref: "kubemesos.local/agnhost:2.63.0", Aliases: []string{"registry.k8s.io/e2e-test-images/agnhost:2.63.0"}},
		{Ref: "localhost:5000/pause@sha256:0123"},
		{Ref: "kubemesos.local/busybox:other"},
		{Ref: "registry.k8s.io/e2e-test-images/nginx:1.15-4", Images: []string{"registry.k8s.io/e2e-test-images/nginx:1.15-4", "registry.k8s.io/etcd:3.6.8-0"}},
	})
	want := "kubemesos.local/agnhost,kubemesos.local/busybox,localhost:5000/pause,registry.k8s.io/e2e-test-images/agnhost,registry.k8s.io/e2e-test-images/nginx,registry.k8s.io/etcd"
	if got := env["KUBEMESOS_PRELOADED_IMAGES"]; got != want {
		t.Errorf("KUBEMESOS_PRELOADED_IMAGES = %q, want %q", got, want)
	}
}

func TestTooDeepDirectoryIsRefused(t *testing.T) {
	cfg, err := Config{Dir: "/tmp/" + strings.Repeat("d", 80)}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSocketPaths(cfg); err == nil || !strings.Contains(err.Error(), "too deep") {
		t.Fatalf("checkSocketPaths = %v, want a too-deep error", err)
	}
	cfg.Dir = "/work/main/.kubemesos"
	if err := checkSocketPaths(cfg); err != nil {
		t.Fatalf("the default layout is refused: %v", err)
	}
}

func TestDownWithoutState(t *testing.T) {
	if err := Down(context.Background(), t.TempDir()); err != nil {
		t.Fatalf("Down of an empty directory: %v", err)
	}
}

func TestStopRecordedLeavesOtherProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := stopRecorded(context.Background(), Proc{Name: "x", PID: cmd.Process.Pid, Marker: "not-in-its-cmdline"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if !proc.Alive(cmd.Process.Pid) {
		t.Fatal("a process whose command line lacks the marker was stopped")
	}
	if err := stopRecorded(context.Background(), Proc{Name: "x", PID: cmd.Process.Pid, Marker: "30"}, time.Second); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if proc.Alive(cmd.Process.Pid) {
		t.Fatal("the recorded process survived")
	}
}

// TestUpDown starts a one-agent cluster on its own network, checks that the
// agent and the bridge are registered with the master and that a pod is
// launched onto the agent's node, then tears it down and checks that nothing
// is left. It needs root, the Debian packages and the Kubernetes binaries.
func TestUpDown(t *testing.T) {
	binDir, kubemesos := clusterTestBinaries(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := Up(ctx, Config{
		Agents:      1,
		Dir:         dir,
		BinDir:      binDir,
		Kubemesos:   kubemesos,
		AgentPrefix: "kmt-agent-",
		Network: node.Network{
			Bridge:   "kmu0",
			Gateway:  netip.MustParsePrefix("10.202.0.1/24"),
			PodCIDRs: netip.MustParsePrefix("10.246.0.0/16"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			_ = c.Down(context.Background())
		}
	})
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hosts) != 1 || len(st.Agents) != 1 || st.Master == nil || len(st.Bridges) != DefaultSchedulers || len(st.ControlPlane) != 3 || st.Switch == nil {
		t.Fatalf("state = %+v", st)
	}
	// The Service CIDR, the pod CIDRs and the agents' network each have a
	// floor route while the cluster is up.
	floors := map[string]bool{}
	for _, r := range st.Switch.Routes {
		floors[r.Prefix] = routeExists(t, r)
	}
	for _, p := range []string{controlplane.DefaultServiceCIDR, "10.246.0.0/16", "10.202.0.0/24"} {
		if !floors[p] {
			t.Errorf("no unreachable route for %s while the cluster is up (recorded %v)", p, st.Switch.Routes)
		}
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(restCfg)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "sleep", Image: "kubemesos.local/busybox:latest", ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sleep", "3600"},
		}}},
	}
	waitBound := func(name string, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err == nil && p.Spec.NodeName == "kmt-agent-1" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s not bound to kmt-agent-1: %+v, %v; bridge logs:\n%s\n%s", name, p.Spec.NodeName, err,
					proc.Tail(filepath.Join(dir, "logs", BridgeName(1)+".log"), 3000), proc.Tail(filepath.Join(dir, "logs", BridgeName(2)+".log"), 3000))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound("probe", 90*time.Second)

	// kill -9 of the leading bridge: the other one takes over and places
	// the next pod.
	leader := -1
	for i, url := range strings.Split(c.BridgeMetrics, ",") {
		if bridgeLeads(t, url) {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no bridge leads (metrics %s)", c.BridgeMetrics)
	}
	if err := syscall.Kill(st.Bridges[leader].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	next := pod.DeepCopy()
	next.Name = "after-failover"
	if _, err := client.CoreV1().Pods("default").Create(ctx, next, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound("after-failover", 60*time.Second)
	t.Logf("a pod created after kill -9 of the leading bridge was bound %v later", time.Since(killed).Round(100*time.Millisecond))

	downed = true
	if err := c.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, err := ReadState(dir); err == nil {
		t.Error("state file remains after Down")
	}
	for _, p := range append(append(append(st.ControlPlane, st.Agents...), st.Bridges...), *st.Master) {
		if proc.Alive(p.PID) && cmdlineHas(p.PID, p.Marker) {
			t.Errorf("%s (pid %d) still runs", p.Name, p.PID)
		}
	}
	h := st.Hosts[0]
	if _, err := os.Stat(h.NetNSPath()); err == nil {
		t.Errorf("netns %s remains", h.NetNS)
	}
	for _, link := range []string{"kmu0", h.HostVeth} {
		if _, err := os.Stat(filepath.Join("/sys/class/net", link)); err == nil {
			t.Errorf("link %s remains", link)
		}
	}
	if m, _ := node.MountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts remain: %v", m)
	}
	for _, r := range st.Switch.Routes {
		if routeExists(t, r) {
			t.Errorf("route %v remains after Down", r)
		}
	}
	for k, v := range st.Switch.Sysctls {
		if got, _ := node.ReadSysctl(k); got != v {
			t.Errorf("sysctl %s = %s, was %s before Up", k, got, v)
		}
	}
}

// routeExists reports whether the machine's main table has floor route r.
func routeExists(t *testing.T, r node.FloorRoute) bool {
	t.Helper()
	out, err := exec.Command("ip", "route", "show", "table", "main", "exact", r.Prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route show %s: %v: %s", r.Prefix, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; len(f) > 0 && f[0] == "unreachable" && i+1 < len(f); i++ {
			if f[i] == "metric" && f[i+1] == strconv.Itoa(r.Metric) {
				return true
			}
		}
	}
	return false
}

// upCrashNetwork is TestDownAfterUpIsKilled's cluster network.
var upCrashNetwork = node.Network{
	Bridge:      "kmk0",
	Gateway:     netip.MustParsePrefix("10.206.0.1/24"),
	PodCIDRs:    netip.MustParsePrefix("10.250.0.0/16"),
	ServiceCIDR: netip.MustParsePrefix("10.95.0.0/16"),
}

// TestUpProcess is not a test: TestDownAfterUpIsKilled runs the test binary
// with KUBEMESOS_TEST_UP_DIR to bring a cluster up in a process it can kill.
func TestUpProcess(t *testing.T) {
	dir := os.Getenv("KUBEMESOS_TEST_UP_DIR")
	if dir == "" {
		t.Skip("helper process of TestDownAfterUpIsKilled")
	}
	_, err := Up(context.Background(), Config{
		Agents: 1, Dir: dir, BinDir: os.Getenv("KUBEMESOS_TEST_UP_BIN"), Kubemesos: os.Getenv("KUBEMESOS_TEST_UP_KUBEMESOS"),
		AgentPrefix: "kmk-agent-", Network: upCrashNetwork,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "up"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

// TestDownAfterUpIsKilled: the process running a cluster is killed with
// SIGKILL; the floor routes stay (nothing for the cluster's ranges leaves
// the machine meanwhile), and `down` of its directory then removes them with
// everything else.
func TestDownAfterUpIsKilled(t *testing.T) {
	binDir, kubemesos := clusterTestBinaries(t)
	// Short: the kubelet's sockets live under it.
	dir, err := os.MkdirTemp("", "kmk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	up := exec.Command(os.Args[0], "-test.run=^TestUpProcess$", "-test.v")
	up.Env = append(os.Environ(), "KUBEMESOS_TEST_UP_DIR="+dir, "KUBEMESOS_TEST_UP_BIN="+binDir, "KUBEMESOS_TEST_UP_KUBEMESOS="+kubemesos)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	up.Stdout, up.Stderr = logFile, logFile
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = up.Process.Kill()
		_ = Down(context.Background(), dir)
	})
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "up")); err == nil {
			break
		}
		if time.Now().After(deadline) || up.ProcessState != nil {
			t.Fatalf("the cluster did not come up; log:\n%s", proc.Tail(logFile.Name(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := up.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = up.Wait()

	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Switch == nil || len(st.Switch.Routes) != 3 {
		t.Fatalf("recorded switch %+v: want 3 floor routes", st.Switch)
	}
	for _, r := range st.Switch.Routes {
		if !routeExists(t, r) {
			t.Errorf("route %v gone after the crash, before down", r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := Down(ctx, dir); err != nil {
		t.Fatalf("Down after the crash: %v", err)
	}
	for _, r := range st.Switch.Routes {
		if routeExists(t, r) {
			t.Errorf("route %v remains after down", r)
		}
	}
	for _, link := range []string{upCrashNetwork.Bridge, st.Hosts[0].HostVeth} {
		if _, err := os.Stat(filepath.Join("/sys/class/net", link)); err == nil {
			t.Errorf("link %s remains", link)
		}
	}
	for _, p := range append(append(append(st.ControlPlane, st.Agents...), st.Bridges...), *st.Master) {
		if proc.Alive(p.PID) && cmdlineHas(p.PID, p.Marker) {
			t.Errorf("%s (pid %d) still runs", p.Name, p.PID)
		}
	}
}

// bridgeLeads reads kubemesos_leader from a bridge's metrics URL.
func bridgeLeads(t *testing.T, url string) bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("metrics %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "kubemesos_leader" {
			return f[1] == "1"
		}
	}
	t.Fatalf("metrics %s: no kubemesos_leader", url)
	return false
}

// clusterTestBinaries skips a test that starts a whole cluster where it
// cannot (short mode, not root, binaries or packages missing) and returns
// the Kubernetes binaries' directory and a kubemesos built from this tree.
func clusterTestBinaries(t *testing.T) (binDir, kubemesos string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	binDir, err := bindir.Default()
	if err != nil {
		t.Skip(err)
	}
	if err := preflight(Config{BinDir: binDir}); err != nil {
		t.Skip(err)
	}
	root, err := bindir.FindRepoRoot()
	if err != nil {
		t.Skip(err)
	}
	kubemesos = filepath.Join(t.TempDir(), "kubemesos")
	build := exec.Command("go", "build", "-o", kubemesos, "./cmd/kubemesos")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kubemesos: %v\n%s", err, out)
	}
	return binDir, kubemesos
}

func TestMastersAddressesAndLimits(t *testing.T) {
	one, err := Config{BinDir: "/bin"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(masterURLs(one), ","); got != "http://10.200.0.1:5050" {
		t.Errorf("one master: %s", got)
	}
	two, err := Config{BinDir: "/bin", Masters: 2}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(masterAddrs(two), ","); got != "10.200.0.1:5050,10.200.0.1:5052" {
		t.Errorf("two masters: %s", got)
	}
	if MasterName(1) != "mesos-master" || MasterName(2) != "mesos-master-2" {
		t.Errorf("master names %q %q", MasterName(1), MasterName(2))
	}
	for _, n := range []int{-1, 4} {
		if _, err := (Config{BinDir: "/bin", Masters: n}).withDefaults(); err == nil || !strings.Contains(err.Error(), "masters") {
			t.Errorf("%d masters: err %v, want one naming masters", n, err)
		}
	}
}

func TestFaultsOfAnUnknownProcessOrHost(t *testing.T) {
	c := &Cluster{procs: map[string]*proc.Process{}}
	for name, err := range map[string]error{
		"Kill":      c.Kill("bridge-9"),
		"Restart":   c.Restart("bridge-9"),
		"Partition": c.Partition(context.Background(), "agent-9"),
		"Heal":      c.Heal(context.Background(), "agent-9"),
	} {
		if !errors.Is(err, ErrUnknownProcess) {
			t.Errorf("%s: %v, want ErrUnknownProcess", name, err)
		}
	}
}

func TestRestartRefusesARunningProcessAndAStoppingCluster(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	c := &Cluster{Dir: dir, state: &State{Dir: dir}, procs: map[string]*proc.Process{}, specs: map[string]proc.Spec{}, markers: map[string]string{}, supervised: map[string]bool{}}
	if _, _, err := c.child(ctx, "sleeper", proc.Spec{Path: "/bin/sleep", Args: []string{"60"}}, "60"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart("sleeper"); !errors.Is(err, ErrRunning) {
		t.Fatalf("Restart of a running process: %v", err)
	}
	if err := c.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart("sleeper"); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if pid, err := c.PID("sleeper"); err != nil || !proc.Alive(pid) {
		t.Fatalf("restarted sleeper: pid %d alive %v, %v", pid, proc.Alive(pid), err)
	}
	if err := c.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := c.Restart("sleeper"); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("Restart in a stopping cluster: %v", err)
	}
}

// TestRestartWithArgs: a process killed and started again with other
// arguments runs with them, and so does its next restart; a running one is
// refused and keeps its arguments.
func TestRestartWithArgs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	c := &Cluster{Dir: dir, state: &State{Dir: dir}, procs: map[string]*proc.Process{}, specs: map[string]proc.Spec{}, markers: map[string]string{}, supervised: map[string]bool{}}
	if _, _, err := c.child(ctx, "sleeper", proc.Spec{Path: "/bin/sleep", Args: []string{"60"}}, "sleep"); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartWithArgs("sleeper", []string{"61"}); !errors.Is(err, ErrRunning) {
		t.Fatalf("RestartWithArgs of a running process: %v", err)
	}
	if err := c.RestartWithArgs("nobody", nil); !errors.Is(err, ErrUnknownProcess) {
		t.Fatalf("RestartWithArgs of an unknown process: %v", err)
	}
	cmdline := func() string {
		pid, _ := c.PID("sleeper")
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.ReplaceAll(string(b), "\x00", " ")
	}
	if got := cmdline(); got != "/bin/sleep 60 " {
		t.Fatalf("after a refused RestartWithArgs: %q", got)
	}
	for _, restart := range []func() error{
		func() error { return c.RestartWithArgs("sleeper", []string{"61"}) },
		func() error { return c.Restart("sleeper") },
	} {
		if err := c.Kill("sleeper"); err != nil {
			t.Fatal(err)
		}
		if err := restart(); err != nil {
			t.Fatal(err)
		}
		if got := cmdline(); got != "/bin/sleep 61 " {
			t.Fatalf("restarted with %q, want the new arguments", got)
		}
	}
	if args, err := c.Args("sleeper"); err != nil || fmt.Sprint(args) != "[61]" {
		t.Fatalf("Args = %v, %v", args, err)
	}
	if err := c.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
}

func TestASupervisedProcessIsStartedAgain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	c := &Cluster{Dir: dir, state: &State{Dir: dir}, procs: map[string]*proc.Process{}, specs: map[string]proc.Spec{}, markers: map[string]string{}, supervised: map[string]bool{"sleeper": true}}
	if _, _, err := c.child(ctx, "sleeper", proc.Spec{Path: "/bin/sleep", Args: []string{"60"}}, "60"); err != nil {
		t.Fatal(err)
	}
	first, _ := c.PID("sleeper")
	if err := c.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
	if c.Running("sleeper") {
		t.Fatal("running right after Kill")
	}
	deadline := time.Now().Add(SuperviseDelay + 5*time.Second)
	for !c.Running("sleeper") {
		if time.Now().After(deadline) {
			t.Fatalf("the supervised sleeper was not started again within %v", SuperviseDelay+5*time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pid, _ := c.PID("sleeper"); pid == first {
		t.Fatalf("same pid %d after the restart", pid)
	}
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	if err := c.Kill("sleeper"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(SuperviseDelay + time.Second)
	if c.Running("sleeper") {
		t.Fatal("a stopping cluster started its supervised process again")
	}
}
