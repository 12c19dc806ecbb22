package bridge

import (
	"reflect"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// agentOffer is an offer of an agent with attributes rack=r1 and a role
// that the kubelet may not set, in zone eu-1a.
func agentOffer(hostname string) (mesos.Offer, mesos.AgentInfo) {
	attrs := []mesos.Attribute{
		{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r1"}},
		{Name: "kubernetes.io/role", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "master"}},
	}
	dom := &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu"},
		Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: "eu-1a"},
	}}
	res := toMesos(offermatcher.Resources{MilliCPU: 4000, MemoryMB: 4096}, nil, "kubernetes")
	o := mesos.Offer{ID: mesos.OfferID{Value: "O-" + hostname}, AgentID: mesos.AgentID{Value: "S-" + hostname},
		FrameworkID: mesos.FrameworkID{Value: "fw"}, Hostname: hostname, Attributes: attrs, Domain: dom, Resources: res}
	info := mesos.AgentInfo{ID: &mesos.AgentID{Value: "S-" + hostname}, Hostname: hostname, Attributes: attrs, Domain: dom, Resources: res}
	return o, info
}

func selectorPod(name string, selector map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
	}
}

// TestPlacementOffersCarryTheNodesLabels: the labels the bridge places pods
// by are the ones the executor of the same agent registers (podtask), so the
// selectors charts carry (kubernetes.io/os: linux, arch, hostname, zone)
// match, and a restricted attribute, which the Node will not have, does not.
func TestPlacementOffersCarryTheNodesLabels(t *testing.T) {
	o, info := agentOffer("Agent-1")
	s := &Scheduler{executor: ExecutorSpec{Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 64}}}
	offers := s.placementOffers([]mesos.Offer{o})
	want, _ := podtask.NodeLabels(podtask.AgentOfInfo(&info))
	if len(offers) != 1 || !reflect.DeepEqual(offers[0].Labels, want) {
		t.Fatalf("placement labels %v, want the executor's %v", offers[0].Labels, want)
	}
	if offers[0].NodeName != "agent-1" {
		t.Fatalf("node name %q, want agent-1", offers[0].NodeName)
	}

	min := offermatcher.Resources{MilliCPU: 10, MemoryMB: 16}
	tests := []struct {
		selector map[string]string
		fits     bool
	}{
		{map[string]string{corev1.LabelOSStable: "linux"}, true},
		{map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}, true},
		{map[string]string{"beta.kubernetes.io/os": "linux"}, true},
		{map[string]string{corev1.LabelHostname: "agent-1", corev1.LabelTopologyZone: "eu-1a", "rack": "r1"}, true},
		{map[string]string{corev1.LabelOSStable: "windows"}, false},
		{map[string]string{"kubernetes.io/role": "master"}, false},
	}
	for _, tc := range tests {
		plan := offermatcher.Match([]offermatcher.PodRequest{offermatcher.FromPod(selectorPod("p", tc.selector), min)}, offers)
		if placed := len(plan.Assignments) == 1; placed != tc.fits {
			t.Errorf("selector %v: placed %v, want %v (unplaced %v)", tc.selector, placed, tc.fits, plan.Unplaced)
		}
		if !tc.fits && (len(plan.Unplaced) != 1 || plan.Unplaced[0].Reasons.String() != "0/1 offers fit: 1 node selector mismatch") {
			t.Errorf("selector %v: reasons %v", tc.selector, plan.Unplaced)
		}
	}
}

type taintedNodes map[string][]corev1.Taint

func (n taintedNodes) Taints(name string) []corev1.Taint { return n[name] }

// TestPlacementOffersCarryNodeTaints: offers carry their Node's taints; on
// an agent where the executor does not run, the not-ready and unreachable
// taints of the Node left by a previous executor are dropped (a launch there
// brings a new node up), while cordon and user taints stay.
func TestPlacementOffersCarryNodeTaints(t *testing.T) {
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	cordon := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	nodes := taintedNodes{"agent-1": {notReady, cordon, unreachable}}
	s := &Scheduler{nodes: nodes}
	o, _ := agentOffer("agent-1")
	if got := s.placementOffers([]mesos.Offer{o})[0].Taints; !reflect.DeepEqual(got, []corev1.Taint{cordon}) {
		t.Errorf("no executor: taints %v, want only the cordon", got)
	}
	if len(nodes["agent-1"]) != 3 {
		t.Errorf("the mirror's taints were modified: %v", nodes["agent-1"])
	}
	o.ExecutorIDs = []mesos.ExecutorID{{Value: s.executor.ID()}}
	if got := s.placementOffers([]mesos.Offer{o})[0].Taints; !reflect.DeepEqual(got, nodes["agent-1"]) {
		t.Errorf("executor running: taints %v, want all of %v", got, nodes["agent-1"])
	}
	other, _ := agentOffer("agent-2")
	if got := s.placementOffers([]mesos.Offer{other})[0].Taints; got != nil {
		t.Errorf("agent without a Node: taints %v", got)
	}
}
