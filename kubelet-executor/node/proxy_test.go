package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/internal/bindir"
)

// inNetNSEnv tells the re-executed test binary that it runs in a fresh
// network namespace of its own.
const inNetNSEnv = "KUBEMESOS_TEST_IN_FRESH_NETNS"

// TestCleanupProxyRules runs itself again in a fresh network namespace
// (unshare --net), where CleanupProxyRules removes kube-proxy's chains with
// the real `kube-proxy --cleanup`.
func TestCleanupProxyRules(t *testing.T) {
	if os.Getenv(inNetNSEnv) == "1" {
		cleanupInFreshNetNS(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, iptables")
	}
	for _, tool := range []string{"unshare", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	bin, err := bindir.Default() // KUBEMESOS_BIN_DIR, else the repository's bin/
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kube-proxy")); err != nil {
		if os.Getenv(bindir.RequireEnv) == "1" {
			t.Fatalf("kube-proxy binary: %v", err)
		}
		t.Skipf("no kube-proxy (hack/build-tools.sh builds it): %v", err)
	}
	cmd := exec.CommandContext(t.Context(), "unshare", "--net", os.Args[0], "-test.run=^TestCleanupProxyRules$", "-test.v")
	cmd.Env = append(os.Environ(), inNetNSEnv+"=1", "KUBEMESOS_TEST_BIN_DIR="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestCleanupProxyRules") {
		t.Fatalf("in a fresh network namespace: %v\n%s", err, out)
	}
}

func cleanupInFreshNetNS(t *testing.T) {
	iptables := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("iptables", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("iptables %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// What kube-proxy's iptables mode leaves: its chains, jumped to from the
	// base chains with the rules kube-proxy writes.
	iptables("-t", "nat", "-N", "KUBE-SERVICES")
	iptables("-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
	iptables("-t", "filter", "-N", "KUBE-PROXY-FIREWALL")
	iptables("-t", "filter", "-A", "INPUT", "-m", "conntrack", "--ctstate", "NEW",
		"-m", "comment", "--comment", "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL")

	c := testConfig()
	c.BinDir, c.StateDir, c.LogDir = os.Getenv("KUBEMESOS_TEST_BIN_DIR"), t.TempDir(), t.TempDir()
	if err := os.MkdirAll(c.NodeDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := KubeProxyConfigYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.ProxyConfigPath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CleanupProxyRules(t.Context(), c); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.LogDir, "kube-proxy.log"))
		t.Fatalf("%v\n%s", err, log)
	}
	left := iptables("-t", "nat", "-S") + iptables("-t", "filter", "-S")
	if strings.Contains(left, "KUBE-SERVICES") || strings.Contains(left, "KUBE-PROXY-FIREWALL") {
		t.Errorf("kube-proxy chains left after cleanup:\n%s", left)
	}
}
