package offermatcher

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func spreadOn(key string, maxSkew int32, hard bool, matchLabels ...string) corev1.TopologySpreadConstraint {
	when := corev1.ScheduleAnyway
	if hard {
		when = corev1.DoNotSchedule
	}
	return corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: labelSelector(matchLabels...)}
}

// spreader is a pod of app=web spread by c.
func spreader(name string, c corev1.TopologySpreadConstraint) *podBuilder {
	return makePod(name).Container("100m", "64Mi").Labels("app", "web").Spread(c)
}

func TestTopologySpread(t *testing.T) {
	hostSpread := spreadOn(corev1.LabelHostname, 1, true, "app", "web")
	zoneSpread := spreadOn(zoneKey, 1, true, "app", "web")
	running := func(node string, kv ...string) PlacedPod {
		return placed(makePod("old-"+node).Labels(kv...).Obj(), node)
	}
	big, small := makeOffer("big").Res(16000, 16384).Attr(zoneKey, "a").Obj(), makeOffer("small").Res(1000, 1024).Attr(zoneKey, "b").Obj()
	nodeB := Node{Name: "host-small", Labels: map[string]string{corev1.LabelHostname: "host-small", zoneKey: "b"}}
	three := int32(3)
	ignore, honor := corev1.NodeInclusionPolicyIgnore, corev1.NodeInclusionPolicyHonor
	withPolicy := func(c corev1.TopologySpreadConstraint, affinity, taints *corev1.NodeInclusionPolicy) corev1.TopologySpreadConstraint {
		c.NodeAffinityPolicy, c.NodeTaintsPolicy = affinity, taints
		return c
	}
	terminating := running("host-small", "app", "web")
	terminating.Terminating = true
	tainted := nodeB
	tainted.Taints = []corev1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}}
	hashed := hostSpread
	hashed.MatchLabelKeys = []string{"pod-template-hash"}

	tests := []struct {
		name    string
		cluster Cluster
		pods    []PodRequest
		offers  []Offer
		want    map[string]string
	}{
		{"maxSkew 1 on hostname keeps four replicas 2+2 against least-allocated",
			Cluster{},
			[]PodRequest{req(spreader("s1", hostSpread).Obj()), req(spreader("s2", hostSpread).Obj()), req(spreader("s3", hostSpread).Obj()), req(spreader("s4", hostSpread).Obj())},
			[]Offer{big, small},
			map[string]string{"default/s1": "big", "default/s2": "small", "default/s3": "big", "default/s4": "small"}},
		{"a node without an offer is a domain too",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", hostSpread).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "0/1 offers fit: 1 didn't match pod topology spread constraints"}},
		{"terminating pods do not count",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web"), terminating}},
			[]PodRequest{req(spreader("s1", hostSpread).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "0/1 offers fit: 1 didn't match pod topology spread constraints"}},
		{"pods the selector does not match, or of other namespaces, do not count",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "db"),
				placed(makePod("other").Namespace("other").Labels("app", "web").Obj(), "host-big")}},
			[]PodRequest{req(spreader("s1", hostSpread).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "big"}},
		{"a node without the topology key fits no pod spread over it",
			Cluster{},
			[]PodRequest{req(spreader("s1", spreadOn("rack", 1, true, "app", "web")).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "0/1 offers fit: 1 didn't match pod topology spread constraints (missing required label)"}},
		{"minDomains above the domains makes the global minimum 0",
			Cluster{Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{
				req(spreader("s1", func() corev1.TopologySpreadConstraint { c := zoneSpread; c.MinDomains = &three; return c }()).Obj()),
				req(spreader("s2", func() corev1.TopologySpreadConstraint { c := zoneSpread; c.MinDomains = &three; return c }()).Obj()),
			},
			[]Offer{big, small},
			map[string]string{"default/s1": "small", "default/s2": "0/2 offers fit: 2 didn't match pod topology spread constraints"}},
		{"nodeAffinityPolicy Honor: a node the pod's selector excludes is no domain",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", zoneSpread).NodeSelector(zoneKey, "a").Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "big"}},
		{"nodeAffinityPolicy Ignore: it is",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", withPolicy(zoneSpread, &ignore, nil)).NodeSelector(zoneKey, "a").Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "0/1 offers fit: 1 didn't match pod topology spread constraints"}},
		{"nodeTaintsPolicy Ignore (default): a tainted node is a domain",
			Cluster{Nodes: []Node{tainted}, Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", zoneSpread).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "0/1 offers fit: 1 didn't match pod topology spread constraints"}},
		{"nodeTaintsPolicy Honor: a node whose taint the pod does not tolerate is no domain",
			Cluster{Nodes: []Node{tainted}, Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", withPolicy(zoneSpread, nil, &honor)).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "big"}},
		{"matchLabelKeys: pods of another revision do not count",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web", "pod-template-hash", "old")}},
			[]PodRequest{
				req(spreader("new", hashed).Labels("app", "web", "pod-template-hash", "new").Obj()),
				req(spreader("plain", hostSpread).Labels("app", "web", "pod-template-hash", "new").Obj()),
			},
			[]Offer{big},
			map[string]string{"default/new": "big", "default/plain": "0/1 offers fit: 1 didn't match pod topology spread constraints"}},
		{"ScheduleAnyway prefers the domain with fewer matching pods over free resources",
			Cluster{Pods: []PlacedPod{running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", spreadOn(corev1.LabelHostname, 1, false, "app", "web")).Obj())},
			[]Offer{big, small},
			map[string]string{"default/s1": "small"}},
		{"ScheduleAnyway does not filter",
			Cluster{Nodes: []Node{nodeB}, Pods: []PlacedPod{running("host-big", "app", "web"), running("host-big", "app", "web")}},
			[]PodRequest{req(spreader("s1", spreadOn(corev1.LabelHostname, 1, false, "app", "web")).Obj())},
			[]Offer{big},
			map[string]string{"default/s1": "big"}},
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
