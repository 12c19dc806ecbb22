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
	key      string
	maxSkew  int
	self     int // 1 when the pod matches its own selector
	min      int // the global minimum (0 with fewer domains than minDomains)
	domains  map[string]int
	weight   float64 // ScheduleAnyway: log(domains + 2), kube-scheduler's normalizing weight
	perNode  []int   // matching pods on each node (the hostname key scores by them)
	hostname bool
}

// spreadState is a pod's constraints, prepared once per pod (kube-scheduler's
// PodTopologySpread PreFilter and PreScore): hard ones filter, soft ones
// score.
type spreadState struct {
	hard, soft []spreadCheck
	pool       []map[string]int // domain maps, reused from pod to pod
	eligible   []bool           // scratch: node passes the pod's node affinity
	tolerated  []bool           // scratch: node's taints are tolerated
}

func (s *spreadState) prepare(pod *PodRequest, p *podState, t *topology) {
	for i := range s.hard {
		s.pool = append(s.pool, s.hard[i].domains)
	}
	for i := range s.soft {
		s.pool = append(s.pool, s.soft[i].domains)
	}
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
	podLabels := labels.Set(pod.Labels)
	for _, hard := range []bool{true, false} {
		for i := range pod.TopologySpread {
			c := &pod.TopologySpread[i]
			if c.DoNotSchedule != hard {
				continue
			}
			counts := t.matchingCounts(pod.Namespace, c.selector, c.selectorKey)
			sc := spreadCheck{key: c.TopologyKey, maxSkew: int(c.MaxSkew), domains: s.domainMap(),
				perNode: counts.n, hostname: c.TopologyKey == corev1.LabelHostname}
			if c.selector.Matches(podLabels) {
				sc.self = 1
			}
			for n := range t.nodes {
				node := &t.nodes[n]
				if !hasKeys(node.labels, pod.TopologySpread, hard) ||
					(c.HonorNodeAffinity && !s.eligible[n]) || (c.HonorTaints && !s.tolerated[n]) {
					continue
				}
				sc.domains[node.labels[c.TopologyKey]] += counts.n[n]
			}
			sc.min = math.MaxInt32
			for _, m := range sc.domains {
				sc.min = min(sc.min, m)
			}
			if len(sc.domains) < int(c.MinDomains) {
				sc.min = 0
			}
			sc.weight = math.Log(float64(len(sc.domains) + 2))
			if hard {
				s.hard = append(s.hard, sc)
			} else {
				s.soft = append(s.soft, sc)
			}
		}
	}
}

func (s *spreadState) domainMap() map[string]int {
	if n := len(s.pool); n > 0 {
		m := s.pool[n-1]
		s.pool = s.pool[:n-1]
		if m != nil {
			clear(m)
			return m
		}
	}
	return map[string]int{}
}

// hasKeys reports whether a node has the topology keys of every constraint
// of one kind (DoNotSchedule when hard), as kube-scheduler requires of a
// node before counting its pods.
func hasKeys(nodeLabels map[string]string, cs []SpreadConstraint, hard bool) bool {
	for i := range cs {
		if cs[i].DoNotSchedule != hard {
			continue
		}
		if _, ok := nodeLabels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// check is kube-scheduler's PodTopologySpread Filter, written here for the
// same reason as podAffinityState.check (the hot path, counts kept across
// the plan; TestFeasibleAsKubeScheduler compares it with the plugin): the node has every
// constraint's key, and placing the pod there keeps each skew (matching
// pods in the node's domain, plus the pod itself if it matches, minus the
// global minimum) within maxSkew. Map lookups only.
func (s *spreadState) check(n *nodeState) (reasonIndex, bool) {
	for i := range s.hard {
		c := &s.hard[i]
		v, ok := n.labels[c.key]
		if !ok {
			return reasonSpreadLabel, false
		}
		if c.domains[v]+c.self-c.min > c.maxSkew {
			return reasonSpread, false
		}
	}
	return 0, true
}

// score is kube-scheduler's PodTopologySpread Score of a node for the
// ScheduleAnyway constraints (lower is better; normalized by the caller),
// and false for a node without every key (scored 0).
func (s *spreadState) score(n *nodeState, node int) (int64, bool) {
	var sum float64
	for i := range s.soft {
		c := &s.soft[i]
		v, ok := n.labels[c.key]
		if !ok {
			return 0, false
		}
		cnt := c.domains[v]
		if c.hostname {
			cnt = c.perNode[node]
		}
		sum += float64(cnt)*c.weight + float64(c.maxSkew-1)
	}
	return int64(math.Round(sum)), true
}
