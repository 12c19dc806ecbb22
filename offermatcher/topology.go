package offermatcher

import (
	"maps"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Cluster is what placement knows besides the pods to place and the offers:
// the nodes and the pods already on them, which inter-pod affinity and
// topology spread count, and how to score. The zero Cluster knows of no
// other node and no placed pod.
type Cluster struct {
	// Nodes are agents known without an offer held now (an offer's node is
	// known from the offer). Their pods count in their topology domains, and
	// their domains count for topology spread, as every node does in
	// kube-scheduler.
	Nodes []Node
	// Pods are the pods already bound to or launched on a node.
	Pods []PlacedPod
	// NamespaceLabels are the labels of namespaces, for namespace selectors
	// of inter-pod affinity terms. A namespace not listed has only the label
	// the API server gives every namespace, kubernetes.io/metadata.name.
	NamespaceLabels map[string]map[string]string
	// Scoring is how resources weigh in the choice among offers.
	Scoring Scoring
	// Explain makes Match record, for each unplaced pod, the reason of every
	// offer (Unplaced.ByOffer).
	Explain bool
}

// Node is a node (agent) placement knows of: its name, its labels and its
// Node's taints.
type Node struct {
	Name   string
	Labels map[string]string
	Taints []corev1.Taint
}

// PlacedPod is a pod bound to or launched on a node, reduced to what
// inter-pod affinity and topology spread read of it.
type PlacedPod struct {
	Namespace string
	NodeName  string
	Labels    map[string]string
	// Terminating pods (deletionTimestamp set) do not count for topology
	// spread, as in kube-scheduler; they still count for inter-pod affinity.
	Terminating bool
	// PodAntiAffinity is the pod's required anti-affinity: it keeps pods it
	// matches out of its domains.
	PodAntiAffinity []PodAffinityTerm
	// PodAffinity, PreferredPodAffinity and PreferredPodAntiAffinity draw
	// the pods they match to (or away from) the pod's domains, in scores:
	// the symmetric half of kube-scheduler's InterPodAffinity score (a
	// required term weighs hardPodAffinityWeight, 1).
	PodAffinity                                    []PodAffinityTerm
	PreferredPodAffinity, PreferredPodAntiAffinity []WeightedPodAffinityTerm
}

// PlacedPodOf reduces a pod on node nodeName.
func PlacedPodOf(pod *corev1.Pod, nodeName string) PlacedPod {
	p := PlacedPod{Namespace: pod.Namespace, NodeName: nodeName, Labels: pod.Labels, Terminating: pod.DeletionTimestamp != nil}
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAntiAffinity != nil {
			p.PodAntiAffinity = podAffinityTerms(pod.Namespace, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			p.PreferredPodAntiAffinity = weightedPodAffinityTerms(pod.Namespace, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if a.PodAffinity != nil {
			p.PodAffinity = podAffinityTerms(pod.Namespace, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			p.PreferredPodAffinity = weightedPodAffinityTerms(pod.Namespace, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return p
}

// podTerms are the inter-pod terms a placed pod holds against others.
type podTerms struct {
	anti, affinity           []PodAffinityTerm
	preferred, preferredAnti []WeightedPodAffinityTerm
}

// hardPodAffinityWeight is the score weight of a placed pod's required
// affinity term for the pods it matches (kube-scheduler's default).
const hardPodAffinityWeight = 1

// heldScore is a scoring term placed pods hold, with its weight (negative
// for anti-affinity) and how many holders are in each domain of its key.
type heldScore struct {
	term   PodAffinityTerm
	weight int64
	dom    *keyDomains
	n      []int
}

// nodeState is a node in the topology.
type nodeState struct {
	name   string
	labels map[string]string
	taints []corev1.Taint
}

// placedPod is a pod in the topology.
type placedPod struct {
	ns          string
	labels      labels.Set
	nsLabels    labels.Set
	node        int
	terminating bool
}

// topology is the nodes and the placed pods (given, and placed by this
// Match so far), with counts kept up to date as pods are placed, so that a
// pod's preparation reads counts instead of walking every placed pod.
// Counts are created on first use (walking the pods once) and then kept.
type topology struct {
	nodes    []nodeState
	byName   map[string]int
	pods     []placedPod
	nsGiven  map[string]map[string]string
	nsLabels map[string]labels.Set

	keys      map[string]*keyDomains // the domains of each topology key, numbered
	affinity  map[string]*pairCounts // the terms of one required affinity, by their keys
	single    map[string]*pairCounts // one term, by its key
	held      map[string]*heldTerm   // required anti-affinity of placed pods, by term key
	heldOrder []*heldTerm            // held, in the order first seen
	scores    map[string]*heldScore  // scoring terms of placed pods, by term key and weight
	scoreList []*heldScore           // scores, in the order first seen
	matching  map[string]*nodeCounts // pods of a namespace matching a selector, by namespace and selector
}

// keyDomains numbers the domains (values) of one topology key: of[node] is
// the domain of each node, -1 for a node without the key. The checks index
// counts by these numbers instead of hashing label values.
type keyDomains struct {
	key    string
	of     []int32
	values []string
}

// domains numbers the domains of key, once per Match.
func (t *topology) domains(key string) *keyDomains {
	if k, ok := t.keys[key]; ok {
		return k
	}
	if t.keys == nil {
		t.keys = map[string]*keyDomains{}
	}
	k := &keyDomains{key: key, of: make([]int32, len(t.nodes))}
	ids := map[string]int32{}
	for i := range t.nodes {
		v, ok := t.nodes[i].labels[key]
		if !ok {
			k.of[i] = -1
			continue
		}
		id, seen := ids[v]
		if !seen {
			id = int32(len(k.values))
			ids[v] = id
			k.values = append(k.values, v)
		}
		k.of[i] = id
	}
	t.keys[key] = k
	return k
}

func (t *topology) newPairCounts(terms []PodAffinityTerm, all bool) *pairCounts {
	c := &pairCounts{terms: terms, all: all, doms: make([]*keyDomains, len(terms)), counts: make([][]int, len(terms))}
	for i := range terms {
		c.doms[i] = t.domains(terms[i].TopologyKey)
		c.counts[i] = make([]int, len(c.doms[i].values))
	}
	for i := range t.pods {
		c.add(&t.pods[i])
	}
	return c
}

// nodeCounts counts per node the non-terminating pods of ns that sel
// matches (topology spread's countPodsMatchSelector).
type nodeCounts struct {
	ns  string
	sel labels.Selector
	n   []int
}

func (c *nodeCounts) add(p *placedPod) {
	if !p.terminating && p.ns == c.ns && !c.sel.Empty() && c.sel.Matches(p.labels) {
		c.n[p.node]++
	}
}

func newTopology(offers []Offer, c *Cluster) *topology {
	t := &topology{byName: make(map[string]int, len(offers)+len(c.Nodes)), nsGiven: c.NamespaceLabels, nsLabels: map[string]labels.Set{}}
	for i := range offers {
		o := &offers[i]
		name := offerNode(o)
		if _, ok := t.byName[name]; !ok {
			t.byName[name] = len(t.nodes)
			t.nodes = append(t.nodes, nodeState{name: name, labels: o.Labels, taints: o.Taints})
		}
	}
	for _, n := range c.Nodes {
		if _, ok := t.byName[n.Name]; !ok {
			t.byName[n.Name] = len(t.nodes)
			t.nodes = append(t.nodes, nodeState{name: n.Name, labels: n.Labels, taints: n.Taints})
		}
	}
	for i := range c.Pods {
		if _, ok := t.byName[c.Pods[i].NodeName]; !ok {
			// A node nothing else is known of: its pods are in no domain.
			t.byName[c.Pods[i].NodeName] = len(t.nodes)
			t.nodes = append(t.nodes, nodeState{name: c.Pods[i].NodeName})
		}
	}
	for i := range c.Pods {
		p := &c.Pods[i]
		t.add(p.Namespace, p.Labels, t.byName[p.NodeName], p.Terminating,
			podTerms{p.PodAntiAffinity, p.PodAffinity, p.PreferredPodAffinity, p.PreferredPodAntiAffinity})
	}
	return t
}

// offerNode is the node an offer is from: its node name, or the offer
// itself when it names none.
func offerNode(o *Offer) string {
	if o.NodeName == "" {
		return "offer/" + o.ID
	}
	return o.NodeName
}

func (t *topology) namespaceLabels(ns string) labels.Set {
	if l, ok := t.nsLabels[ns]; ok {
		return l
	}
	l := labels.Set(maps.Clone(t.nsGiven[ns]))
	if l == nil {
		l = labels.Set{}
	}
	if _, ok := l[corev1.LabelMetadataName]; !ok {
		l[corev1.LabelMetadataName] = ns
	}
	t.nsLabels[ns] = l
	return l
}

// add records a pod on node and updates every count.
func (t *topology) add(ns string, podLabels map[string]string, node int, terminating bool, terms podTerms) {
	anti := terms.anti
	t.pods = append(t.pods, placedPod{ns: ns, labels: podLabels, nsLabels: t.namespaceLabels(ns), node: node, terminating: terminating})
	p := &t.pods[len(t.pods)-1]
	for _, c := range t.affinity {
		c.add(p)
	}
	for _, c := range t.single {
		c.add(p)
	}
	for _, c := range t.matching {
		c.add(p)
	}
	for i := range anti {
		h := t.held[anti[i].key]
		if h == nil {
			if t.held == nil {
				t.held = map[string]*heldTerm{}
			}
			dom := t.domains(anti[i].TopologyKey)
			h = &heldTerm{term: anti[i], dom: dom, n: make([]int, len(dom.values))}
			t.held[anti[i].key] = h
			t.heldOrder = append(t.heldOrder, h)
		}
		if d := h.dom.of[node]; d >= 0 {
			h.n[d]++
		}
	}
	for i := range terms.affinity {
		t.holdScore(&terms.affinity[i], hardPodAffinityWeight, node)
	}
	for i := range terms.preferred {
		t.holdScore(&terms.preferred[i].Term, int64(terms.preferred[i].Weight), node)
	}
	for i := range terms.preferredAnti {
		t.holdScore(&terms.preferredAnti[i].Term, -int64(terms.preferredAnti[i].Weight), node)
	}
}

// affinityCounts are the counts of the terms of one required affinity.
func (t *topology) affinityCounts(terms []PodAffinityTerm) *pairCounts {
	keys := make([]string, len(terms))
	for i := range terms {
		keys[i] = terms[i].key
	}
	key := strings.Join(keys, "\x00")
	if c, ok := t.affinity[key]; ok {
		return c
	}
	if t.affinity == nil {
		t.affinity = map[string]*pairCounts{}
	}
	c := t.newPairCounts(terms, true)
	t.affinity[key] = c
	return c
}

// termCounts are the counts of one term.
func (t *topology) termCounts(term *PodAffinityTerm) *pairCounts {
	if c, ok := t.single[term.key]; ok {
		return c
	}
	if t.single == nil {
		t.single = map[string]*pairCounts{}
	}
	c := t.newPairCounts([]PodAffinityTerm{*term}, false)
	t.single[term.key] = c
	return c
}

// matchingCounts are the per-node counts of pods of ns matching sel.
func (t *topology) matchingCounts(ns string, sel labels.Selector, selKey string) *nodeCounts {
	key := ns + "|" + selKey
	if c, ok := t.matching[key]; ok {
		return c
	}
	if t.matching == nil {
		t.matching = map[string]*nodeCounts{}
	}
	c := &nodeCounts{ns: ns, sel: sel, n: make([]int, len(t.nodes))}
	for i := range t.pods {
		c.add(&t.pods[i])
	}
	t.matching[key] = c
	return c
}

// holdScore records a scoring term of a pod placed on node.
func (t *topology) holdScore(term *PodAffinityTerm, weight int64, node int) {
	key := term.key + "|" + strconv.FormatInt(weight, 10)
	h := t.scores[key]
	if h == nil {
		if t.scores == nil {
			t.scores = map[string]*heldScore{}
		}
		dom := t.domains(term.TopologyKey)
		h = &heldScore{term: *term, weight: weight, dom: dom, n: make([]int, len(dom.values))}
		t.scores[key] = h
		t.scoreList = append(t.scoreList, h)
	}
	if d := h.dom.of[node]; d >= 0 {
		h.n[d]++
	}
}
