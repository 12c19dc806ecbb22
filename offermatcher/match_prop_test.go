package offermatcher

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"pgregory.net/rapid"
)

// Small domains make collisions (same ports, same zones, full offers) common.
var (
	zones   = []string{"a", "b", "c"}
	maxPort = uint32(24)
	zoneOps = []corev1.NodeSelectorOperator{corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist}
)

func genRanges(t *rapid.T, label string, maxLen int) []PortRange {
	n := rapid.IntRange(0, maxLen).Draw(t, label+"n")
	var rs []PortRange
	for i := range n {
		b := rapid.Uint32Range(0, maxPort).Draw(t, fmt.Sprint(label, i, "b"))
		length := 12 - rapid.IntRange(0, 13).Draw(t, fmt.Sprint(label, i, "short"))
		if length < 0 {
			rs = append(rs, PortRange{b + 1, b}) // invalid: Begin > End, ignored
			continue
		}
		rs = append(rs, PortRange{b, b + uint32(length)})
	}
	return rs
}

func genOffers(t *rapid.T) []Offer {
	n := rapid.IntRange(0, 5).Draw(t, "offers")
	offers := make([]Offer, n)
	for i := range offers {
		o := Offer{
			ID:       fmt.Sprint("o", i),
			AgentID:  fmt.Sprint("agent", rapid.IntRange(0, 3).Draw(t, "agent")),
			NodeName: fmt.Sprint("host", i),
			Labels:   map[string]string{corev1.LabelHostname: fmt.Sprint("host", i)},
			Resources: Resources{
				// rapid favours small draws; draw what the agent has in use so
				// that offers are mostly large and pods pile onto them.
				MilliCPU: 8000 - rapid.Int64Range(0, 8100).Draw(t, "cpuUsed"),
				MemoryMB: 8192 - rapid.Int64Range(0, 8192).Draw(t, "memUsed"),
				DiskMB:   200 - rapid.Int64Range(0, 200).Draw(t, "diskUsed"),
				Ports:    genRanges(t, "offerports", 3),
			},
		}
		if z := rapid.IntRange(-1, len(zones)-1).Draw(t, "zone"); z >= 0 {
			o.Labels["zone"] = zones[z]
		}
		offers[i] = o
	}
	return offers
}

func genPods(t *rapid.T) []PodRequest {
	n := rapid.IntRange(0, 24).Draw(t, "pods")
	pods := make([]PodRequest, n)
	for i := range pods {
		p := PodRequest{
			Key: fmt.Sprint("default/p", i),
			UID: fmt.Sprint("uid", i),
			Resources: Resources{
				MilliCPU: rapid.Int64Range(0, 1000).Draw(t, "cpu"),
				MemoryMB: rapid.Int64Range(0, 1024).Draw(t, "mem"),
				DiskMB:   rapid.Int64Range(0, 40).Draw(t, "disk"),
			},
		}
		for range rapid.IntRange(0, 2).Draw(t, "hostports") {
			port := rapid.Uint32Range(0, maxPort).Draw(t, "hostport")
			p.Resources.Ports = append(p.Resources.Ports, PortRange{port, port}) // unsorted, maybe duplicated
		}
		if rapid.IntRange(0, 3).Draw(t, "selector") == 0 {
			p.NodeSelector = map[string]string{"zone": rapid.SampledFrom(zones).Draw(t, "selzone")}
		}
		if rapid.IntRange(0, 3).Draw(t, "affinity") == 0 {
			op := rapid.SampledFrom(zoneOps).Draw(t, "op")
			var values []string
			if op == corev1.NodeSelectorOpIn || op == corev1.NodeSelectorOpNotIn {
				values = []string{rapid.SampledFrom(zones).Draw(t, "affzone")}
			}
			p.RequiredNodeAffinity = []NodeSelectorTerm{term(nreq("zone", op, values...))}
		}
		pods[i] = p
	}
	return pods
}

// portSet is an independent model of a set of ports.
func portSet(rs []PortRange) map[uint32]bool {
	s := map[uint32]bool{}
	for _, r := range rs {
		for p := r.Begin; p <= r.End && r.Begin <= r.End; p++ {
			s[p] = true
		}
	}
	return s
}

// modelOffer is the oracle's view of an offer after the plan.
type modelOffer struct {
	cpu, mem, disk int64
	ports          map[uint32]bool
	zone           string
	hasZone        bool
}

// modelFits is an independent, slow statement of when a pod fits an offer.
func modelFits(p PodRequest, o *modelOffer) bool {
	if max(p.Resources.MilliCPU, 0) > o.cpu || max(p.Resources.MemoryMB, 0) > o.mem || max(p.Resources.DiskMB, 0) > o.disk {
		return false
	}
	for port := range portSet(p.Resources.Ports) {
		if !o.ports[port] {
			return false
		}
	}
	if z, ok := p.NodeSelector["zone"]; ok && (!o.hasZone || o.zone != z) {
		return false
	}
	for _, term := range p.RequiredNodeAffinity { // one term, one requirement in these tests
		r := term.Labels[0]
		switch r.Operator {
		case corev1.NodeSelectorOpIn:
			return o.hasZone && o.zone == r.Values[0]
		case corev1.NodeSelectorOpNotIn:
			return !o.hasZone || o.zone != r.Values[0]
		case corev1.NodeSelectorOpExists:
			return o.hasZone
		case corev1.NodeSelectorOpDoesNotExist:
			return !o.hasZone
		}
	}
	return true
}

// TestMatchProperties checks Match's safety and completeness on random
// pods and offers:
//   - every pod is in the plan exactly once, in the pods' order;
//   - no offer is over-committed: assigned cpu, memory and disk fit in it and
//     granted host ports are ports it offered, never granted twice;
//   - an assigned pod gets exactly the host ports it asked for, and its offer
//     satisfies its node selector and affinity;
//   - an unplaced pod has one reason per offer, and really fits no offer
//     even with what is left after the whole plan (an offer only shrinks, so
//     a pod that fits at the end would have fitted when it was tried).
func TestMatchProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		offers := genOffers(t)
		pods := genPods(t)
		plan := Match(pods, offers)

		seen := map[string]int{}
		for _, a := range plan.Assignments {
			seen[a.Pod.Key]++
		}
		for _, u := range plan.Unplaced {
			seen[u.Pod.Key]++
		}
		for _, p := range pods {
			if seen[p.Key] != 1 {
				t.Fatalf("pod %s appears %d times in the plan", p.Key, seen[p.Key])
			}
		}
		if len(seen) != len(pods) {
			t.Fatalf("plan has %d pods, input %d", len(seen), len(pods))
		}
		inOrder := func(keys []string) bool {
			return slices.IsSortedFunc(keys, func(a, b string) int {
				return slices.IndexFunc(pods, func(p PodRequest) bool { return p.Key == a }) -
					slices.IndexFunc(pods, func(p PodRequest) bool { return p.Key == b })
			})
		}
		var ak, uk []string
		for _, a := range plan.Assignments {
			ak = append(ak, a.Pod.Key)
		}
		for _, u := range plan.Unplaced {
			uk = append(uk, u.Pod.Key)
		}
		if !inOrder(ak) || !inOrder(uk) {
			t.Fatalf("plan out of pod order: %v / %v", ak, uk)
		}

		model := map[string]*modelOffer{}
		for _, o := range offers {
			z, ok := o.Labels["zone"]
			// A negative amount offers nothing.
			model[o.ID] = &modelOffer{cpu: max(o.Resources.MilliCPU, 0), mem: o.Resources.MemoryMB, disk: o.Resources.DiskMB,
				ports: portSet(o.Resources.Ports), zone: z, hasZone: ok}
		}
		for _, a := range plan.Assignments {
			o, ok := model[a.OfferID]
			if !ok {
				t.Fatalf("pod %s assigned to unknown offer %q", a.Pod.Key, a.OfferID)
			}
			if !modelFits(a.Pod, o) {
				t.Fatalf("pod %s (%+v) assigned to offer %s that cannot take it (left: %+v)", a.Pod.Key, a.Pod, a.OfferID, *o)
			}
			idx := slices.IndexFunc(offers, func(of Offer) bool { return of.ID == a.OfferID })
			if a.AgentID != offers[idx].AgentID {
				t.Fatalf("assignment agent %s, offer's %s", a.AgentID, offers[idx].AgentID)
			}
			want := portSet(a.Pod.Resources.Ports)
			if len(a.Ports) != len(want) || !slices.IsSorted(a.Ports) {
				t.Fatalf("pod %s wanted ports %v, granted %v", a.Pod.Key, a.Pod.Resources.Ports, a.Ports)
			}
			for _, port := range a.Ports {
				if !want[port] {
					t.Fatalf("pod %s granted port %d it did not ask for", a.Pod.Key, port)
				}
				delete(o.ports, port) // granted twice would fail modelFits above
			}
			o.cpu -= max(a.Pod.Resources.MilliCPU, 0)
			o.mem -= max(a.Pod.Resources.MemoryMB, 0)
			o.disk -= max(a.Pod.Resources.DiskMB, 0)
		}
		for _, u := range plan.Unplaced {
			if u.Reasons.Offers != len(offers) {
				t.Fatalf("pod %s: reasons over %d offers, have %d", u.Pod.Key, u.Reasons.Offers, len(offers))
			}
			sum := 0
			for _, n := range u.Reasons.Counts {
				sum += n
			}
			if sum != len(offers) {
				t.Fatalf("pod %s: reasons %v sum to %d, want %d", u.Pod.Key, u.Reasons.Counts, sum, len(offers))
			}
			for id, o := range model {
				if modelFits(u.Pod, o) {
					t.Fatalf("pod %s unplaced (%s) but fits offer %s (left: %+v)", u.Pod.Key, u.Reasons, id, *o)
				}
			}
		}
	})
}

// TestFitsAllocatesNothing holds the per-offer check to its promise.
func TestFitsAllocatesNothing(t *testing.T) {
	pod := makeReq("a", 100, 10).HostPorts(8080, 9090).Selector("zone", "a", "disk", "ssd").
		Affinity(term(nreq("rack", corev1.NodeSelectorOpGt, "2"), nreq("zone", corev1.NodeSelectorOpIn, "a", "b"))).Obj()
	offers := []Offer{
		makeOffer("fits").Res(1000, 1024).Ports(8000, 9999).Attr("zone", "a").Attr("disk", "ssd").Attr("rack", "7").Obj(),
		makeOffer("rack").Res(1000, 1024).Ports(8000, 9999).Attr("zone", "a").Attr("disk", "ssd").Attr("rack", "x").Obj(),
		makeOffer("ports").Res(1000, 1024).Ports(8000, 8080).Obj(),
	}
	topo := newTopology(offers, &Cluster{})
	var p podState
	p.prepare(&pod, topo)
	book := make([]offerState, len(offers))
	for i := range offers {
		n := topo.byName[offers[i].NodeName]
		book[i] = offerState{offer: &offers[i], nodeIdx: n, cpu: 1000, mem: 1024, ports: normalizePorts(offers[i].Resources.Ports)}
	}
	wantOK := []bool{true, false, false}
	for i := range book {
		if _, ok := p.fits(&book[i]); ok != wantOK[i] {
			t.Fatalf("offer %s: fits = %v, want %v", offers[i].ID, ok, wantOK[i])
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range book {
			p.fits(&book[i])
		}
	})
	if allocs != 0 {
		t.Errorf("checking offers allocates %.1f times per run", allocs)
	}
}
