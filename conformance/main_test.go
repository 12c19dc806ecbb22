package conformance

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

// cluster is what every scenario talks to.
var cluster struct {
	kubeconfig  string
	mesosMaster string
	client      kubernetes.Interface
	kubectl     string
	repo        string
	// local is set when the suite brought the cluster up on this machine,
	// so fault scenarios may kill its processes.
	local bool
	// network and hosts are the local cluster's addressing and hosts.
	network node.Network
	hosts   []node.State
	// bridgeDebug is the local bridge's --debug-address, for kubemesos why.
	bridgeDebug string
	// dev is the local cluster, for fault scenarios that stop and start
	// its parts.
	dev *devcluster.Cluster
}

// faultsEnv enables the long fault scenarios (make conformance sets it).
const faultsEnv = "KUBEMESOS_E2E_FAULTS"

// requireFaults skips a long fault scenario unless faultsEnv is 1, and on a
// cluster this suite did not bring up (it breaks processes and links).
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv(faultsEnv) != "1" {
		t.Skip("a long fault scenario: runs with " + faultsEnv + "=1 (make conformance)")
	}
	if !cluster.local {
		t.Skip("breaks processes and links of the cluster: needs the suite's own local cluster")
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	repo, err := bindir.FindRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	cluster.repo = repo
	cluster.kubectl = filepath.Join(repo, "bin", "kubectl")
	if os.Getenv("KUBEMESOS_E2E_EXISTING") == "1" {
		cluster.kubeconfig, cluster.mesosMaster = os.Getenv("KUBECONFIG"), os.Getenv("MESOS_MASTER")
	} else {
		if os.Geteuid() != 0 {
			fmt.Fprintln(os.Stderr, "conformance: skipped: a local cluster needs root (or set KUBEMESOS_E2E_EXISTING=1 with KUBECONFIG and MESOS_MASTER)")
			return 0
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		// Its own network and names, so a `kubemesos up` on the same machine is untouched.
		network := node.Network{Bridge: "kme2e0", Gateway: netip.MustParsePrefix("10.201.0.1/24"),
			PodCIDRs: netip.MustParsePrefix("10.245.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.97.0.0/16")}
		masters := 1
		if os.Getenv(faultsEnv) == "1" {
			masters = 2 // for the Mesos leader failover scenario
		}
		c, err := devcluster.Up(ctx, devcluster.Config{
			Agents:      2,
			Masters:     masters,
			AgentPrefix: "e2e-agent-",
			Network:     network,
			Dir:         filepath.Join(os.TempDir(), fmt.Sprintf("kubemesos-e2e-%d", os.Getpid())),
			Kubemesos:   filepath.Join(repo, "bin", "kubemesos"),
			TestImages:  true,
			// TestRevocablePodsEvictedWhenRevoked oversubscribes one agent
			// for its own run; no other scenario sees revocable resources.
			RevocablePods: true,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "conformance: bring up a local cluster:", err)
			return 1
		}
		klog.InfoS("Local cluster up", "took", time.Since(start).Round(time.Millisecond), "dir", c.Dir)
		defer func() {
			dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer dcancel()
			if err := c.Down(dctx); err != nil {
				fmt.Fprintln(os.Stderr, "conformance: tear down:", err)
			}
			_ = os.RemoveAll(c.Dir)
		}()
		cluster.kubeconfig, cluster.mesosMaster, cluster.local = c.Kubeconfig, c.MesosMaster, true
		cluster.network, cluster.hosts, cluster.bridgeDebug, cluster.dev = network, c.Hosts, c.BridgeDebug, c
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance: kubeconfig:", err)
		return 1
	}
	cluster.client = kubernetes.NewForConfigOrDie(cfg)
	return m.Run()
}

// kubectl runs bin/kubectl against the cluster.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cluster.kubectl, append([]string{"--kubeconfig", cluster.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// eventually polls f until it reports done, failing the test after timeout
// with the last detail f gave.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := f()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
