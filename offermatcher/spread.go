package offermatcher

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// SpreadConstraint is one topology spread constraint of a pod, resolved as
// kube-scheduler's PodTopologySpread resolves it: matchLabelKeys merged
// into the selector with the pod's values, minDomains 1 when unset,
// nodeAffinityPolicy Honor and nodeTaintsPolicy Ignore when unset. Build it
// with NewSpreadConstraint.
type SpreadConstraint struct {
	MaxSkew     int32
	TopologyKey string
	// DoNotSchedule makes the constraint a filter; otherwise
	// (ScheduleAnyway) it is a score.
	DoNotSchedule bool
	MinDomains    int32
	// HonorNodeAffinity counts only nodes that match the pod's node selector
	// and required node affinity; HonorTaints only nodes whose taints the
	// pod tolerates.
	HonorNodeAffinity, HonorTaints bool
	selector                       labels.Selector
	selectorKey                    string
}

// NewSpreadConstraint resolves a constraint of a pod with podLabels.
func NewSpreadConstraint(podLabels map[string]string, c *corev1.TopologySpreadConstraint) SpreadConstraint {
	sel := selectorOf(c.LabelSelector)
	if len(c.MatchLabelKeys) > 0 {
		set := labels.Set{}
		for _, k := range c.MatchLabelKeys {
			if v, ok := podLabels[k]; ok {
				set[k] = v
			}
		}
		if reqs, ok := sel.Requirements(); ok && len(set) > 0 {
			merged := labels.SelectorFromSet(set)
			sel = merged.Add(reqs...)
		}
	}
	out := SpreadConstraint{
		MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey,
		DoNotSchedule: c.WhenUnsatisfiable == corev1.DoNotSchedule,
		MinDomains:    1, HonorNodeAffinity: true,
		selector: sel, selectorKey: selectorKey(sel),
	}
	if c.MinDomains != nil {
		out.MinDomains = *c.MinDomains
	}
	if c.NodeAffinityPolicy != nil {
		out.HonorNodeAffinity = *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor
	}
	if c.NodeTaintsPolicy != nil {
		out.HonorTaints = *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor
	}
	return out
}

func spreadConstraints(pod *corev1.Pod) []SpreadConstraint {
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		return nil
	}
	out := make([]SpreadConstraint, len(pod.Spec.TopologySpreadConstraints))
	for i := range pod.Spec.TopologySpreadConstraints {
		out[i] = NewSpreadConstraint(pod.Labels, &pod.Spec.TopologySpreadConstraints[i])
	}
	return out
}

// spreadCheck is one constraint prepared for a pod: the matching pods per
// domain of the eligible nodes, and the global minimum.
type spreadCheck struct {
	dom      *keyDomains
	maxSkew  int
	self     int     // 1 when the pod matches its own selector
	min      int     // the global minimum (0 with fewer domains than minDomains)
	counts   []int   // matching pods per domain, over the eligible nodes
	weight   float64 // ScheduleAnyway: log(domains + 2), kube-scheduler's normalizing weight
	perNode  []int   // matching pods on each node (the hostname key scores by them)
	hostname bool
}

// spreadState is a pod's constraints, prepared once per pod (kube-scheduler's
// PodTopologySpread PreFilter and PreScore): hard ones filter, soft ones
// score. Its slices are kept from pod to pod.
type spreadState struct {
	hard, soft []spreadCheck
	counts     []int  // backing array of the checks' counts
	present    []bool // scratch: the domain has an eligible node
	eligible   []bool // scratch: node passes the pod's node affinity
	tolerated  []bool // scratch: node's taints are tolerated
}

func (s *spreadState) prepare(pod *PodRequest, p *podState, t *topology) {
	s.hard, s.soft = s.hard[:0], s.soft[:0]
	if len(pod.TopologySpread) == 0 {
		return
	}
	s.eligible = s.eligible[:0]
	s.tolerated = s.tolerated[:0]
	for i := range t.nodes {
		n := &t.nodes[i]
		s.eligible = append(s.eligible, (len(p.selector) == 0 || p.selectorMatchesLabels(n.labels)) &&
			(len(p.affinity) == 0 || p.affinityMatchesNode(n.name, n.labels)))
		s.tolerated = append(s.tolerated, !untolerated(n.taints, p.tolerations))
	}
	total := 0
	for i := range pod.TopologySpread {
		total += len(t.domains(pod.TopologySpread[i].TopologyKey).values)
	}
	if cap(s.counts) < total {
		s.counts = make([]int, total)
	}
	s.counts = s.counts[:total]
	clear(s.counts)
	off := 0
	podLabels := labels.Set(pod.Labels)
	for _, hard := range []bool{true, false} {
		for i := range pod.TopologySpread {
			c := &pod.TopologySpread[i]
			if c.DoNotSchedule != hard {
				continue
			}
			matching := t.matchingCounts(pod.Namespace, c.selector, c.selectorKey)
			dom := t.domains(c.TopologyKey)
			sc := spreadCheck{dom: dom, maxSkew: int(c.MaxSkew), counts: s.counts[off : off+len(dom.values)],
				perNode: matching.n, hostname: c.TopologyKey == corev1.LabelHostname}
			off += len(dom.values)
			if c.selector.Matches(podLabels) {
				sc.self = 1
			}
			if cap(s.present) < len(dom.values) {
				s.present = make([]bool, len(dom.values))
			}
			s.present = s.present[:len(dom.values)]
			clear(s.present)
			for n := range t.nodes {
				if !hasKeys(t, n, pod.TopologySpread, hard) ||
					(c.HonorNodeAffinity && !s.eligible[n]) || (c.HonorTaints && !s.tolerated[n]) {
					continue
				}
				d := dom.of[n]
				sc.counts[d] += matching.n[n]
				s.present[d] = true
			}
			sc.min = math.MaxInt32
			domains := 0
			for d, ok := range s.present {
				if ok {
					domains++
					sc.min = min(sc.min, sc.counts[d])
				}
			}
			if domains < int(c.MinDomains) {
				sc.min = 0
			}
			sc.weight = math.Log(float64(domains + 2))
			if hard {
				s.hard = append(s.hard, sc)
			} else {
				s.soft = append(s.soft, sc)
			}
		}
	}
}

// hasKeys reports whether node has the topology keys of every constraint
// of one kind (DoNotSchedule when hard), as kube-scheduler requires of a
// node before counting its pods.
func hasKeys(t *topology, node int, cs []SpreadConstraint, hard bool) bool {
	for i := range cs {
		if cs[i].DoNotSchedule == hard && t.domains(cs[i].TopologyKey).of[node] < 0 {
			return false
		}
	}
	return true
}

// check is kube-scheduler's PodTopologySpread Filter, written here for the
// same reason as podAffinityState.check (the hot path, counts kept across
// the plan; TestFeasibleAsKubeScheduler compares it with the plugin): the
// node has every constraint's key, and placing the pod there keeps each skew
// (matching pods in the node's domain, plus the pod itself if it matches,
// minus the global minimum) within maxSkew. Slice indexing only.
func (s *spreadState) check(node int) (reasonIndex, bool) {
	for i := range s.hard {
		c := &s.hard[i]
		d := c.dom.of[node]
		if d < 0 {
			return reasonSpreadLabel, false
		}
		if c.counts[d]+c.self-c.min > c.maxSkew {
			return reasonSpread, false
		}
	}
	return 0, true
}

// score is kube-scheduler's PodTopologySpread Score of a node for the
// ScheduleAnyway constraints (lower is better; normalized by the caller),
// and false for a node without every key (scored 0).
func (s *spreadState) score(node int) (int64, bool) {
	var sum float64
	for i := range s.soft {
		c := &s.soft[i]
		d := c.dom.of[node]
		if d < 0 {
			return 0, false
		}
		cnt := c.counts[d]
		if c.hostname {
			cnt = c.perNode[node]
		}
		sum += float64(cnt)*c.weight + float64(c.maxSkew-1)
	}
	return int64(math.Round(sum)), true
}
