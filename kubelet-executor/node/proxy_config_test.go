package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/kubemesos/kubemesos/internal/bindir"
)

func TestKubeProxyConfiguration(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(*Config)
		clusterCIDR string
		healthz     string
	}{
		{"no cluster CIDR", func(*Config) {}, "", "10.200.0.2:10256"},
		{"cluster CIDR", func(c *Config) { c.ClusterCIDR = "10.244.0.0/16" }, "10.244.0.0/16", "10.200.0.2:10256"},
		{"IPv6 node", func(c *Config) { c.NodeIP = "fd00::2" }, "", "[fd00::2]:10256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mutate(&c)
			b, err := KubeProxyConfigYAML(c)
			if err != nil {
				t.Fatal(err)
			}
			var pc kubeproxyv1alpha1.KubeProxyConfiguration
			if err := yaml.UnmarshalStrict(b, &pc); err != nil {
				t.Fatalf("generated config does not parse strictly: %v\n%s", err, b)
			}
			checks := []struct {
				name string
				got  any
				want any
			}{
				{"kind", pc.Kind, "KubeProxyConfiguration"},
				{"apiVersion", pc.APIVersion, "kubeproxy.config.k8s.io/v1alpha1"},
				{"mode", string(pc.Mode), "iptables"},
				{"kubeconfig", pc.ClientConnection.Kubeconfig, "/etc/km/proxy.kubeconfig"},
				{"hostnameOverride", pc.HostnameOverride, "agent-1"},
				{"bindAddress", pc.BindAddress, c.NodeIP},
				{"healthzBindAddress", pc.HealthzBindAddress, tc.healthz},
				{"metricsBindAddress", pc.MetricsBindAddress, "127.0.0.1:10249"},
				{"clusterCIDR", pc.ClusterCIDR, tc.clusterCIDR},
				{"detectLocalMode", string(pc.DetectLocalMode), "ClusterCIDR"},
				// Global sysctls a network namespace cannot set: leave them.
				{"conntrack maxPerCore", pc.Conntrack.MaxPerCore != nil && *pc.Conntrack.MaxPerCore == 0, true},
				{"conntrack established timeout", pc.Conntrack.TCPEstablishedTimeout != nil &&
					pc.Conntrack.TCPEstablishedTimeout.Duration == 0, true},
				{"conntrack close-wait timeout", pc.Conntrack.TCPCloseWaitTimeout != nil &&
					pc.Conntrack.TCPCloseWaitTimeout.Duration == 0, true},
				{"conntrack be liberal", pc.Conntrack.TCPBeLiberal, false},
				{"conntrack udp timeout", pc.Conntrack.UDPTimeout.Duration, time.Duration(0)},
				// NodePorts on the node IP only, no route_localnet=1.
				{"nodePortAddresses", pc.NodePortAddresses, []string{"primary"}},
				{"localhostNodePorts", pc.IPTables.LocalhostNodePorts != nil && !*pc.IPTables.LocalhostNodePorts, true},
				// Unset so kube-proxy applies its defaults.
				{"iptables syncPeriod", pc.IPTables.SyncPeriod.Duration, time.Duration(0)},
				{"oomScoreAdj", pc.OOMScoreAdj, (*int32)(nil)},
			}
			for _, ch := range checks {
				if !reflect.DeepEqual(ch.got, ch.want) {
					t.Errorf("%s = %#v, want %#v\n%s", ch.name, ch.got, ch.want, b)
				}
			}
		})
	}
}

func TestKubeProxyArgs(t *testing.T) {
	c := testConfig()
	got := KubeProxyArgs(c)
	want := []string{"--config=/var/lib/kubemesos/agent-1/kube-proxy-config.yaml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kube-proxy args = %q, want %q", got, want)
	}
	p := KubeProxy(c)
	if p.Path != "/opt/bin/kube-proxy" || p.LogPath != "/sandbox/kube-proxy.log" {
		t.Errorf("kube-proxy process = %s logging to %s", p.Path, p.LogPath)
	}
	// The node's files must not collide with the kubelet's.
	if c.ProxyConfigPath() == c.KubeletConfigPath() || !strings.HasPrefix(c.ProxyConfigPath(), c.NodeDir()+"/") {
		t.Errorf("proxy config path %s", c.ProxyConfigPath())
	}
}

// TestKubeProxyAcceptsConfig has the real kube-proxy load, default and
// validate the generated config (--write-config-to writes the result and exits
// before touching any rule or the API server).
func TestKubeProxyAcceptsConfig(t *testing.T) {
	dir, err := bindir.Default() // KUBEMESOS_BIN_DIR, else the repository's bin/
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kube-proxy")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(bindir.RequireEnv) == "1" {
			t.Fatalf("kube-proxy binary: %v", err)
		}
		t.Skipf("no kube-proxy (hack/build-tools.sh builds it): %v", err)
	}
	c := testConfig()
	c.StateDir, c.ClusterCIDR = t.TempDir(), "10.244.0.0/16"
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
	out := filepath.Join(t.TempDir(), "effective.yaml")
	cmd := exec.CommandContext(t.Context(), bin, append(KubeProxyArgs(c), "--write-config-to="+out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kube-proxy refuses the config: %v\n%s\n%s", err, msg, b)
	}
	eb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var eff kubeproxyv1alpha1.KubeProxyConfiguration
	if err := yaml.UnmarshalStrict(eb, &eff); err != nil {
		t.Fatalf("effective config: %v\n%s", err, eb)
	}
	// What kube-proxy runs with after its defaulting: no conntrack sysctl,
	// no route_localnet, its own sync periods.
	if *eff.Conntrack.MaxPerCore != 0 || eff.Conntrack.TCPEstablishedTimeout.Duration != 0 ||
		eff.Conntrack.TCPCloseWaitTimeout.Duration != 0 {
		t.Errorf("effective conntrack = %+v, want every setting left alone", eff.Conntrack)
	}
	if *eff.IPTables.LocalhostNodePorts || eff.IPTables.SyncPeriod.Duration == 0 {
		t.Errorf("effective iptables = %+v", eff.IPTables)
	}
	if !reflect.DeepEqual(eff.NodePortAddresses, []string{"primary"}) {
		t.Errorf("effective nodePortAddresses = %q", eff.NodePortAddresses)
	}
	if eff.Mode != "iptables" || eff.ClusterCIDR != c.ClusterCIDR || eff.HostnameOverride != c.NodeName {
		t.Errorf("effective config changed: mode %q clusterCIDR %q hostname %q", eff.Mode, eff.ClusterCIDR, eff.HostnameOverride)
	}
}
