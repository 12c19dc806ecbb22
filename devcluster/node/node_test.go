package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/devcluster/proc"
)

// testNetwork stays clear of a dev cluster that may run on the machine.
func testNetwork() Network {
	return Network{
		Bridge:   "kmt0",
		Gateway:  netip.MustParsePrefix("10.201.0.1/24"),
		PodCIDRs: netip.MustParsePrefix("10.245.0.0/16"),
	}
}

func TestNetworkAddresses(t *testing.T) {
	n := DefaultNetwork()
	if got := n.HostIP(1).String(); got != "10.200.0.11" {
		t.Errorf("HostIP(1) = %s", got)
	}
	if got := n.PodCIDR(3).String(); got != "10.244.3.0/24" {
		t.Errorf("PodCIDR(3) = %s", got)
	}
	st, err := Plan(Config{Name: "agent-2", Index: 2, Dir: "/tmp/x", Network: n})
	if err != nil {
		t.Fatal(err)
	}
	if st.NetNS != "km-agent-2" || st.HostVeth != "km0v2" || st.IP != "10.200.0.12" || st.PodCIDR != "10.244.2.0/24" ||
		st.CgroupRoot != "/kubemesos/agent-2" || st.ContainerdSocket != "/run/kubemesos/agent-2/containerd.sock" {
		t.Errorf("Plan = %+v", st)
	}
	if _, err := Plan(Config{Name: "x", Index: 0, Dir: "/tmp/x", Network: n}); err == nil {
		t.Error("Plan accepted index 0")
	}
	if _, err := Plan(Config{Name: "x", Index: 1, Dir: "/tmp/x", Network: Network{Bridge: "a-very-long-bridge", Gateway: n.Gateway, PodCIDRs: n.PodCIDRs}}); err == nil {
		t.Error("Plan accepted a bridge name too long for veth names")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b/c\011d`); got != "/a b/c\td" {
		t.Errorf("unescapeMount = %q", got)
	}
}

func requireHostTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and cgroups")
	}
	for _, tool := range []string{"ip", "nsenter", "containerd", "ctr", "/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", images.DefaultBusybox} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: iproute2, util-linux, containerd, runc, containernetworking-plugins, busybox-static): %v", tool, err)
		}
	}
	if _, err := os.Stat(filepath.Join(DefaultRunDir, "..")); err != nil {
		t.Skipf("needs %s: %v", DefaultRunDir, err)
	}
}

// TestHostLifecycle creates a switch and a host with its containerd, imports
// the images, runs a pod serving HTTP that the machine reaches through the
// host's route, tears the host down and checks that nothing is left; then
// does the same after killing containerd, as after a crash.
func TestHostLifecycle(t *testing.T) {
	requireHostTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n := testNetwork()
	if linkExists(n.Bridge) {
		t.Fatalf("bridge %s exists before the test: a previous run left it", n.Bridge)
	}
	before := map[string]string{}
	for _, k := range HostSysctls {
		v, err := ReadSysctl(k)
		if err != nil {
			t.Fatal(err)
		}
		before[k] = v
	}
	sw, err := SetupSwitch(ctx, n)
	t.Cleanup(func() { _ = TeardownSwitch(context.Background(), sw) })
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadSysctl("net.ipv4.ip_forward"); v != "1" {
		t.Fatalf("ip_forward = %s after SetupSwitch", v)
	}

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	archives, err := images.Build(ctx, images.Options{OutDir: t.TempDir(), SourceDir: root})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("clean", func(t *testing.T) {
		h := createHost(ctx, t, n, "kmtest1", 1, archives)
		checkPod(ctx, t, h.State(), n)
		if err := h.Destroy(ctx); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		checkGone(t, h.State())
		// Idempotent: tearing down again from the state finds nothing to do.
		if err := Teardown(ctx, h.State()); err != nil {
			t.Fatalf("second Teardown: %v", err)
		}
	})

	t.Run("after crash", func(t *testing.T) {
		h := createHost(ctx, t, n, "kmtest2", 2, archives)
		st := h.State()
		checkPod(ctx, t, st, n)
		// A process of the host (as a kubelet would be) outlives the crash.
		sleeper, err := proc.Start(ctx, proc.Spec{Name: "leftover", Path: "/bin/sleep", Args: []string{"300"}, NetNS: st.NetNS})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sleeper.Stop(time.Second) })
		// nsenter enters the namespace, then execs: wait for it.
		for i := 0; ; i++ {
			pids, err := ProcessesInNetNS(st.NetNSPath())
			if err == nil && slices.Contains(pids, sleeper.PID()) {
				break
			}
			if i == 50 {
				t.Fatalf("ProcessesInNetNS = %v, %v; want it to include %d", pids, err, sleeper.PID())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// containerd dies; its shims, the pod and their mounts stay.
		if err := syscall.Kill(st.ContainerdPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-h.containerd.Exited()
		if shims := leftoversOf(t, st); len(shims) == 0 {
			t.Fatal("no shim left after killing containerd: the crash case tests nothing")
		}
		if err := Teardown(ctx, st); err != nil {
			t.Fatalf("Teardown after crash: %v", err)
		}
		checkGone(t, st)
		select {
		case <-sleeper.Exited():
		case <-time.After(5 * time.Second):
			t.Error("the process in the host's namespace survived Teardown")
		}
	})

	if err := TeardownSwitch(ctx, sw); err != nil {
		t.Fatalf("TeardownSwitch: %v", err)
	}
	if linkExists(n.Bridge) {
		t.Errorf("bridge %s still exists", n.Bridge)
	}
	for k, v := range before {
		if got, _ := ReadSysctl(k); got != v {
			t.Errorf("sysctl %s = %s after teardown, was %s", k, got, v)
		}
	}
	if out, _ := output(ctx, "iptables", "-w", "-S", "FORWARD"); strings.Contains(out, n.Bridge) {
		t.Errorf("iptables FORWARD still mentions %s:\n%s", n.Bridge, out)
	}
}

func createHost(ctx context.Context, t *testing.T, n Network, name string, index int, archives []images.Archive) *Host {
	t.Helper()
	h, err := Create(ctx, Config{Name: name, Index: index, Dir: filepath.Join(t.TempDir(), name), Network: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Destroy(context.Background()) })
	st := h.State()
	if _, err := os.Stat(st.NetNSPath()); err != nil {
		t.Fatalf("netns: %v", err)
	}
	if !linkExists(st.HostVeth) {
		t.Fatalf("veth %s missing", st.HostVeth)
	}
	if !procIsIn(t, st.ContainerdPID, st.NetNSPath()) {
		t.Fatalf("containerd (pid %d) does not run in %s", st.ContainerdPID, st.NetNS)
	}
	start := time.Now()
	if err := images.ImportAll(ctx, st.ContainerdSocket, archives); err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d images in %v", len(archives), time.Since(start))
	conn, err := DialCRI(st.CRIEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := runtimeapi.NewImageServiceClient(conn).ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, img := range resp.Images {
		for _, tag := range img.RepoTags {
			tags[tag] = true
		}
	}
	for _, ref := range []string{images.BusyboxRef, images.PauseRef} {
		if !tags[ref] {
			t.Fatalf("CRI does not list %s; it lists %v", ref, tags)
		}
	}
	return h
}

// procIsIn reports whether pid runs in the network namespace at path.
func procIsIn(t *testing.T, pid int, path string) bool {
	var a, b syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(path, &b); err != nil {
		t.Fatal(err)
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

// checkPod runs a pod serving /etc over HTTP and fetches /etc/passwd from
// the machine through the route to the host's pod CIDR.
func checkPod(ctx context.Context, t *testing.T, st State, n Network) {
	t.Helper()
	cni := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "kmtest",
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": st.PodCIDR}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(st.Dir, "cni", "ipam"),
			},
		}},
	}
	b, _ := json.Marshal(cni)
	if err := os.WriteFile(filepath.Join(st.CNIConfDir(), "10-kmtest.conflist"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := DialCRI(st.CRIEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	logDir := filepath.Join(st.StateDir(), "pods", "web")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "uid-" + st.Name},
		Hostname:     "web",
		LogDirectory: logDir,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: st.CgroupRoot + "/podweb"},
	}
	// CNI may need a moment to see the config file.
	var sb *runtimeapi.RunPodSandboxResponse
	for i := 0; ; i++ {
		sb, err = rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
		if err == nil {
			break
		}
		if i == 30 {
			t.Fatalf("RunPodSandbox: %v; containerd log:\n%s", err, tail(filepath.Join(st.LogDir(), "containerd.log")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c, err := rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sb.PodSandboxId,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "httpd"},
			Image:    &runtimeapi.ImageSpec{Image: images.BusyboxRef},
			Command:  []string{"httpd", "-f", "-p", "8080", "-h", "/etc"},
			LogPath:  "httpd.log",
		},
		SandboxConfig: sbCfg,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := rs.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	status, err := rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(status.GetStatus().GetNetwork().GetIp())
	if err != nil || !netip.MustParsePrefix(st.PodCIDR).Contains(ip) {
		t.Fatalf("pod IP %q not in %s: %v", status.GetStatus().GetNetwork().GetIp(), st.PodCIDR, err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	url := fmt.Sprintf("http://%s:8080/passwd", ip)
	for i := 0; ; i++ {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "root:x:0:0") {
				t.Fatalf("GET %s = %d %q", url, resp.StatusCode, body)
			}
			break
		}
		if i == 20 {
			t.Fatalf("GET %s from the machine: %v", url, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func leftoversOf(t *testing.T, st State) []int {
	pids, err := findProcs(func(args []string) bool {
		return strings.Contains(strings.Join(args, " "), st.ContainerdSocket)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// checkGone verifies that nothing of the host remains.
func checkGone(t *testing.T, st State) {
	t.Helper()
	if _, err := os.Stat(st.NetNSPath()); err == nil {
		t.Errorf("netns %s still exists", st.NetNS)
	}
	if linkExists(st.HostVeth) {
		t.Errorf("veth %s still exists", st.HostVeth)
	}
	if pids := leftoversOf(t, st); len(pids) > 0 {
		t.Errorf("processes of the host's containerd remain: %v", pids)
	}
	if proc := fmt.Sprintf("/proc/%d", st.ContainerdPID); st.ContainerdPID > 0 {
		if b, err := os.ReadFile(proc + "/cmdline"); err == nil && strings.Contains(string(b), st.ContainerdConfig) {
			t.Errorf("containerd %d still runs", st.ContainerdPID)
		}
	}
	for _, d := range []string{st.Dir, st.RunDir} {
		if m, _ := MountsUnder(d); len(m) > 0 {
			t.Errorf("mounts remain under %s: %v", d, m)
		}
	}
	if out, _ := output(context.Background(), "ip", "route", "show", st.PodCIDR); strings.TrimSpace(out) != "" {
		t.Errorf("route to %s remains: %s", st.PodCIDR, out)
	}
	if dirs := cgroupDirs(st.CgroupRoot); len(dirs) > 0 {
		t.Errorf("cgroups remain: %v", dirs)
	}
	if _, err := os.Stat(st.RunDir); err == nil {
		t.Errorf("run dir %s remains", st.RunDir)
	}
}

// TestOverlappingSwitches checks that switches up at the same time (tests
// in parallel, two clusters) restore the sysctls the machine had before the
// first, whatever the kubelets changed in between.
func TestOverlappingSwitches(t *testing.T) {
	requireHostTools(t)
	ctx := context.Background()
	orig, err := ReadSysctl("kernel.panic")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = WriteSysctl("kernel.panic", orig) })
	// Two clusters with one Service CIDR, as tests in parallel have.
	svc := netip.MustParsePrefix("10.99.0.0/16")
	a := Network{Bridge: "kmt1", Gateway: netip.MustParsePrefix("10.203.0.1/24"), PodCIDRs: netip.MustParsePrefix("10.247.0.0/16"), ServiceCIDR: svc}
	b := Network{Bridge: "kmt2", Gateway: netip.MustParsePrefix("10.204.0.1/24"), PodCIDRs: netip.MustParsePrefix("10.248.0.0/16"), ServiceCIDR: svc}
	sa, err := SetupSwitch(ctx, a)
	t.Cleanup(func() { _ = TeardownSwitch(ctx, sa) })
	if err != nil {
		t.Fatal(err)
	}
	changed := "77"
	if err := WriteSysctl("kernel.panic", changed); err != nil { // as a kubelet would
		t.Fatal(err)
	}
	sb, err := SetupSwitch(ctx, b)
	t.Cleanup(func() { _ = TeardownSwitch(ctx, sb) })
	if err != nil {
		t.Fatal(err)
	}
	if sb.Sysctls["kernel.panic"] != orig {
		t.Fatalf("second switch recorded kernel.panic=%s, the machine had %s", sb.Sysctls["kernel.panic"], orig)
	}
	if len(sa.Routes) != 3 || len(sb.Routes) != 3 {
		t.Fatalf("floor routes: %v and %v, want 3 each", sa.Routes, sb.Routes)
	}
	if sa.Routes[2].Prefix != svc.String() || sb.Routes[2].Prefix != svc.String() || sa.Routes[2].Metric == sb.Routes[2].Metric {
		t.Fatalf("Service CIDR floors %v and %v: want one each, with different metrics", sa.Routes[2], sb.Routes[2])
	}
	for _, r := range append(append([]FloorRoute(nil), sa.Routes...), sb.Routes...) {
		if !hasFloorRoute(t, r) {
			t.Errorf("route %v missing", r)
		}
	}
	if err := TeardownSwitch(ctx, sa); err != nil {
		t.Fatal(err)
	}
	for _, r := range sa.Routes {
		if hasFloorRoute(t, r) {
			t.Errorf("route %v of the switch torn down remains", r)
		}
	}
	for _, r := range sb.Routes {
		if !hasFloorRoute(t, r) {
			t.Errorf("route %v of the switch still up was removed", r)
		}
	}
	if v, _ := ReadSysctl("kernel.panic"); v != changed {
		t.Errorf("kernel.panic = %s while another switch is up, want it left at %s", v, changed)
	}
	if linkExists(a.Bridge) || !linkExists(b.Bridge) {
		t.Errorf("after tearing down %s: %s exists %v, %s exists %v", a.Bridge, a.Bridge, linkExists(a.Bridge), b.Bridge, linkExists(b.Bridge))
	}
	if err := TeardownSwitch(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadSysctl("kernel.panic"); v != orig {
		t.Errorf("kernel.panic = %s after the last switch, want %s", v, orig)
	}
	if _, err := os.Stat(SwitchRegistry); err == nil {
		t.Errorf("%s remains after the last switch", SwitchRegistry)
	}
	for _, r := range sb.Routes {
		if hasFloorRoute(t, r) {
			t.Errorf("route %v remains after the last switch", r)
		}
	}
}

// TestFloorRoutesOfACrashedSwitch: a switch whose cluster crashed before
// saving its state (nothing but the registry knows its routes) and whose
// bridge is gone has its routes removed by the next switch set up.
func TestFloorRoutesOfACrashedSwitch(t *testing.T) {
	requireHostTools(t)
	ctx := context.Background()
	crashed := Network{Bridge: "kmt3", Gateway: netip.MustParsePrefix("10.205.0.1/24"), PodCIDRs: netip.MustParsePrefix("10.249.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.98.0.0/16")}
	st, err := SetupSwitch(ctx, crashed)
	t.Cleanup(func() { _ = TeardownSwitch(ctx, st) })
	if err != nil {
		t.Fatal(err)
	}
	// The crash: the bridge goes (as after a reboot of its namespace or a
	// manual cleanup), the state with the routes is lost.
	if err := run(ctx, "ip", "link", "del", crashed.Bridge); err != nil {
		t.Fatal(err)
	}
	next := testNetwork()
	sn, err := SetupSwitch(ctx, next)
	t.Cleanup(func() { _ = TeardownSwitch(ctx, sn) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Routes {
		if hasFloorRoute(t, r) {
			t.Errorf("route %v of the crashed switch remains", r)
		}
	}
	if err := TeardownSwitch(ctx, sn); err != nil {
		t.Fatal(err)
	}
}

// hasFloorRoute reports whether the main table holds r.
func hasFloorRoute(t *testing.T, r FloorRoute) bool {
	t.Helper()
	rs, err := routesFor(context.Background(), r.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rs {
		if e.Type == "unreachable" && e.Metric == r.Metric {
			return true
		}
	}
	return false
}
