package kubeletexecutor

import (
	"errors"
	"maps"
	"reflect"
	"runtime"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/podtask"
)

// registered is what the kubelet registers its Node with, given the
// executor's node config: its own hostname, os and arch labels
// (initialNode), then --node-labels on top.
func registered(nodeName string, nodeLabels map[string]string) map[string]string {
	out := map[string]string{
		"kubernetes.io/hostname": nodeName,
		"kubernetes.io/os":       runtime.GOOS, "kubernetes.io/arch": runtime.GOARCH,
		"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
	}
	maps.Copy(out, nodeLabels)
	return out
}

// TestNodeConfigRegistersTheLabelsTheBridgeMatched: the Node the executor's
// kubelet registers for an agent has exactly the labels the bridge derives
// from an offer of the same agent; restricted, invalid and kubelet-owned
// attributes are not passed to the kubelet.
func TestNodeConfigRegistersTheLabelsTheBridgeMatched(t *testing.T) {
	text := func(n, v string) mesos.Attribute {
		return mesos.Attribute{Name: n, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: v}}
	}
	attrs := []mesos.Attribute{
		text("rack", "r1"), text("kubernetes.io/arch", runtime.GOARCH),
		text("kubernetes.io/role", "master"), text("bad key!", "x"), text("kubernetes.io/hostname", "other"),
	}
	dom := &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu"},
		Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: "eu-1a"},
	}}
	info := mesos.AgentInfo{ID: &mesos.AgentID{Value: "S1"}, Hostname: "Agent-1", Attributes: attrs, Domain: dom}
	offer := mesos.Offer{ID: mesos.OfferID{Value: "O1"}, AgentID: mesos.AgentID{Value: "S1"}, Hostname: "Agent-1",
		Attributes: attrs, Domain: dom}

	s := Settings{
		Kubeconfig: "/k", ProxyKubeconfig: "/k", ClientCA: "/ca", PodCIDR: "10.244.1.0/24",
		CNIConfDir: "/etc/cni/net.d", StateDir: "/var/lib/kubemesos", NodeIP: "10.0.0.2",
	}
	cfg, err := NodeConfig(t.Context(), s, info, node.Resources{CPUs: 1, MemMiB: 512})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "agent-1" {
		t.Errorf("node name %q, want the kubelet's canonical agent-1", cfg.NodeName)
	}
	for k := range cfg.Labels {
		if podtask.SetByKubelet(k) {
			t.Errorf("--node-labels carries %s, which the kubelet sets itself", k)
		}
	}
	bridge, _ := podtask.NodeLabels(podtask.AgentOfOffer(&offer))
	if got := registered(cfg.NodeName, cfg.Labels); !reflect.DeepEqual(got, bridge) {
		t.Fatalf("the Node will carry\n %v\nthe bridge matched pods against\n %v", got, bridge)
	}
	for _, k := range []string{"kubernetes.io/role", "bad key!"} {
		if _, ok := cfg.Labels[k]; ok {
			t.Errorf("%s passed to the kubelet", k)
		}
	}
}

func TestNodeConfigRefusesAnotherPlatform(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	info := mesos.AgentInfo{Hostname: "a", Attributes: []mesos.Attribute{
		{Name: "kubernetes.io/arch", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: other}}}}
	if _, err := nodeLabels(t.Context(), info, runtime.GOOS, runtime.GOARCH); !errors.Is(err, podtask.ErrPlatformMismatch) {
		t.Fatalf("agent declaring %s on a %s host: %v, want ErrPlatformMismatch", other, runtime.GOARCH, err)
	}
	if _, err := nodeLabels(t.Context(), mesos.AgentInfo{Hostname: "a"}, "linux", "amd64"); err != nil {
		t.Fatalf("default platform on linux/amd64: %v", err)
	}
}
