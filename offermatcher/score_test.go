package offermatcher

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestScores(t *testing.T) {
	big := makeOffer("big").Res(16000, 16384).Attr(zoneKey, "a").Attr("disk", "hdd").Obj()
	small := makeOffer("small").Res(2000, 2048).Attr(zoneKey, "b").Attr("disk", "ssd").Obj()
	ssd := corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}
	dbInB := Cluster{Pods: []PlacedPod{placed(makePod("db").Labels("app", "db").Obj(), "host-small")}}
	tests := []struct {
		name    string
		cluster Cluster
		pods    []PodRequest
		offers  []Offer
		want    map[string]string
	}{
		{"least-allocated: the offer left emptiest",
			Cluster{}, []PodRequest{req(makePod("p").Container("100m", "64Mi").Obj())}, []Offer{small, big},
			map[string]string{"default/p": "big"}},
		{"most-allocated: the offer left fullest",
			Cluster{Scoring: MostAllocated}, []PodRequest{req(makePod("p").Container("100m", "64Mi").Obj())}, []Offer{big, small},
			map[string]string{"default/p": "small"}},
		{"preferred node affinity outweighs free resources",
			Cluster{}, []PodRequest{req(makePod("p").Container("100m", "64Mi").PreferNode(10, ssd).Obj())}, []Offer{big, small},
			map[string]string{"default/p": "small"}},
		{"preferred node affinity that no node matches changes nothing",
			Cluster{}, []PodRequest{req(makePod("p").Container("100m", "64Mi").PreferNode(10, corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gpu", Operator: corev1.NodeSelectorOpExists}}}).Obj())}, []Offer{small, big},
			map[string]string{"default/p": "big"}},
		{"preferred pod affinity: towards the zone of a matching pod",
			dbInB, []PodRequest{req(makePod("p").Container("100m", "64Mi").PreferPod(50, podTerm(zoneKey, "app", "db")).Obj())}, []Offer{big, small},
			map[string]string{"default/p": "small"}},
		{"preferred pod anti-affinity: away from it",
			dbInB, []PodRequest{req(makePod("p").Container("100m", "64Mi").PreferNode(100, ssd).PreferPod(-100, podTerm(zoneKey, "app", "db")).Obj())},
			[]Offer{small, makeOffer("other").Res(2000, 2048).Attr(zoneKey, "c").Attr("disk", "ssd").Obj()},
			map[string]string{"default/p": "other"}},
		{"a placed pod's preferred affinity draws the pods it matches (symmetry)",
			Cluster{Pods: []PlacedPod{placed(makePod("db").PreferPod(50, podTerm(zoneKey, "app", "web")).Obj(), "host-small")}},
			[]PodRequest{req(makePod("w").Container("100m", "64Mi").Labels("app", "web").Obj())}, []Offer{big, small},
			map[string]string{"default/w": "small"}},
		{"a placed pod's preferred anti-affinity pushes them away",
			Cluster{Pods: []PlacedPod{placed(makePod("db").PreferPod(-50, podTerm(zoneKey, "app", "web")).Obj(), "host-big")}},
			[]PodRequest{req(makePod("w").Container("100m", "64Mi").Labels("app", "web").PreferNode(100, ssd).Obj())},
			[]Offer{big, makeOffer("other").Res(16000, 16384).Attr(zoneKey, "c").Obj()},
			map[string]string{"default/w": "other"}},
		{"a placed pod's required affinity draws them with weight 1",
			Cluster{Pods: []PlacedPod{placed(makePod("db").PodAffinity(podTerm(zoneKey, "app", "web")).Obj(), "host-o2")}},
			[]PodRequest{req(makePod("w").Container("100m", "64Mi").Labels("app", "web").Obj())},
			[]Offer{makeOffer("o1").Res(4000, 4096).Attr(zoneKey, "a").Obj(), makeOffer("o2").Res(4000, 4096).Attr(zoneKey, "b").Obj()},
			map[string]string{"default/w": "o2"}},
		{"a pod of this plan draws the later ones too",
			Cluster{}, []PodRequest{
				req(makePod("db").Container("100m", "64Mi").NodeSelector(zoneKey, "b").PreferPod(50, podTerm(zoneKey, "app", "web")).Obj()),
				req(makePod("w").Container("100m", "64Mi").Labels("app", "web").Obj()),
			}, []Offer{big, small},
			map[string]string{"default/db": "small", "default/w": "small"}},
		{"preferred pod affinity counts the pods of this plan",
			Cluster{}, []PodRequest{
				req(makePod("db").Container("100m", "64Mi").Labels("app", "db").NodeSelector(zoneKey, "b").Obj()),
				req(makePod("p").Container("100m", "64Mi").PreferPod(50, podTerm(zoneKey, "app", "db")).Obj()),
			}, []Offer{big, small},
			map[string]string{"default/db": "small", "default/p": "small"}},
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

// TestScoringSpreadsOrPacks: three replicas on two equal agents land 2+1
// with least-allocated and 3+0 with most-allocated.
func TestScoringSpreadsOrPacks(t *testing.T) {
	offers := []Offer{makeOffer("o1").Res(4000, 4096).Obj(), makeOffer("o2").Res(4000, 4096).Obj()}
	var pods []PodRequest
	for _, n := range []string{"a", "b", "c"} {
		pods = append(pods, req(makePod(n).Container("500m", "256Mi").Obj()))
	}
	count := func(plan Plan) map[string]int {
		m := map[string]int{}
		for _, a := range plan.Assignments {
			m[a.OfferID]++
		}
		return m
	}
	if got := count(Cluster{}.Match(pods, offers)); got["o1"] != 2 || got["o2"] != 1 {
		t.Errorf("least-allocated: %v, want 2+1", got)
	}
	if got := count(Cluster{Scoring: MostAllocated}.Match(pods, offers)); got["o1"] != 3 {
		t.Errorf("most-allocated: %v, want 3+0", got)
	}
}

// TestTopologyMatchIsDeterministic: the same input gives the same plan, with every
// filter and score in play.
func TestTopologyMatchIsDeterministic(t *testing.T) {
	pods, offers := benchCluster(300, 60, 4000, 8192)
	pods = withTopology(pods)
	c := Cluster{Explain: true}
	first := c.Match(pods, offers)
	for range 5 {
		if again := c.Match(pods, offers); !reflect.DeepEqual(first, again) {
			t.Fatal("two plans of the same input differ")
		}
	}
	if len(first.Assignments) == 0 || len(first.Unplaced) == 0 {
		t.Fatalf("placed %d, unplaced %d: the input should exercise both", len(first.Assignments), len(first.Unplaced))
	}
}
