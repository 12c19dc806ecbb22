package offermatcher

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const zoneKey = corev1.LabelTopologyZone

// web is a replica of app=web that repels its own kind on key.
func web(name, key string) *podBuilder {
	return makePod(name).Container("100m", "64Mi").Labels("app", "web").PodAntiAffinity(podTerm(key, "app", "web"))
}

func TestInterPodAffinity(t *testing.T) {
	offers := func() []Offer {
		return []Offer{
			makeOffer("o1").Res(4000, 4096).Attr(zoneKey, "a").Obj(),
			makeOffer("o2").Res(4000, 4096).Attr(zoneKey, "b").Obj(),
		}
	}
	db := makePod("db").Labels("app", "db").Obj()
	tests := []struct {
		name    string
		cluster Cluster
		pods    []PodRequest
		offers  []Offer
		want    map[string]string // pod key → offer ID or reasons text
	}{
		{"anti-affinity spreads replicas of one batch over the agents; a third stays out",
			Cluster{},
			[]PodRequest{req(web("w1", corev1.LabelHostname).Obj()), req(web("w2", corev1.LabelHostname).Obj()), req(web("w3", corev1.LabelHostname).Obj())},
			offers(),
			map[string]string{"default/w1": "o1", "default/w2": "o2", "default/w3": "0/2 offers fit: 2 didn't match pod anti-affinity rules"}},
		{"anti-affinity counts pods already on a node",
			Cluster{Pods: []PlacedPod{placed(makePod("old").Labels("app", "web").Obj(), "host-o2")}},
			[]PodRequest{req(web("w1", corev1.LabelHostname).Obj())},
			offers(),
			map[string]string{"default/w1": "o1"}},
		{"anti-affinity over zones counts a node that has no offer",
			Cluster{Nodes: []Node{{Name: "idle", Labels: map[string]string{zoneKey: "a"}}},
				Pods: []PlacedPod{placed(makePod("old").Labels("app", "web").Obj(), "idle")}},
			[]PodRequest{req(web("w1", zoneKey).Obj())},
			offers(),
			map[string]string{"default/w1": "o2"}},
		{"an existing pod's anti-affinity repels a pod it matches (symmetry)",
			Cluster{Pods: []PlacedPod{placed(makePod("old").PodAntiAffinity(podTerm(zoneKey, "tier", "cache")).Obj(), "host-o1")}},
			[]PodRequest{req(makePod("c1").Labels("tier", "cache").Obj()), req(makePod("c2").Labels("tier", "cache").NodeSelector(zoneKey, "a").Obj())},
			offers(),
			map[string]string{"default/c1": "o2", "default/c2": "0/2 offers fit: 1 didn't satisfy existing pods anti-affinity rules, 1 node selector mismatch"}},
		{"a pod of another namespace is not matched by a term without namespaces",
			Cluster{Pods: []PlacedPod{placed(makePod("old").Namespace("other").Labels("app", "web").Obj(), "host-o1")}},
			[]PodRequest{req(web("w1", corev1.LabelHostname).NodeSelector(zoneKey, "a").Obj())},
			offers(),
			map[string]string{"default/w1": "o1"}},
		{"namespaces name the namespaces a term matches pods in",
			Cluster{Pods: []PlacedPod{placed(makePod("old").Namespace("other").Labels("app", "web").Obj(), "host-o1")}},
			[]PodRequest{req(makePod("w1").Labels("app", "web").NodeSelector(zoneKey, "a").
				PodAntiAffinity(corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: labelSelector("app", "web"), Namespaces: []string{"other"}}).Obj())},
			offers(),
			map[string]string{"default/w1": "0/2 offers fit: 1 didn't match pod anti-affinity rules, 1 node selector mismatch"}},
		{"a namespace selector matches the namespaces' labels",
			Cluster{NamespaceLabels: map[string]map[string]string{"other": {"team": "x"}},
				Pods: []PlacedPod{placed(makePod("old").Namespace("other").Labels("app", "web").Obj(), "host-o1"),
					placed(makePod("old").Namespace("plain").Labels("app", "web").Obj(), "host-o2")}},
			[]PodRequest{req(makePod("w1").Labels("app", "web").
				PodAntiAffinity(corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: labelSelector("app", "web"), NamespaceSelector: labelSelector("team", "x")}).Obj())},
			offers(),
			map[string]string{"default/w1": "o2"}},
		{"an empty namespace selector matches every namespace; a namespace has its name as a label",
			Cluster{Pods: []PlacedPod{placed(makePod("old").Namespace("plain").Labels("app", "web").Obj(), "host-o2")}},
			[]PodRequest{
				req(makePod("w1").Labels("app", "web").PodAntiAffinity(corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname,
					LabelSelector: labelSelector("app", "web"), NamespaceSelector: &metav1.LabelSelector{}}).Obj()),
				req(makePod("w2").Labels("app", "other").PodAntiAffinity(corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname,
					LabelSelector: labelSelector("app", "web"), NamespaceSelector: labelSelector(corev1.LabelMetadataName, "plain")}).Obj()),
			},
			offers(),
			map[string]string{"default/w1": "o1", "default/w2": "o1"}},
		{"affinity goes to the zone of a matching pod",
			Cluster{Pods: []PlacedPod{placed(db, "host-o2")}},
			[]PodRequest{req(makePod("app").PodAffinity(podTerm(zoneKey, "app", "db")).Obj())},
			offers(),
			map[string]string{"default/app": "o2"}},
		{"affinity without a matching pod anywhere fits nowhere",
			Cluster{},
			[]PodRequest{req(makePod("app").PodAffinity(podTerm(zoneKey, "app", "db")).Obj())},
			offers(),
			map[string]string{"default/app": "0/2 offers fit: 2 didn't match pod affinity rules"}},
		{"the first of a group attracting itself fits, the rest follow it",
			Cluster{},
			[]PodRequest{
				req(makePod("g1").Labels("group", "g").PodAffinity(podTerm(zoneKey, "group", "g")).Obj()),
				req(makePod("g2").Labels("group", "g").PodAffinity(podTerm(zoneKey, "group", "g")).NodeSelector(zoneKey, "b").Obj()),
				req(makePod("g3").Labels("group", "g").PodAffinity(podTerm(zoneKey, "group", "g")).Obj()),
			},
			offers(),
			map[string]string{"default/g1": "o1", "default/g2": "0/2 offers fit: 1 didn't match pod affinity rules, 1 node selector mismatch", "default/g3": "o1"}},
		{"affinity needs the topology key on the node",
			Cluster{Pods: []PlacedPod{placed(db, "host-o1")}},
			[]PodRequest{req(makePod("app").PodAffinity(podTerm("rack", "app", "db")).Obj())},
			[]Offer{makeOffer("o1").Res(4000, 4096).Obj()},
			map[string]string{"default/app": "0/1 offers fit: 1 didn't match pod affinity rules"}},
		{"a pod matching some but not all affinity terms does not count",
			Cluster{Pods: []PlacedPod{placed(db, "host-o1")}},
			[]PodRequest{req(makePod("app").PodAffinity(podTerm(zoneKey, "app", "db")).PodAffinity(podTerm(zoneKey, "tier", "x")).Obj())},
			offers(),
			map[string]string{"default/app": "0/2 offers fit: 2 didn't match pod affinity rules"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := tc.cluster.Match(tc.pods, tc.offers)
			if got := outcomes(plan); !equalMaps(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestExplainNamesEachOffersReason: with Explain, an unplaced pod carries
// the reason of every offer, in the offers' order.
func TestExplainNamesEachOffersReason(t *testing.T) {
	offers := []Offer{
		makeOffer("o1").Res(50, 4096).Obj(),
		makeOffer("o2").Res(4000, 4096).Obj(),
	}
	c := Cluster{Explain: true, Pods: []PlacedPod{placed(makePod("old").Labels("app", "web").Obj(), "host-o2")}}
	plan := c.Match([]PodRequest{req(web("w1", corev1.LabelHostname).Obj())}, offers)
	if len(plan.Unplaced) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	got := plan.Unplaced[0].ByOffer
	if len(got) != 2 || got[0] != InsufficientCPU || got[1] != PodAntiAffinityMismatch {
		t.Fatalf("ByOffer = %v", got)
	}
}

// TestInterPodChecksAllocateNothing: the per-offer check of a pod with
// required affinity, anti-affinity and spread allocates nothing.
func TestInterPodChecksAllocateNothing(t *testing.T) {
	offers := []Offer{
		makeOffer("o1").Res(4000, 4096).Attr(zoneKey, "a").Obj(),
		makeOffer("o2").Res(4000, 4096).Attr(zoneKey, "b").Obj(),
	}
	c := Cluster{Pods: []PlacedPod{
		placed(makePod("db").Labels("app", "db").Obj(), "host-o1"),
		placed(makePod("old").PodAntiAffinity(podTerm(corev1.LabelHostname, "app", "web")).Obj(), "host-o2"),
	}}
	pod := req(web("w", zoneKey).PodAffinity(podTerm(zoneKey, "app", "db")).
		Spread(corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: labelSelector("app", "web")}).Obj())
	topo := newTopology(offers, &c)
	var p podState
	p.prepare(&pod, topo)
	book := make([]offerState, len(offers))
	for i := range offers {
		n := topo.byName[offers[i].NodeName]
		book[i] = offerState{offer: &offers[i], nodeIdx: n, cpu: 4000, mem: 4096}
	}
	if _, ok := p.fits(&book[0]); !ok {
		t.Fatal("o1 should fit")
	}
	if r, ok := p.fits(&book[1]); ok || r != reasonPodAffinity {
		t.Fatalf("o2: %v %v", r, ok)
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := range book {
			p.fits(&book[i])
		}
	}); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
