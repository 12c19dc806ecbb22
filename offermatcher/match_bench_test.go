package offermatcher

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// benchCluster is a deterministic cluster: offers from agents in three
// zones with a port range each, and a mix of pods: most plain, some with
// host ports, a zone selector or zone affinity.
func benchCluster(nPods, nOffers int, offerCPU, offerMem int64) ([]PodRequest, []Offer) {
	zones := []string{"a", "b", "c"}
	offers := make([]Offer, nOffers)
	for i := range offers {
		offers[i] = makeOffer(fmt.Sprintf("offer-%04d", i)).Agent(fmt.Sprintf("agent-%04d", i), fmt.Sprintf("node-%04d", i)).
			Res(offerCPU, offerMem).Disk(100_000).Ports(31000, 32000).Attr("zone", zones[i%3]).Attr("rack", fmt.Sprint(i%20)).Obj()
	}
	pods := make([]PodRequest, nPods)
	for i := range pods {
		b := makeReq(fmt.Sprintf("pod-%04d", i), int64(100+(i%20)*100), int64(128+(i%8)*128)).Disk(int64(i % 3 * 1024))
		switch {
		case i%10 == 0:
			b.HostPorts(uint32(31000 + i%50))
		case i%10 == 1:
			b.Selector("zone", zones[i%3])
		case i%10 == 2:
			b.Affinity(term(nreq("zone", corev1.NodeSelectorOpIn, "a", "b"), nreq("rack", corev1.NodeSelectorOpGt, "4")))
		}
		pods[i] = b.Obj()
	}
	return pods, offers
}

// checkPlan fails the benchmark unless the plan accounts for every pod,
// over-commits no offer and places at least want pods.
func checkPlan(b *testing.B, plan Plan, pods []PodRequest, offers []Offer, want int) {
	b.Helper()
	if n := len(plan.Assignments) + len(plan.Unplaced); n != len(pods) {
		b.Fatalf("plan has %d pods, want %d", n, len(pods))
	}
	if len(plan.Assignments) < want {
		b.Fatalf("placed %d pods, want at least %d", len(plan.Assignments), want)
	}
	used := map[string]*Resources{}
	ports := map[string]map[uint32]bool{}
	for _, a := range plan.Assignments {
		u := used[a.OfferID]
		if u == nil {
			u = &Resources{}
			used[a.OfferID] = u
			ports[a.OfferID] = map[uint32]bool{}
		}
		u.MilliCPU += a.Pod.Resources.MilliCPU
		u.MemoryMB += a.Pod.Resources.MemoryMB
		u.DiskMB += a.Pod.Resources.DiskMB
		for _, p := range a.Ports {
			if ports[a.OfferID][p] {
				b.Fatalf("port %d granted twice on %s", p, a.OfferID)
			}
			ports[a.OfferID][p] = true
		}
	}
	for _, o := range offers {
		if u := used[o.ID]; u != nil && (u.MilliCPU > o.Resources.MilliCPU || u.MemoryMB > o.Resources.MemoryMB || u.DiskMB > o.Resources.DiskMB) {
			b.Fatalf("offer %s over-committed: %+v of %+v", o.ID, *u, o.Resources)
		}
	}
	for _, u := range plan.Unplaced {
		if u.Reasons.Offers != len(offers) {
			b.Fatalf("pod %s: reasons over %d offers", u.Pod.Key, u.Reasons.Offers)
		}
	}
}

// BenchmarkMatch places 1000 pods on 500 roomy offers: every pod fits.
func BenchmarkMatch(b *testing.B) {
	pods, offers := benchCluster(1000, 500, 16_000, 65_536)
	checkPlan(b, Match(pods, offers), pods, offers, len(pods))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Match(pods, offers)
	}
}

// BenchmarkMatchScarce places 1000 pods on 500 small offers: about half
// the pods stay unplaced and collect a reason from every offer.
func BenchmarkMatchScarce(b *testing.B) {
	pods, offers := benchCluster(1000, 500, 1_000, 2_048)
	plan := Match(pods, offers)
	checkPlan(b, plan, pods, offers, 300)
	if len(plan.Unplaced) == 0 {
		b.Fatal("scarce cluster placed every pod")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Match(pods, offers)
	}
}

// withTopology gives benchCluster's pods what Deployments carry: each pod
// belongs to one of 50 apps (label app); of every ten pods one has required
// anti-affinity on kubernetes.io/hostname against its app, one a
// DoNotSchedule zone spread (maxSkew 1) of its app, one a ScheduleAnyway
// hostname spread, and one a preferred zone affinity to app-0. pods is not
// modified.
func withTopology(pods []PodRequest) []PodRequest {
	out := make([]PodRequest, len(pods))
	for i, p := range pods {
		app := fmt.Sprintf("app-%d", i%50)
		b := makePod(fmt.Sprintf("pod-%04d", i)).Labels("app", app)
		switch i % 10 {
		case 3:
			b.PodAntiAffinity(podTerm(corev1.LabelHostname, "app", app))
		case 4:
			b.Spread(spreadOn("zone", 1, true, "app", app))
		case 5:
			b.Spread(spreadOn(corev1.LabelHostname, 1, false, "app", app))
		case 6:
			b.PreferPod(10, podTerm("zone", "app", "app-0"))
		}
		t := FromPod(b.Obj(), Resources{})
		p.Labels, p.Namespace = t.Labels, t.Namespace
		p.PodAntiAffinity, p.TopologySpread, p.PreferredPodAffinity = t.PodAntiAffinity, t.TopologySpread, t.PreferredPodAffinity
		out[i] = p
	}
	return out
}

// BenchmarkMatch10k places 10,000 pods on 1,000 offers, with only
// resources, ports, selectors and node affinity (the workload of
// BenchmarkMatch).
func BenchmarkMatch10k(b *testing.B) {
	pods, offers := benchCluster(10_000, 1_000, 16_000, 65_536)
	benchLarge(b, pods, offers)
}

// BenchmarkMatch10kTopology is BenchmarkMatch10k with withTopology's
// inter-pod affinity and topology spread.
func BenchmarkMatch10kTopology(b *testing.B) {
	pods, offers := benchCluster(10_000, 1_000, 16_000, 65_536)
	benchLarge(b, withTopology(pods), offers)
}

func benchLarge(b *testing.B, pods []PodRequest, offers []Offer) {
	checkPlan(b, Match(pods, offers), pods, offers, len(pods)*9/10)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Match(pods, offers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pods)), "ns/pod")
}
