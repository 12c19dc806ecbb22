package offermatcher

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// outcome is where a pod went: an offer ID, or the reasons text.
func outcomes(plan Plan) map[string]string {
	out := map[string]string{}
	for _, a := range plan.Assignments {
		out[a.Pod.Key] = a.OfferID
	}
	for _, u := range plan.Unplaced {
		out[u.Pod.Key] = u.Reasons.String()
	}
	return out
}

func TestMatch(t *testing.T) {
	gt, lt := corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt
	in, notIn := corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn
	exists, notExists := corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist
	tests := []struct {
		name   string
		pods   []PodRequest
		offers []Offer
		want   map[string]string // pod key → offer ID or reasons text
	}{
		{"fits",
			[]PodRequest{makeReq("a", 500, 256).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Obj()},
			map[string]string{"default/a": "o1"}},
		{"fits exactly",
			[]PodRequest{makeReq("a", 1000, 1024).Disk(10).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Disk(10).Obj()},
			map[string]string{"default/a": "o1"}},
		{"insufficient cpu",
			[]PodRequest{makeReq("a", 1500, 256).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Obj(), makeOffer("o2").Res(1499, 4096).Obj()},
			map[string]string{"default/a": "0/2 offers fit: 2 insufficient cpu"}},
		{"insufficient memory",
			[]PodRequest{makeReq("a", 100, 2048).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 2047).Obj()},
			map[string]string{"default/a": "0/1 offers fit: 1 insufficient memory"}},
		{"insufficient disk",
			[]PodRequest{makeReq("a", 100, 10).Disk(100).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Disk(99).Obj()},
			map[string]string{"default/a": "0/1 offers fit: 1 insufficient disk"}},
		{"no offers held",
			[]PodRequest{makeReq("a", 1, 1).Obj()},
			nil,
			map[string]string{"default/a": "0/0 offers fit: no offers held"}},
		{"host port granted from a range",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(31005).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Ports(31000, 31010).Obj()},
			map[string]string{"default/a": "o1"}},
		{"host port outside the offered ranges",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(80).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Ports(31000, 31010).Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/a": "0/2 offers fit: 2 host port unavailable"}},
		{"every host port must be free",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(31000, 32000).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Ports(31000, 31010).Obj()},
			map[string]string{"default/a": "0/1 offers fit: 1 host port unavailable"}},
		{"two pods want the same host port on one offer",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(8080).Obj(), makeReq("b", 100, 10).HostPorts(8080).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Ports(8000, 9000).Obj()},
			map[string]string{"default/a": "o1", "default/b": "0/1 offers fit: 1 host port unavailable"}},
		{"the second pod wanting a host port goes to another offer",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(8080).Obj(), makeReq("b", 100, 10).HostPorts(8080).Obj()},
			// o1 stays the emptier offer after "a", yet only o2 has 8080 left.
			[]Offer{makeOffer("o1").Res(8000, 8192).Ports(8080, 8080).Obj(), makeOffer("o2").Res(1000, 1024).Ports(8080, 8080).Obj()},
			map[string]string{"default/a": "o1", "default/b": "o2"}},
		{"different host ports share an offer",
			[]PodRequest{makeReq("a", 100, 10).HostPorts(8080).Obj(), makeReq("b", 100, 10).HostPorts(8081).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Ports(8080, 8081).Obj()},
			map[string]string{"default/a": "o1", "default/b": "o1"}},
		{"node selector on an attribute",
			[]PodRequest{makeReq("a", 100, 10).Selector("zone", "b").Obj()},
			[]Offer{makeOffer("o1").Res(8000, 8192).Attr("zone", "a").Obj(), makeOffer("o2").Res(1000, 1024).Attr("zone", "b").Obj()},
			map[string]string{"default/a": "o2"}},
		{"node selector on the hostname label",
			[]PodRequest{makeReq("a", 100, 10).Selector(corev1.LabelHostname, "host-o2").Obj()},
			[]Offer{makeOffer("o1").Res(8000, 8192).Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/a": "o2"}},
		{"node selector: all pairs must match",
			[]PodRequest{makeReq("a", 100, 10).Selector("zone", "a", "disk", "ssd").Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Attr("zone", "a").Obj(), makeOffer("o2").Res(1000, 1024).Attr("disk", "ssd").Obj()},
			map[string]string{"default/a": "0/2 offers fit: 2 node selector mismatch"}},
		{"mixed reasons",
			[]PodRequest{makeReq("a", 100, 512).Selector("zone", "a").Obj()},
			[]Offer{
				makeOffer("o1").Res(1000, 256).Attr("zone", "a").Obj(),
				makeOffer("o2").Res(1000, 1024).Attr("zone", "b").Obj(),
				makeOffer("o3").Res(1000, 1024).Obj(),
			},
			map[string]string{"default/a": "0/3 offers fit: 1 insufficient memory, 2 node selector mismatch"}},
		{"many pods per offer until it is full",
			[]PodRequest{makeReq("a", 500, 100).Obj(), makeReq("b", 500, 100).Obj(), makeReq("c", 500, 100).Obj(),
				makeReq("d", 500, 100).Obj(), makeReq("e", 500, 100).Obj()},
			[]Offer{makeOffer("o1").Res(2000, 1024).Obj()},
			map[string]string{"default/a": "o1", "default/b": "o1", "default/c": "o1", "default/d": "o1",
				"default/e": "0/1 offers fit: 1 insufficient cpu"}},
		{"three replicas spread over two equal agents",
			[]PodRequest{makeReq("a", 500, 100).Obj(), makeReq("b", 500, 100).Obj(), makeReq("c", 500, 100).Obj()},
			[]Offer{makeOffer("o1").Res(2000, 1024).Obj(), makeOffer("o2").Res(2000, 1024).Obj()},
			map[string]string{"default/a": "o1", "default/b": "o2", "default/c": "o1"}},
		{"the emptier offer wins over the smaller one",
			[]PodRequest{makeReq("a", 500, 100).Obj()},
			[]Offer{makeOffer("small").Res(1000, 512).Obj(), makeOffer("big").Res(16000, 65536).Obj()},
			map[string]string{"default/a": "big"}},
		{"pods are placed in priority order",
			[]PodRequest{makeReq("high", 1500, 100).Obj(), makeReq("low", 1500, 100).Obj()},
			[]Offer{makeOffer("o1").Res(2000, 1024).Obj()},
			map[string]string{"default/high": "o1", "default/low": "0/1 offers fit: 1 insufficient cpu"}},
		{"affinity In and NotIn",
			[]PodRequest{
				makeReq("in", 100, 10).Affinity(term(nreq("zone", in, "b", "c"))).Obj(),
				makeReq("notin", 100, 10).Affinity(term(nreq("zone", notIn, "a", "b"))).Obj(),
			},
			[]Offer{makeOffer("o1").Res(8000, 8192).Attr("zone", "a").Obj(), makeOffer("o2").Res(1000, 1024).Attr("zone", "b").Obj(),
				makeOffer("o3").Res(1000, 1024).Obj()},
			map[string]string{"default/in": "o2", "default/notin": "o3"}},
		{"affinity Exists and DoesNotExist",
			[]PodRequest{
				makeReq("exists", 100, 10).Affinity(term(nreq("gpu", exists))).Obj(),
				makeReq("absent", 100, 10).Affinity(term(nreq("gpu", notExists))).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).Attr("gpu", "").Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/exists": "o1", "default/absent": "o2"}},
		{"affinity Gt and Lt on numeric attributes",
			[]PodRequest{
				makeReq("gt", 100, 10).Affinity(term(nreq("rack", gt, "5"))).Obj(),
				makeReq("lt", 100, 10).Affinity(term(nreq("rack", lt, "5"))).Obj(),
				makeReq("nonnumeric", 100, 10).Affinity(term(nreq("zone", gt, "1"))).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).Attr("rack", "3").Attr("zone", "a").Obj(),
				makeOffer("o2").Res(1000, 1024).Attr("rack", "12").Attr("zone", "b").Obj()},
			map[string]string{"default/gt": "o2", "default/lt": "o1",
				"default/nonnumeric": "0/2 offers fit: 2 node affinity mismatch"}},
		{"affinity terms are ORed, requirements ANDed",
			[]PodRequest{
				makeReq("or", 100, 10).Affinity(term(nreq("zone", in, "x")), term(nreq("zone", in, "b"))).Obj(),
				makeReq("and", 100, 10).Affinity(term(nreq("zone", in, "a"), nreq("disk", in, "ssd"))).Obj(),
			},
			[]Offer{makeOffer("o1").Res(8000, 8192).Attr("zone", "a").Obj(), makeOffer("o2").Res(1000, 1024).Attr("zone", "b").Obj()},
			map[string]string{"default/or": "o2", "default/and": "0/2 offers fit: 2 node affinity mismatch"}},
		{"affinity on the node name field and the hostname label",
			[]PodRequest{
				makeReq("field", 100, 10).Affinity(NodeSelectorTerm{Fields: []NodeRequirement{nreq(NodeNameField, in, "host-o2")}}).Obj(),
				makeReq("label", 100, 10).Affinity(term(nreq(corev1.LabelHostname, notIn, "host-o1"))).Obj(),
			},
			[]Offer{makeOffer("o1").Res(8000, 8192).Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/field": "o2", "default/label": "o2"}},
		{"an empty or invalid affinity term matches nothing",
			[]PodRequest{
				makeReq("empty", 100, 10).Affinity(NodeSelectorTerm{}).Obj(),
				makeReq("badop", 100, 10).Affinity(term(nreq("zone", "Near", "a"))).Obj(),
				makeReq("badgt", 100, 10).Affinity(term(nreq("rack", gt, "1", "2"))).Obj(),
				makeReq("badfield", 100, 10).Affinity(NodeSelectorTerm{Fields: []NodeRequirement{nreq("metadata.uid", in, "x")}}).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).Attr("zone", "a").Attr("rack", "3").Obj()},
			map[string]string{
				"default/empty":    "0/1 offers fit: 1 node affinity mismatch",
				"default/badop":    "0/1 offers fit: 1 node affinity mismatch",
				"default/badgt":    "0/1 offers fit: 1 node affinity mismatch",
				"default/badfield": "0/1 offers fit: 1 node affinity mismatch",
			}},
		{"selector and affinity both apply",
			[]PodRequest{makeReq("a", 100, 10).Selector("zone", "a").Affinity(term(nreq("disk", in, "ssd"))).Obj()},
			[]Offer{makeOffer("o1").Res(8000, 8192).Attr("zone", "a").Obj(), makeOffer("o2").Res(1000, 1024).Attr("zone", "a").Attr("disk", "ssd").Obj()},
			map[string]string{"default/a": "o2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Match(tt.pods, tt.offers)
			if got := outcomes(plan); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match:\n got %v\nwant %v", got, tt.want)
			}
			if n := len(plan.Assignments) + len(plan.Unplaced); n != len(tt.pods) {
				t.Errorf("plan has %d pods, want %d", n, len(tt.pods))
			}
		})
	}
}

func TestMatchAssignmentDetails(t *testing.T) {
	offers := []Offer{makeOffer("o1").Agent("a1", "node-1").Res(1000, 1024).Ports(31000, 31001).Ports(8080, 8080).Obj()}
	before := slices.Clone(offers[0].Resources.Ports)
	pods := []PodRequest{makeReq("web", 100, 10).HostPorts(8080, 31001).Obj(), makeReq("db", 100, 10).Obj()}
	plan := Match(pods, offers)
	if len(plan.Assignments) != 2 || len(plan.Unplaced) != 0 {
		t.Fatalf("plan = %+v", plan)
	}
	web, db := plan.Assignments[0], plan.Assignments[1]
	if web.Pod.Key != "default/web" || web.OfferID != "o1" || web.AgentID != "a1" || !reflect.DeepEqual(web.Ports, []uint32{8080, 31001}) {
		t.Errorf("web assignment = %+v", web)
	}
	if db.Ports != nil {
		t.Errorf("db got ports %v, wants none", db.Ports)
	}
	if !reflect.DeepEqual(offers[0].Resources.Ports, before) || offers[0].Resources.MilliCPU != 1000 {
		t.Errorf("Match modified its offer: %+v", offers[0].Resources)
	}
}

func TestMatchUnplacedCarriesCounts(t *testing.T) {
	plan := Match([]PodRequest{makeReq("a", 100, 512).Selector("zone", "a").Obj()}, []Offer{
		makeOffer("o1").Res(1000, 256).Attr("zone", "a").Obj(),
		makeOffer("o2").Res(1000, 1024).Attr("zone", "b").Obj(),
	})
	want := Reasons{Offers: 2, Counts: map[Reason]int{InsufficientMemory: 1, NodeSelectorMismatch: 1}}
	if len(plan.Unplaced) != 1 || !reflect.DeepEqual(plan.Unplaced[0].Reasons, want) {
		t.Errorf("unplaced = %+v, want reasons %+v", plan.Unplaced, want)
	}
}

func TestMatchIsDeterministic(t *testing.T) {
	var pods []PodRequest
	for i := range 50 {
		pods = append(pods, makeReq("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), 300, 64).
			Selector("zone", []string{"a", "b"}[i%2]).HostPorts(uint32(8000+i%3)).Obj())
	}
	var offers []Offer
	for i := range 10 {
		offers = append(offers, makeOffer("o"+string(rune('0'+i))).Res(2000, 1024).Ports(8000, 8010).
			Attr("zone", []string{"a", "b", "c"}[i%3]).Obj())
	}
	first := Match(pods, offers)
	for range 20 {
		if again := Match(pods, offers); !reflect.DeepEqual(again, first) {
			t.Fatal("Match gave a different plan for the same input")
		}
	}
}

func TestReasonsString(t *testing.T) {
	tests := []struct {
		r    Reasons
		want string
	}{
		{Reasons{}, "0/0 offers fit: no offers held"},
		{Reasons{Offers: 2, Counts: map[Reason]int{InsufficientCPU: 2}}, "0/2 offers fit: 2 insufficient cpu"},
		{Reasons{Offers: 3, Counts: map[Reason]int{NodeSelectorMismatch: 2, InsufficientMemory: 1}},
			"0/3 offers fit: 1 insufficient memory, 2 node selector mismatch"},
		{Reasons{Offers: 6, Counts: map[Reason]int{NodeAffinityMismatch: 1, HostPortConflict: 2, InsufficientDisk: 1, InsufficientCPU: 1, InsufficientMemory: 0}},
			"1/6 offers fit: 2 host port unavailable, 1 insufficient cpu, 1 insufficient disk, 1 node affinity mismatch"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestPorts(t *testing.T) {
	max := ^uint32(0)
	norm := []struct{ in, want []PortRange }{
		{nil, nil},
		{[]PortRange{{5, 9}, {1, 3}}, []PortRange{{1, 3}, {5, 9}}},
		{[]PortRange{{1, 3}, {4, 6}}, []PortRange{{1, 6}}},
		{[]PortRange{{1, 10}, {2, 3}, {9, 12}}, []PortRange{{1, 12}}},
		{[]PortRange{{9, 2}, {7, 7}}, []PortRange{{7, 7}}},
		{[]PortRange{{max, max}, {max - 5, max}}, []PortRange{{max - 5, max}}},
	}
	for _, tt := range norm {
		got := normalizePorts(tt.in)
		if len(got) != 0 || len(tt.want) != 0 {
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("normalizePorts(%v) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
	take := []struct{ free, take, want []PortRange }{
		{[]PortRange{{1, 10}}, []PortRange{{1, 1}}, []PortRange{{2, 10}}},
		{[]PortRange{{1, 10}}, []PortRange{{10, 10}}, []PortRange{{1, 9}}},
		{[]PortRange{{1, 10}}, []PortRange{{5, 5}}, []PortRange{{1, 4}, {6, 10}}},
		{[]PortRange{{1, 10}}, []PortRange{{1, 10}}, []PortRange{}},
		{[]PortRange{{1, 3}, {7, 9}}, []PortRange{{2, 2}, {7, 7}, {9, 9}}, []PortRange{{1, 1}, {3, 3}, {8, 8}}},
		{[]PortRange{{1, 3}, {7, max}}, []PortRange{{max, max}}, []PortRange{{1, 3}, {7, max - 1}}},
	}
	for _, tt := range take {
		if !portsFree(tt.free, tt.take) {
			t.Errorf("portsFree(%v, %v) = false", tt.free, tt.take)
		}
		if got := takePorts(tt.free, tt.take); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("takePorts(%v, %v) = %v, want %v", tt.free, tt.take, got, tt.want)
		}
	}
	if portsFree([]PortRange{{1, 3}, {5, 9}}, []PortRange{{3, 5}}) {
		t.Error("a range across a gap counted as free")
	}
}

func TestParseInt64(t *testing.T) {
	for _, s := range []string{"0", "-0", "+7", "-12", "9223372036854775807", "-9223372036854775808", "", "-", "1x", "9223372036854775808", "-9223372036854775809", "99999999999999999999"} {
		got, ok := parseInt64(s)
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("parseInt64(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	}
}
