package podtask

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func text(n, v string) mesos.Attribute {
	return mesos.Attribute{Name: n, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: v}}
}

func scalar(n string, v float64) mesos.Attribute {
	return mesos.Attribute{Name: n, Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: v}}
}

func domain(region, zone string) *mesos.DomainInfo {
	return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: region},
		Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone},
	}}
}

func TestNodeLabels(t *testing.T) {
	tests := []struct {
		name        string
		agent       Agent
		want        map[string]string
		wantSkipped map[string]string // name → reason
	}{{
		name:  "bare agent: hostname and the default platform",
		agent: Agent{Hostname: "agent-1"},
		want: map[string]string{"kubernetes.io/hostname": "agent-1",
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
	}, {
		name: "attributes, fault domain, canonical node name",
		agent: Agent{Hostname: " Agent-1.Example.COM ", Domain: domain("eu", "eu-1a"), Attributes: []mesos.Attribute{
			text("rack", "r1"),
			scalar("gpus.count", 2),
			scalar("weight", 1.5),
			text("bad key!", "x"),
			text("owner", "has spaces"),
			text("kubernetes.io/role", "master"),
			text("node-role.kubernetes.io/worker", ""),
			text("node.kubernetes.io/pool", "batch"),
			text("example.k8s.io/x", "y"),
			text("kubernetes.io/hostname", "elsewhere"),
			text("beta.kubernetes.io/arch", "s390x"),
			text("topology.kubernetes.io/zone", "overridden-by-domain"),
			{Name: "cores", Type: mesos.SET, Set: &mesos.Value_Set{Item: []string{"a"}}},
			{Name: "ports", Type: mesos.RANGES, Ranges: &mesos.Value_Ranges{}},
		}},
		want: map[string]string{"rack": "r1", "gpus.count": "2", "weight": "1.5", "node.kubernetes.io/pool": "batch",
			"topology.kubernetes.io/region": "eu", "topology.kubernetes.io/zone": "eu-1a",
			"kubernetes.io/hostname": "agent-1.example.com",
			"kubernetes.io/os":       "linux", "kubernetes.io/arch": "amd64",
			"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
		wantSkipped: map[string]string{
			"bad key!": SkipInvalidKey, "owner": SkipInvalidValue,
			"kubernetes.io/role": SkipRestricted, "node-role.kubernetes.io/worker": SkipRestricted,
			"example.k8s.io/x":       SkipRestricted,
			"kubernetes.io/hostname": SkipSetByKubelet, "beta.kubernetes.io/arch": SkipSetByKubelet,
			"cores": SkipNoSingleValue, "ports": SkipNoSingleValue,
		},
	}, {
		name: "declared platform",
		agent: Agent{Hostname: "arm-1", Attributes: []mesos.Attribute{
			text("kubernetes.io/arch", "arm64"), text("kubernetes.io/os", "linux")}},
		want: map[string]string{"kubernetes.io/hostname": "arm-1",
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64",
			"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "arm64"},
	}, {
		name: "invalid declared platform and fault domain fall back",
		agent: Agent{Hostname: "a", Domain: domain("", "not a zone!"), Attributes: []mesos.Attribute{
			text("kubernetes.io/arch", "not valid!")}},
		want: map[string]string{"kubernetes.io/hostname": "a",
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
		wantSkipped: map[string]string{"kubernetes.io/arch": SkipInvalidValue, "topology.kubernetes.io/zone": SkipInvalidValue},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := NodeLabels(tc.agent)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("labels\n got %v\nwant %v", got, tc.want)
			}
			gotSkipped := map[string]string{}
			for _, s := range skipped {
				gotSkipped[s.Name] = s.Reason
			}
			if len(gotSkipped) != len(tc.wantSkipped) || (len(tc.wantSkipped) > 0 && !reflect.DeepEqual(gotSkipped, tc.wantSkipped)) {
				t.Errorf("skipped\n got %v\nwant %v", gotSkipped, tc.wantSkipped)
			}
		})
	}
}

// oneAgent is a Mesos agent as its flags describe it; offerOf and infoOf
// render it as the master does in an offer and as the agent does in an
// executor's SUBSCRIBED event.
type oneAgent struct {
	id, hostname string
	attributes   []mesos.Attribute
	domain       *mesos.DomainInfo
	resources    []mesos.Resource
}

func (a oneAgent) offerOf() *mesos.Offer {
	return &mesos.Offer{
		ID: mesos.OfferID{Value: "O1"}, FrameworkID: mesos.FrameworkID{Value: "fw"}, AgentID: mesos.AgentID{Value: a.id},
		Hostname: a.hostname, Attributes: slices.Clone(a.attributes), Domain: a.domain, Resources: a.resources,
		ExecutorIDs: []mesos.ExecutorID{{Value: ExecutorID}},
	}
}

func (a oneAgent) infoOf() *mesos.AgentInfo {
	port := int32(5051)
	return &mesos.AgentInfo{
		ID: &mesos.AgentID{Value: a.id}, Hostname: a.hostname, Port: &port,
		Attributes: slices.Clone(a.attributes), Domain: a.domain, Resources: a.resources,
	}
}

// TestOfferAndAgentInfoOfOneAgentGiveEqualLabels: what the bridge matches a
// pod against (from an offer) is what the executor registers (from its
// AgentInfo), platform labels included, and both skip the same attributes.
func TestOfferAndAgentInfoOfOneAgentGiveEqualLabels(t *testing.T) {
	cpus := 4.0
	agents := []oneAgent{{
		id: "S1", hostname: "e2e-agent-1", attributes: []mesos.Attribute{text("rack", "r1")},
	}, {
		id: "S2", hostname: "Node-2.DC1", domain: domain("eu-west", "eu-west-1b"),
		attributes: []mesos.Attribute{
			text("rack", "r2"), scalar("generation", 7), text("kubernetes.io/arch", "arm64"),
			text("kubernetes.io/role", "master"), text("bad key!", "v"), text("team", "no spaces allowed"),
			{Name: "disks", Type: mesos.SET, Set: &mesos.Value_Set{Item: []string{"sda", "sdb"}}},
		},
		resources: []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: cpus}}},
	}}
	for _, a := range agents {
		t.Run(a.hostname, func(t *testing.T) {
			bridge, bridgeSkipped := NodeLabels(AgentOfOffer(a.offerOf()))
			executor, executorSkipped := NodeLabels(AgentOfInfo(a.infoOf()))
			if !reflect.DeepEqual(bridge, executor) {
				t.Fatalf("bridge side %v\nexecutor side %v", bridge, executor)
			}
			if !reflect.DeepEqual(bridgeSkipped, executorSkipped) {
				t.Fatalf("skipped: bridge side %v, executor side %v", bridgeSkipped, executorSkipped)
			}
			for _, key := range []string{"kubernetes.io/os", "kubernetes.io/arch", "kubernetes.io/hostname"} {
				if bridge[key] == "" {
					t.Errorf("no %s in %v", key, bridge)
				}
			}
			if bridge["rack"] == "" {
				t.Errorf("attribute rack missing from %v", bridge)
			}
			if a.domain != nil && bridge["topology.kubernetes.io/zone"] != a.domain.FaultDomain.Zone.Name {
				t.Errorf("zone %q, want %q", bridge["topology.kubernetes.io/zone"], a.domain.FaultDomain.Zone.Name)
			}
			for _, s := range executorSkipped {
				if _, ok := executor[s.Name]; ok {
					t.Errorf("skipped %s is a label", s)
				}
			}
			if len(a.attributes) > 3 && len(executorSkipped) != 4 {
				t.Errorf("want the restricted, invalid key, invalid value and set attributes skipped, got %v", executorSkipped)
			}
		})
	}
}

func TestSetByKubelet(t *testing.T) {
	labels, _ := NodeLabels(Agent{Hostname: "a", Attributes: []mesos.Attribute{text("rack", "r1")}})
	var own []string
	for k := range labels {
		if SetByKubelet(k) {
			own = append(own, k)
		}
	}
	slices.Sort(own)
	want := []string{"beta.kubernetes.io/arch", "beta.kubernetes.io/os", "kubernetes.io/arch", "kubernetes.io/hostname", "kubernetes.io/os"}
	if !slices.Equal(own, want) {
		t.Fatalf("set by the kubelet: %v, want %v", own, want)
	}
	if SetByKubelet("rack") {
		t.Fatal("an attribute label is not the kubelet's own")
	}
}

// FuzzNodeLabels: whatever an agent reports, NodeLabels returns only valid
// labels the kubelet may set, always with hostname, os and arch, and every
// attribute is either a label with its value or skipped.
func FuzzNodeLabels(f *testing.F) {
	f.Add("agent-1", "rack", "r1", 2.5, "eu", "eu-1")
	f.Add("A", "kubernetes.io/arch", "arm64", 0.0, "", "")
	f.Add("", "kubernetes.io/role", "x y", -1.0, "r!", "z")
	f.Fuzz(func(t *testing.T, host, name, value string, num float64, region, zone string) {
		a := Agent{Hostname: host, Domain: domain(region, zone),
			Attributes: []mesos.Attribute{text(name, value), scalar(name+"-n", num)}}
		labels, skipped := NodeLabels(a)
		for k, v := range labels {
			if k == "kubernetes.io/hostname" {
				continue // the kubelet's own name for itself, whatever it is
			}
			if s, bad := invalidLabel(k, v); bad {
				t.Fatalf("label the kubelet cannot register: %s", s)
			}
		}
		for _, k := range []string{"kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch"} {
			if _, ok := labels[k]; !ok {
				t.Fatalf("no %s in %v", k, labels)
			}
		}
		skippedNames := map[string]bool{}
		for _, s := range skipped {
			skippedNames[s.Name] = true
		}
		if _, labelled := labels[name]; !labelled && !skippedNames[name] {
			t.Fatalf("attribute %q neither a label nor skipped: %v %v", name, slices.Sorted(maps.Keys(labels)), skipped)
		}
	})
}
