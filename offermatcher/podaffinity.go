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

// topologyPair is a topology domain: a node label and its value.
type topologyPair struct{ key, value string }

// pairCounts counts, per topology domain, the placed pods that match terms.
// For the terms of one required affinity (all), a pod counts only if it
// matches every term, and then in the domain of each term's key, as
// kube-scheduler's affinityCounts; otherwise terms holds one term.
type pairCounts struct {
	terms  []PodAffinityTerm
	all    bool
	counts map[topologyPair]int
}

func (c *pairCounts) add(p *placedPod, n *nodeState) {
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
		if v, ok := n.labels[c.terms[i].TopologyKey]; ok {
			c.counts[topologyPair{c.terms[i].TopologyKey, v}]++
		}
	}
}

// heldTerm is a required anti-affinity term that placed pods hold, with the
// domains (values of its topology key) those pods are in.
type heldTerm struct {
	term    PodAffinityTerm
	domains map[string]int
}

// podAffinityState is the per-pod precomputation of the inter-pod checks
// (kube-scheduler's InterPodAffinity PreFilter): the counts a pod's terms
// are checked against and the domains placed pods' anti-affinity forbids.
type podAffinityState struct {
	affinity     *pairCounts // nil: no required pod affinity
	affinityKeys []string
	affinitySelf bool // the pod matches all its own affinity terms
	anti         []*pairCounts
	// forbidden are the domains of placed pods whose required anti-affinity
	// the pod matches; forbiddenKeys their keys, each once.
	forbidden     map[topologyPair]bool
	forbiddenKeys []string
}

func (s *podAffinityState) prepare(pod *PodRequest, t *topology) {
	s.affinity, s.affinityKeys, s.anti = nil, s.affinityKeys[:0], s.anti[:0]
	if len(pod.PodAffinity) > 0 {
		s.affinity = t.affinityCounts(pod.PodAffinity)
		own := t.namespaceLabels(pod.Namespace)
		s.affinitySelf = true
		for i := range pod.PodAffinity {
			s.affinityKeys = append(s.affinityKeys, pod.PodAffinity[i].TopologyKey)
			s.affinitySelf = s.affinitySelf && pod.PodAffinity[i].matches(pod.Namespace, pod.Labels, own)
		}
	}
	for i := range pod.PodAntiAffinity {
		s.anti = append(s.anti, t.termCounts(&pod.PodAntiAffinity[i]))
	}
	clear(s.forbidden)
	s.forbiddenKeys = s.forbiddenKeys[:0]
	if len(t.held) == 0 {
		return
	}
	if s.forbidden == nil {
		s.forbidden = map[topologyPair]bool{}
	}
	own := t.namespaceLabels(pod.Namespace)
	for _, h := range t.held {
		if !h.term.matches(pod.Namespace, pod.Labels, own) {
			continue
		}
		for v, n := range h.domains {
			if n > 0 {
				s.forbidden[topologyPair{h.term.TopologyKey, v}] = true
			}
		}
		if !slices.Contains(s.forbiddenKeys, h.term.TopologyKey) {
			s.forbiddenKeys = append(s.forbiddenKeys, h.term.TopologyKey)
		}
	}
}

func (s *podAffinityState) active() bool {
	return s.affinity != nil || len(s.anti) > 0 || len(s.forbiddenKeys) > 0
}

// check is kube-scheduler's InterPodAffinity Filter against a node, written
// here because it is the hot path: the plugin (in k8s.io/kubernetes, not a
// dependency) rebuilds its counts from every pod on every node for each pod,
// while here they are kept up to date across the plan (topology) and a pod
// only looks them up; selectors are apimachinery's own labels.Selector, and
// TestFeasibleAsKubeScheduler holds the result to the plugin's. It checks the
// pod's required affinity (every topology key on the node, and a matching
// pod in each term's domain, unless no pod anywhere matches and the pod
// matches its own terms: the first of a group that attracts itself), its
// required anti-affinity (no matching pod in any term's domain), and the
// anti-affinity of the pods already placed (the node is in no domain they
// forbid the pod). Map lookups only: it allocates nothing.
func (s *podAffinityState) check(n *nodeState) (reasonIndex, bool) {
	if s.affinity != nil {
		exist := true
		for _, k := range s.affinityKeys {
			v, ok := n.labels[k]
			if !ok {
				return reasonPodAffinity, false
			}
			if s.affinity.counts[topologyPair{k, v}] <= 0 {
				exist = false
			}
		}
		if !exist && !(len(s.affinity.counts) == 0 && s.affinitySelf) {
			return reasonPodAffinity, false
		}
	}
	for _, c := range s.anti {
		k := c.terms[0].TopologyKey
		if v, ok := n.labels[k]; ok && c.counts[topologyPair{k, v}] > 0 {
			return reasonPodAntiAffinity, false
		}
	}
	for _, k := range s.forbiddenKeys {
		if v, ok := n.labels[k]; ok && s.forbidden[topologyPair{k, v}] {
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
