package node

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

func testConfig() Config {
	return Config{
		NodeName: "agent-1", NodeIP: "10.200.0.2", PodCIDR: "10.244.1.0/24",
		StateDir: "/var/lib/kubemesos", CNIConfDir: "/etc/cni/net.d", CNIBinDir: "/usr/lib/cni", BinDir: "/opt/bin",
		Kubeconfig: "/etc/km/node.kubeconfig", ProxyKubeconfig: "/etc/km/proxy.kubeconfig", ClientCA: "/etc/km/ca.crt",
		CRISocket: "unix:///run/kubemesos/agent-1/containerd.sock", CgroupRoot: "/kubemesos/agent-1",
		Labels:    map[string]string{"rack": "r1", "zone": "z1"},
		Resources: Resources{CPUs: 1.5, MemMiB: 2048}, LogDir: "/sandbox",
	}
}

func TestCNIConfList(t *testing.T) {
	c := testConfig()
	b, err := CNIConfList(c)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string           `json:"cniVersion"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("conflist is not JSON: %v\n%s", err, b)
	}
	if len(got.Plugins) != 2 || got.Plugins[0]["type"] != "bridge" || got.Plugins[1]["type"] != "portmap" {
		t.Fatalf("plugins = %v, want bridge then portmap", got.Plugins)
	}
	br := got.Plugins[0]
	for k, want := range map[string]any{"isGateway": true, "ipMasq": false, "bridge": c.BridgeName()} {
		if br[k] != want {
			t.Errorf("bridge %s = %v, want %v", k, br[k], want)
		}
	}
	if br["hairpinMode"] == true && br["promiscMode"] == true {
		t.Error("the bridge plugin refuses hairpinMode and promiscMode together")
	}
	ipam := br["ipam"].(map[string]any)
	if ipam["type"] != "host-local" || ipam["dataDir"] != "/var/lib/kubemesos/agent-1/cni" {
		t.Errorf("ipam = %v", ipam)
	}
	if subnet := ipam["ranges"].([]any)[0].([]any)[0].(map[string]any)["subnet"]; subnet != c.PodCIDR {
		t.Errorf("subnet = %v, want %s", subnet, c.PodCIDR)
	}
	if caps := got.Plugins[1]["capabilities"].(map[string]any); caps["portMappings"] != true {
		t.Errorf("portmap capabilities = %v", caps)
	}
}

func TestBridgeNameIsShortAndPerNode(t *testing.T) {
	a, b := testConfig(), testConfig()
	b.NodeName = "agent-2"
	if a.BridgeName() == b.BridgeName() {
		t.Errorf("two nodes share bridge %s", a.BridgeName())
	}
	if n := len(a.BridgeName()); n > 15 {
		t.Errorf("bridge name %q is %d bytes, Linux allows 15", a.BridgeName(), n)
	}
}

func TestKubeletConfiguration(t *testing.T) {
	c := testConfig()
	c.TLSCertFile, c.TLSKeyFile = "/etc/km/kubelet.crt", "/etc/km/kubelet.key"
	c.ClusterDNS, c.ClusterDomain = []string{"10.96.0.10"}, "cluster.local"
	b, err := KubeletConfigYAML(c, Host{CPUs: 2, MemMiB: 24000})
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict(b, &kc); err != nil {
		t.Fatalf("generated config does not parse strictly: %v\n%s", err, b)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"kind", kc.Kind, "KubeletConfiguration"},
		{"apiVersion", kc.APIVersion, "kubelet.config.k8s.io/v1beta1"},
		{"failCgroupV1", *kc.FailCgroupV1, false},
		{"cgroupDriver", kc.CgroupDriver, "cgroupfs"},
		{"cgroupRoot", kc.CgroupRoot, "/kubemesos/agent-1"},
		{"cgroupsPerQOS", *kc.CgroupsPerQOS, true},
		{"enforceNodeAllocatable", kc.EnforceNodeAllocatable, []string{"pods"}},
		{"failSwapOn", *kc.FailSwapOn, false},
		{"readOnlyPort", kc.ReadOnlyPort, int32(0)},
		{"anonymous", *kc.Authentication.Anonymous.Enabled, false},
		{"webhook authn", *kc.Authentication.Webhook.Enabled, true},
		{"clientCAFile", kc.Authentication.X509.ClientCAFile, "/etc/km/ca.crt"},
		{"authz", kc.Authorization.Mode, kubeletv1beta1.KubeletAuthorizationModeWebhook},
		{"evictionHard", kc.EvictionHard, map[string]string{"memory.available": "0%", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}},
		{"imageGC high", *kc.ImageGCHighThresholdPercent, int32(100)},
		{"imageGC low", *kc.ImageGCLowThresholdPercent, int32(99)},
		{"runtime", kc.ContainerRuntimeEndpoint, c.CRISocket},
		{"podLogsDir", kc.PodLogsDir, "/var/lib/kubemesos/agent-1/pod-logs"},
		{"registerNode", *kc.RegisterNode, true},
		{"tlsCertFile", kc.TLSCertFile, "/etc/km/kubelet.crt"},
		{"tlsPrivateKeyFile", kc.TLSPrivateKeyFile, "/etc/km/kubelet.key"},
		{"clusterDNS", kc.ClusterDNS, []string{"10.96.0.10"}},
		{"clusterDomain", kc.ClusterDomain, "cluster.local"},
		// 2 CPUs − 1.5 = 500m; 24000 MiB − 2048 = 21952Mi (no memory eviction threshold).
		{"systemReserved", kc.SystemReserved, map[string]string{"cpu": "500m", "memory": "21952Mi"}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestReserved(t *testing.T) {
	tests := []struct {
		name  string
		host  Host
		agent Resources
		want  map[string]string
	}{
		{"agent smaller than host", Host{CPUs: 4, MemMiB: 8192}, Resources{CPUs: 2, MemMiB: 4096},
			map[string]string{"cpu": "2000m", "memory": "4096Mi"}},
		{"fractional cpus", Host{CPUs: 2, MemMiB: 1024}, Resources{CPUs: 0.25}, map[string]string{"cpu": "1750m"}},
		// MemTotal 24683584 kB: the host is 24105.0625 MiB; 1024 MiB for pods leaves 23081.0625 MiB reserved.
		{"host memory not a whole MiB", Host{CPUs: 2, MemMiB: 24683584.0 / 1024}, Resources{MemMiB: 1024},
			map[string]string{"memory": "23635008Ki"}},
		{"agent equal to host reserves nothing", Host{CPUs: 2, MemMiB: 4096}, Resources{CPUs: 2, MemMiB: 4096}, nil},
		{"over-declared agent reserves nothing", Host{CPUs: 2, MemMiB: 1024}, Resources{CPUs: 8, MemMiB: 65536}, nil},
		{"undeclared resources are not reserved", Host{CPUs: 2, MemMiB: 1024}, Resources{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reserved(tc.host, tc.agent); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reserved = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKubeletArgs(t *testing.T) {
	got := strings.Join(KubeletArgs(testConfig()), " ")
	for _, want := range []string{
		"--config=/var/lib/kubemesos/agent-1/kubelet-config.yaml", "--kubeconfig=/etc/km/node.kubeconfig",
		"--hostname-override=agent-1", "--node-ip=10.200.0.2", "--root-dir=/var/lib/kubemesos/agent-1/kubelet",
		"--node-labels=rack=r1,zone=z1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("kubelet args %q lack %q", got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		errSub string
	}{
		{"valid", func(*Config) {}, ""},
		{"loopback node IP", func(c *Config) { c.NodeIP = "127.0.0.1" }, "loopback"},
		{"bad CIDR", func(c *Config) { c.PodCIDR = "10.0.0.0" }, "pod CIDR"},
		{"relative state dir", func(c *Config) { c.StateDir = "state" }, "absolute"},
		{"relative cgroup root", func(c *Config) { c.CgroupRoot = "km" }, "cgroup root"},
		{"no client CA", func(c *Config) { c.ClientCA = "" }, "client CA"},
		{"no kube-proxy kubeconfig", func(c *Config) { c.ProxyKubeconfig = "" }, "kube-proxy kubeconfig"},
		{"bad cluster CIDR", func(c *Config) { c.ClusterCIDR = "10.244.0.0" }, "cluster CIDR"},
		{"cluster CIDR set", func(c *Config) { c.ClusterCIDR = "10.244.0.0/16" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mutate(&c)
			err := c.Validate()
			if (err == nil) != (tc.errSub == "") || (err != nil && !strings.Contains(err.Error(), tc.errSub)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tc.errSub)
			}
		})
	}
}

func TestParseCgroupMounts(t *testing.T) {
	in := `25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 25 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
`
	got, err := parseCgroupMounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupMount{
		{Path: "/sys/fs/cgroup/unified", V2: true},
		{Path: "/sys/fs/cgroup/systemd", Controllers: []string{"xattr", "name=systemd"}},
		{Path: "/sys/fs/cgroup/cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}},
		{Path: "/sys/fs/cgroup/cpuset", Controllers: []string{"cpuset"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts = %+v, want %+v", got, want)
	}
}

// TestEnsureCgroupRootV1 uses plain directories shaped like v1 hierarchies:
// a new cpuset cgroup starts with empty cpuset files, as the kernel makes it.
func TestEnsureCgroupRootV1(t *testing.T) {
	base := t.TempDir()
	cpuset, memory := filepath.Join(base, "cpuset"), filepath.Join(base, "memory")
	for _, d := range []string{cpuset, memory} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cpuset, "cpuset.cpus"), "0-1\n")
	write(filepath.Join(cpuset, "cpuset.mems"), "0\n")
	// Pre-create the intermediate and leaf cgroups' empty files as the kernel would.
	for _, d := range []string{"km", "km/n1"} {
		if err := os.MkdirAll(filepath.Join(cpuset, d), 0o755); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(cpuset, d, "cpuset.cpus"), "")
		write(filepath.Join(cpuset, d, "cpuset.mems"), "")
	}
	mounts := []CgroupMount{{Path: cpuset, Controllers: []string{"cpuset"}}, {Path: memory, Controllers: []string{"memory"}}}
	if err := EnsureCgroupRoot(mounts, "/km/n1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(cpuset, "km/n1/cpuset.cpus")); string(b) != "0-1\n" {
		t.Errorf("leaf cpuset.cpus = %q, want copied from the root", b)
	}
	if b, _ := os.ReadFile(filepath.Join(cpuset, "km/n1/cpuset.mems")); string(b) != "0\n" {
		t.Errorf("leaf cpuset.mems = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(memory, "km/n1")); err != nil || !fi.IsDir() {
		t.Errorf("memory cgroup root not created: %v", err)
	}
	if err := RemoveCgroupRoot(mounts, "/km/n1"); err != nil {
		// Plain directories with files cannot be rmdir'ed; cgroup dirs can. Only the memory one is empty here.
		t.Logf("remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(memory, "km/n1")); !os.IsNotExist(err) {
		t.Errorf("memory cgroup root still there: %v", err)
	}
}

func TestWriteCNIConfig(t *testing.T) {
	c := testConfig()
	c.StateDir, c.CNIConfDir = t.TempDir(), t.TempDir()
	if err := WriteCNIConfig(c); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.CNIConfDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "10-kubemesos.conflist,99-loopback.conf" {
		t.Errorf("CNI dir holds %v", names)
	}
	if fi, err := os.Stat(c.IPAMDataDir()); err != nil || !fi.IsDir() {
		t.Errorf("IPAM data dir: %v", err)
	}
}

// TestNoCgroupMountsSaysWhy: without cgroup hierarchies (an agent under
// `ip netns exec`) the error tells the operator what the executor needs.
func TestNoCgroupMountsSaysWhy(t *testing.T) {
	err := EnsureCgroupRoot(nil, "/kubemesos/node-1")
	if !errors.Is(err, ErrNoCgroupMounts) {
		t.Fatalf("EnsureCgroupRoot without mounts = %v, want ErrNoCgroupMounts", err)
	}
	for _, want := range []string{"/sys/fs/cgroup", "ip netns exec", "nsenter --net="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
