package offermatcher

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PodAffinityTerm is one term of inter-pod affinity or anti-affinity,
// resolved as kube-scheduler resolves it (framework.AffinityTerm): a pod
// matches it when the pod's namespace is one of the term's namespaces (the
// owning pod's own when the term names none and has no namespace selector)
// or the namespace's labels match the namespace selector, and the pod's
// labels match the label selector. TopologyKey names the node label whose
// value is the term's domain. Build it with NewPodAffinityTerm.
type PodAffinityTerm struct {
	TopologyKey string
	namespaces  []string
	nsSelector  labels.Selector // labels.Nothing() without a namespace selector
	selector    labels.Selector // labels.Nothing() without a label selector
	key         string          // identity of the term, for the shared counts
}

// WeightedPodAffinityTerm is a preferred inter-pod (anti-)affinity term.
type WeightedPodAffinityTerm struct {
	Weight int32
	Term   PodAffinityTerm
}

// NewPodAffinityTerm resolves a term of a pod in namespace podNamespace.
// matchLabelKeys and mismatchLabelKeys are not read: the API server merges
// them into the label selector when it admits the pod. A selector that does
// not parse (the API server rejects those) matches no pod.
func NewPodAffinityTerm(podNamespace string, t *corev1.PodAffinityTerm) PodAffinityTerm {
	out := PodAffinityTerm{TopologyKey: t.TopologyKey, selector: selectorOf(t.LabelSelector), nsSelector: selectorOf(t.NamespaceSelector)}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		out.namespaces = []string{podNamespace}
	} else {
		out.namespaces = slices.Compact(slices.Sorted(slices.Values(t.Namespaces)))
	}
	var b strings.Builder
	b.WriteString(strings.Join(out.namespaces, ","))
	b.WriteByte('|')
	b.WriteString(selectorKey(out.selector))
	b.WriteByte('|')
	b.WriteString(selectorKey(out.nsSelector))
	b.WriteByte('|')
	b.WriteString(t.TopologyKey)
	out.key = b.String()
	return out
}

func selectorOf(s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s) // nil → Nothing, {} → Everything
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// selectorKey is a selector's canonical text; Nothing and Everything both
// print as "", so Nothing gets a text of its own.
func selectorKey(s labels.Selector) string {
	if _, ok := s.Requirements(); !ok {
		return "<nothing>"
	}
	return s.String()
}

// matches reports whether a pod of namespace ns with podLabels matches the
// term; nsLabels are the labels of namespace ns.
func (t *PodAffinityTerm) matches(ns string, podLabels, nsLabels labels.Set) bool {
	if slices.Contains(t.namespaces, ns) || t.nsSelector.Matches(nsLabels) {
		return t.selector.Matches(podLabels)
	}
	return false
}

// pairCounts counts, per domain of each term's topology key, the placed
// pods that match terms. For the terms of one required affinity (all), a
// pod counts only if it matches every term, and then in the domain of each
// term's key, as kube-scheduler's affinityCounts; otherwise terms holds one
// term.
type pairCounts struct {
	terms  []PodAffinityTerm
	all    bool
	doms   []*keyDomains // of each term's key
	counts [][]int       // per term, per domain
	total  int           // pods counted in some domain, over all terms
}

func (c *pairCounts) add(p *placedPod) {
	if c.all {
		for i := range c.terms {
			if !c.terms[i].matches(p.ns, p.labels, p.nsLabels) {
				return
			}
		}
	} else if !c.terms[0].matches(p.ns, p.labels, p.nsLabels) {
		return
	}
	for i := range c.terms {
		if d := c.doms[i].of[p.node]; d >= 0 {
			c.counts[i][d]++
			c.total++
		}
	}
}

// heldTerm is a required anti-affinity term that placed pods hold, with how
// many of them are in each domain of its key.
type heldTerm struct {
	term PodAffinityTerm
	dom  *keyDomains
	n    []int
}

// forbiddenDomains are domains of one key the pod may not go to.
type forbiddenDomains struct {
	dom *keyDomains
	in  []bool
}

// podAffinityState is the per-pod precomputation of the inter-pod checks
// (kube-scheduler's InterPodAffinity PreFilter): the counts a pod's terms
// are checked against and the domains placed pods' anti-affinity forbids.
type podAffinityState struct {
	affinity     *pairCounts // nil: no required pod affinity
	affinitySelf bool        // the pod matches all its own affinity terms
	anti         []*pairCounts
	// forbidden are the domains of placed pods whose required anti-affinity
	// the pod matches, one entry per topology key.
	forbidden []forbiddenDomains
}

func (s *podAffinityState) prepare(pod *PodRequest, t *topology) {
	s.affinity, s.anti, s.forbidden = nil, s.anti[:0], s.forbidden[:0]
	if len(pod.PodAffinity) > 0 {
		s.affinity = t.affinityCounts(pod.PodAffinity)
		own := t.namespaceLabels(pod.Namespace)
		s.affinitySelf = true
		for i := range pod.PodAffinity {
			s.affinitySelf = s.affinitySelf && pod.PodAffinity[i].matches(pod.Namespace, pod.Labels, own)
		}
	}
	for i := range pod.PodAntiAffinity {
		s.anti = append(s.anti, t.termCounts(&pod.PodAntiAffinity[i]))
	}
	if len(t.held) == 0 {
		return
	}
	own := t.namespaceLabels(pod.Namespace)
	for _, h := range t.heldOrder {
		if !h.term.matches(pod.Namespace, pod.Labels, own) {
			continue
		}
		j := slices.IndexFunc(s.forbidden, func(f forbiddenDomains) bool { return f.dom == h.dom })
		if j < 0 {
			s.forbidden = append(s.forbidden, forbiddenDomains{dom: h.dom, in: make([]bool, len(h.dom.values))})
			j = len(s.forbidden) - 1
		}
		for d, n := range h.n {
			if n > 0 {
				s.forbidden[j].in[d] = true
			}
		}
	}
}

func (s *podAffinityState) active() bool {
	return s.affinity != nil || len(s.anti) > 0 || len(s.forbidden) > 0
}

// check is kube-scheduler's InterPodAffinity Filter against a node, written
// here because it is the hot path: the plugin (in k8s.io/kubernetes, not a
// dependency) rebuilds its counts from every pod on every node for each pod,
// while here they are kept up to date across the plan (topology) and a pod
// only indexes them by the node's domain number; selectors are
// apimachinery's own labels.Selector, and TestFeasibleAsKubeScheduler holds
// the result to the plugin's. It checks the pod's required affinity (every
// topology key on the node, and a matching pod in each term's domain, unless
// no pod anywhere matches and the pod matches its own terms: the first of a
// group that attracts itself), its required anti-affinity (no matching pod
// in any term's domain), and the anti-affinity of the pods already placed
// (the node is in no domain they forbid the pod). Slice indexing only: it
// allocates nothing and hashes no string.
func (s *podAffinityState) check(node int) (reasonIndex, bool) {
	if a := s.affinity; a != nil {
		exist := true
		for i := range a.terms {
			d := a.doms[i].of[node]
			if d < 0 {
				return reasonPodAffinity, false
			}
			if a.counts[i][d] <= 0 {
				exist = false
			}
		}
		if !exist && !(a.total == 0 && s.affinitySelf) {
			return reasonPodAffinity, false
		}
	}
	for _, c := range s.anti {
		if d := c.doms[0].of[node]; d >= 0 && c.counts[0][d] > 0 {
			return reasonPodAntiAffinity, false
		}
	}
	for i := range s.forbidden {
		if d := s.forbidden[i].dom.of[node]; d >= 0 && s.forbidden[i].in[d] {
			return reasonExistingAntiAffinity, false
		}
	}
	return 0, true
}

func podAffinityTerms(ns string, in []corev1.PodAffinityTerm) []PodAffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]PodAffinityTerm, len(in))
	for i := range in {
		out[i] = NewPodAffinityTerm(ns, &in[i])
	}
	return out
}

func weightedPodAffinityTerms(ns string, in []corev1.WeightedPodAffinityTerm) []WeightedPodAffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]WeightedPodAffinityTerm, len(in))
	for i := range in {
		out[i] = WeightedPodAffinityTerm{Weight: in[i].Weight, Term: NewPodAffinityTerm(ns, &in[i].PodAffinityTerm)}
	}
	return out
}
