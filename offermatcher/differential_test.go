package offermatcher

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"pgregory.net/rapid"
)

// TestFeasibleAsKubeScheduler is the differential test of the filters: for
// random nodes, pods on them and a pod to place, the offers (one per node)
// that offermatcher finds feasible are exactly the nodes kube-scheduler's
// filters pass: NodeAffinity (nodeSelector and required node affinity, by
// component-helpers' nodeaffinity.RequiredNodeAffinity), TaintToleration
// (component-helpers' FindMatchingUntoleratedTaint), PodTopologySpread and
// InterPodAffinity. For the last two no helper exists outside
// k8s.io/kubernetes, whose module this one does not require (it brings the
// whole scheduler and its feature gates into go.mod): kubeSpreadFilter and
// kubeInterPodFilter below are the plugins' PreFilter and Filter
// (pkg/scheduler/framework/plugins/podtopologyspread/filtering.go and
// interpodaffinity/filtering.go, v1.36) transcribed, walking every pod on
// every node with the plugins' own types' semantics (labels.Selector,
// namespace sets), independent of offermatcher's precomputed counts.
func TestFeasibleAsKubeScheduler(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := genKubeNodes(t)
		nsLabels := map[string]map[string]string{
			"default": {corev1.LabelMetadataName: "default"},
			"other":   {corev1.LabelMetadataName: "other", "team": "x"},
			"plain":   {corev1.LabelMetadataName: "plain"},
		}
		var existing []*corev1.Pod
		for i := range rapid.IntRange(0, 8).Draw(t, "existing") {
			p := genKubePod(t, fmt.Sprint("e", i), false)
			p.Spec.NodeName = nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "on")].Name
			if rapid.IntRange(0, 5).Draw(t, "terminating") == 0 {
				now := metav1.Now()
				p.DeletionTimestamp = &now
			}
			existing = append(existing, p)
		}
		pod := genKubePod(t, "new", true)

		want := map[string]bool{}
		for _, n := range nodes {
			want[n.Name] = kubeFeasible(pod, n, nodes, existing, nsLabels)
		}

		var c Cluster
		c.NamespaceLabels = nsLabels
		for _, p := range existing {
			c.Pods = append(c.Pods, PlacedPodOf(p, p.Spec.NodeName))
		}
		for _, n := range nodes {
			c.Nodes = append(c.Nodes, Node{Name: n.Name, Labels: n.Labels, Taints: n.Spec.Taints})
		}
		r := FromPod(pod, Resources{MilliCPU: 10, MemoryMB: 16})
		for _, n := range nodes {
			o := Offer{ID: "o-" + n.Name, AgentID: n.Name, NodeName: n.Name, Labels: n.Labels, Taints: n.Spec.Taints,
				Resources: Resources{MilliCPU: 100_000, MemoryMB: 100_000, DiskMB: 100_000}}
			plan := c.Match([]PodRequest{r}, []Offer{o})
			if got := len(plan.Assignments) == 1; got != want[n.Name] {
				t.Fatalf("node %s %v taints %v: offermatcher feasible %v (%v), kube-scheduler %v\npod %s\nexisting %s",
					n.Name, n.Labels, n.Spec.Taints, got, plan.Unplaced, want[n.Name], describe(pod), describeAll(existing))
			}
		}
	})
}

// TestBatchFeasibleAsKubeScheduler: for a random batch of pods placed by
// one Match, each pod goes to a node kube-scheduler's filters pass given the
// pods already on nodes and the batch's pods placed before it (as
// kube-scheduler sees its assumed pods), and a pod left unplaced fits no
// node given the same. This holds the counts offermatcher keeps across a
// plan to the plugins' semantics.
func TestBatchFeasibleAsKubeScheduler(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := genKubeNodes(t)
		nsLabels := map[string]map[string]string{
			"default": {corev1.LabelMetadataName: "default"},
			"other":   {corev1.LabelMetadataName: "other", "team": "x"},
			"plain":   {corev1.LabelMetadataName: "plain"},
		}
		var existing []*corev1.Pod
		for i := range rapid.IntRange(0, 4).Draw(t, "existing") {
			p := genKubePod(t, fmt.Sprint("e", i), false)
			p.Spec.NodeName = nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "on")].Name
			existing = append(existing, p)
		}
		var batch []*corev1.Pod
		var reqs []PodRequest
		for i := range rapid.IntRange(1, 5).Draw(t, "batch") {
			p := genKubePod(t, fmt.Sprint("b", i), true)
			batch = append(batch, p)
			reqs = append(reqs, FromPod(p, Resources{MilliCPU: 10, MemoryMB: 16}))
		}
		c := Cluster{NamespaceLabels: nsLabels}
		for _, p := range existing {
			c.Pods = append(c.Pods, PlacedPodOf(p, p.Spec.NodeName))
		}
		var offers []Offer
		for _, n := range nodes {
			offers = append(offers, Offer{ID: "o-" + n.Name, AgentID: n.Name, NodeName: n.Name, Labels: n.Labels, Taints: n.Spec.Taints,
				Resources: Resources{MilliCPU: 100_000, MemoryMB: 100_000, DiskMB: 100_000}})
		}
		plan := c.Match(reqs, offers)
		placedOn := map[string]string{}
		for _, a := range plan.Assignments {
			placedOn[a.Pod.Key] = strings.TrimPrefix(a.OfferID, "o-")
		}
		on := slices.Clone(existing)
		for _, p := range batch {
			node, placed := placedOn[p.Namespace+"/"+p.Name]
			if !placed {
				for _, n := range nodes {
					if kubeFeasible(p, n, nodes, on, nsLabels) {
						t.Fatalf("%s unplaced but kube-scheduler passes %s\npod %s\non nodes %s", p.Name, n.Name, describe(p), describeAll(on))
					}
				}
				continue
			}
			i := slices.IndexFunc(nodes, func(n *corev1.Node) bool { return n.Name == node })
			if !kubeFeasible(p, nodes[i], nodes, on, nsLabels) {
				t.Fatalf("%s placed on %s, which kube-scheduler rejects\npod %s\non nodes %s", p.Name, node, describe(p), describeAll(on))
			}
			bound := p.DeepCopy()
			bound.Spec.NodeName = node
			on = append(on, bound)
		}
	})
}

var (
	diffKeys     = []string{corev1.LabelHostname, corev1.LabelTopologyZone, "rack"}
	diffApps     = []string{"web", "db"}
	diffSpaces   = []string{"default", "other", "plain"}
	diffPolicies = []*corev1.NodeInclusionPolicy{nil, ptrTo(corev1.NodeInclusionPolicyHonor), ptrTo(corev1.NodeInclusionPolicyIgnore)}
)

func ptrTo[T any](v T) *T { return &v }

func genKubeNodes(t *rapid.T) []*corev1.Node {
	n := rapid.IntRange(1, 5).Draw(t, "nodes")
	out := make([]*corev1.Node, n)
	for i := range out {
		name := fmt.Sprint("node-", i)
		l := map[string]string{corev1.LabelHostname: name}
		if z := rapid.IntRange(0, 3).Draw(t, "zone"); z < 3 {
			l[corev1.LabelTopologyZone] = string(rune('a' + z))
		}
		if r := rapid.IntRange(0, 2).Draw(t, "rack"); r < 2 {
			l["rack"] = fmt.Sprint(r)
		}
		if rapid.Bool().Draw(t, "ssd") {
			l["disk"] = "ssd"
		}
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
		if rapid.IntRange(0, 3).Draw(t, "tainted") == 0 {
			node.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: rapid.SampledFrom([]string{"a", "b"}).Draw(t, "taintv"),
				Effect: rapid.SampledFrom([]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}).Draw(t, "effect")}}
		}
		out[i] = node
	}
	return out
}

func genSelector(t *rapid.T, label string) *metav1.LabelSelector {
	switch rapid.IntRange(0, 5).Draw(t, label) {
	case 0:
		return nil
	case 1:
		return &metav1.LabelSelector{}
	case 2:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}
	case 3:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn,
			Values: []string{rapid.SampledFrom(diffApps).Draw(t, label+"v")}}}}
	default:
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": rapid.SampledFrom(diffApps).Draw(t, label+"v")}}
	}
}

func genTerm(t *rapid.T) corev1.PodAffinityTerm {
	term := corev1.PodAffinityTerm{TopologyKey: rapid.SampledFrom(diffKeys).Draw(t, "tkey"), LabelSelector: genSelector(t, "tsel")}
	switch rapid.IntRange(0, 4).Draw(t, "tns") {
	case 0:
		term.Namespaces = []string{rapid.SampledFrom(diffSpaces).Draw(t, "tnsname")}
	case 1:
		term.NamespaceSelector = &metav1.LabelSelector{}
	case 2:
		term.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
	}
	return term
}

// genKubePod is a pod of a random namespace and app; an incoming pod also
// gets node selection, tolerations, affinity terms and spread constraints.
func genKubePod(t *rapid.T, name string, incoming bool) *corev1.Pod {
	ns := "default"
	if !incoming {
		ns = rapid.SampledFrom(diffSpaces).Draw(t, "ns")
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}}}
	if a := rapid.IntRange(0, 2).Draw(t, "app"); a < 2 {
		p.Labels["app"] = diffApps[a]
	}
	if rapid.Bool().Draw(t, "hashed") {
		p.Labels["pod-template-hash"] = rapid.SampledFrom([]string{"h1", "h2"}).Draw(t, "hash")
	}
	aff := &corev1.Affinity{}
	for range rapid.IntRange(0, 1).Draw(t, "anti") {
		if aff.PodAntiAffinity == nil {
			aff.PodAntiAffinity = &corev1.PodAntiAffinity{}
		}
		aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, genTerm(t))
	}
	if incoming {
		for range rapid.IntRange(0, 2).Draw(t, "affinity") {
			if aff.PodAffinity == nil {
				aff.PodAffinity = &corev1.PodAffinity{}
			}
			aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, genTerm(t))
		}
		if rapid.IntRange(0, 3).Draw(t, "selector") == 0 {
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}
		if rapid.IntRange(0, 3).Draw(t, "nodeaffinity") == 0 {
			aff.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn,
					Values: []string{rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "nazone")}}},
			}}}}
		}
		if rapid.Bool().Draw(t, "tolerates") {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "a"}}
		}
		for range rapid.IntRange(0, 2).Draw(t, "spread") {
			c := corev1.TopologySpreadConstraint{
				MaxSkew:            int32(rapid.IntRange(1, 2).Draw(t, "skew")),
				TopologyKey:        rapid.SampledFrom(diffKeys).Draw(t, "skey"),
				WhenUnsatisfiable:  corev1.DoNotSchedule,
				LabelSelector:      genSelector(t, "ssel"),
				NodeAffinityPolicy: rapid.SampledFrom(diffPolicies).Draw(t, "nap"),
				NodeTaintsPolicy:   rapid.SampledFrom(diffPolicies).Draw(t, "ntp"),
			}
			if m := rapid.IntRange(0, 4).Draw(t, "mindomains"); m > 0 {
				c.MinDomains = ptrTo(int32(m))
			}
			if c.LabelSelector != nil && rapid.Bool().Draw(t, "matchlabelkeys") {
				c.MatchLabelKeys = []string{"pod-template-hash"}
			}
			if rapid.IntRange(0, 3).Draw(t, "soft") == 0 {
				c.WhenUnsatisfiable = corev1.ScheduleAnyway
			}
			p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
		}
	}
	if aff.PodAntiAffinity != nil || aff.PodAffinity != nil || aff.NodeAffinity != nil {
		p.Spec.Affinity = aff
	}
	return p
}

func kubeFeasible(pod *corev1.Pod, node *corev1.Node, nodes []*corev1.Node, existing []*corev1.Pod, nsLabels map[string]map[string]string) bool {
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return false
	}
	if _, untolerated := v1helper.FindMatchingUntoleratedTaint(logr.Discard(), node.Spec.Taints, pod.Spec.Tolerations, doNotScheduleTaints, false); untolerated {
		return false
	}
	return kubeSpreadFilter(pod, node, nodes, existing) && kubeInterPodFilter(pod, node, nodes, existing, nsLabels)
}

func doNotScheduleTaints(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

func podsOn(node string, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

// kubeConstraint is podtopologyspread's topologySpreadConstraint.
type kubeConstraint struct {
	maxSkew, minDomains        int32
	key                        string
	selector                   labels.Selector
	honorAffinity, honorTaints bool
}

// kubeSpreadFilter is PodTopologySpread's calPreFilterState and Filter.
func kubeSpreadFilter(pod *corev1.Pod, node *corev1.Node, nodes []*corev1.Node, existing []*corev1.Pod) bool {
	var cs []kubeConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			panic(err)
		}
		if len(c.MatchLabelKeys) > 0 {
			set := labels.Set{}
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					set[k] = v
				}
			}
			if len(set) > 0 { // mergeLabelSetWithSelector
				if reqs, ok := sel.Requirements(); ok {
					merged := labels.SelectorFromSet(set)
					for _, r := range reqs {
						merged = merged.Add(r)
					}
					sel = merged
				}
			}
		}
		kc := kubeConstraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel, minDomains: 1, honorAffinity: true}
		if c.MinDomains != nil {
			kc.minDomains = *c.MinDomains
		}
		if c.NodeAffinityPolicy != nil {
			kc.honorAffinity = *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor
		}
		if c.NodeTaintsPolicy != nil {
			kc.honorTaints = *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor
		}
		cs = append(cs, kc)
	}
	if len(cs) == 0 {
		return true
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	matchNum := make([]map[string]int, len(cs))
	for i := range matchNum {
		matchNum[i] = map[string]int{}
	}
	for _, n := range nodes {
		hasAll := true
		for _, c := range cs {
			if _, ok := n.Labels[c.key]; !ok {
				hasAll = false
			}
		}
		if !hasAll {
			continue
		}
		for i, c := range cs {
			if c.honorAffinity {
				if ok, _ := required.Match(n); !ok {
					continue
				}
			}
			if c.honorTaints {
				if _, untolerated := v1helper.FindMatchingUntoleratedTaint(logr.Discard(), n.Spec.Taints, pod.Spec.Tolerations, doNotScheduleTaints, false); untolerated {
					continue
				}
			}
			count := 0 // countPodsMatchSelector
			if !c.selector.Empty() {
				for _, p := range podsOn(n.Name, existing) {
					if p.DeletionTimestamp == nil && p.Namespace == pod.Namespace && c.selector.Matches(labels.Set(p.Labels)) {
						count++
					}
				}
			}
			matchNum[i][n.Labels[c.key]] += count
		}
	}
	for i, c := range cs {
		v, ok := node.Labels[c.key]
		if !ok {
			return false
		}
		minMatch := math.MaxInt32
		for _, n := range matchNum[i] {
			minMatch = min(minMatch, n)
		}
		if len(matchNum[i]) < int(c.minDomains) {
			minMatch = 0
		}
		self := 0
		if c.selector.Matches(labels.Set(pod.Labels)) {
			self = 1
		}
		if matchNum[i][v]+self-minMatch > int(c.maxSkew) {
			return false
		}
	}
	return true
}

// kubeTerm is framework.AffinityTerm.
type kubeTerm struct {
	namespaces sets.Set[string]
	selector   labels.Selector
	nsSelector labels.Selector
	key        string
}

func newKubeTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm) kubeTerm {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		panic(err)
	}
	nsSel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
	if err != nil {
		panic(err)
	}
	names := sets.New[string]()
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		names.Insert(pod.Namespace)
	} else {
		names.Insert(t.Namespaces...)
	}
	return kubeTerm{names, sel, nsSel, t.TopologyKey}
}

func (at kubeTerm) matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if at.namespaces.Has(pod.Namespace) || at.nsSelector.Matches(nsLabels) {
		return at.selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// mergeNamespaces is mergeAffinityTermNamespacesIfNotEmpty, with the
// namespace lister's namespaces.
func (at *kubeTerm) mergeNamespaces(nsLabels map[string]map[string]string) {
	if at.nsSelector.Empty() {
		return
	}
	for name, l := range nsLabels {
		if at.nsSelector.Matches(labels.Set(l)) {
			at.namespaces.Insert(name)
		}
	}
	at.nsSelector = labels.Nothing()
}

func kubeTerms(pod *corev1.Pod, anti bool) []kubeTerm {
	a := pod.Spec.Affinity
	var in []corev1.PodAffinityTerm
	switch {
	case a == nil:
	case anti && a.PodAntiAffinity != nil:
		in = a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	case !anti && a.PodAffinity != nil:
		in = a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	var out []kubeTerm
	for i := range in {
		out = append(out, newKubeTerm(pod, &in[i]))
	}
	return out
}

type kubePair struct{ key, value string }

// kubeInterPodFilter is InterPodAffinity's PreFilter and Filter.
func kubeInterPodFilter(pod *corev1.Pod, node *corev1.Node, nodes []*corev1.Node, existing []*corev1.Pod, nsLabels map[string]map[string]string) bool {
	affinity, anti := kubeTerms(pod, false), kubeTerms(pod, true)
	for i := range affinity {
		affinity[i].mergeNamespaces(nsLabels)
	}
	for i := range anti {
		anti[i].mergeNamespaces(nsLabels)
	}
	own := labels.Set(nsLabels[pod.Namespace])
	existingAnti, affinityCounts, antiCounts := map[kubePair]int{}, map[kubePair]int{}, map[kubePair]int{}
	matchesAll := func(terms []kubeTerm, p *corev1.Pod) bool {
		if len(terms) == 0 {
			return false
		}
		for _, t := range terms {
			if !t.matches(p, nil) {
				return false
			}
		}
		return true
	}
	for _, n := range nodes {
		for _, p := range podsOn(n.Name, existing) {
			for _, t := range kubeTerms(p, true) {
				if v, ok := n.Labels[t.key]; ok && t.matches(pod, own) {
					existingAnti[kubePair{t.key, v}]++
				}
			}
			if matchesAll(affinity, p) {
				for _, t := range affinity {
					if v, ok := n.Labels[t.key]; ok {
						affinityCounts[kubePair{t.key, v}]++
					}
				}
			}
			for _, t := range anti {
				if v, ok := n.Labels[t.key]; ok && t.matches(p, nil) {
					antiCounts[kubePair{t.key, v}]++
				}
			}
		}
	}
	// satisfyPodAffinity
	podsExist := true
	for _, t := range affinity {
		v, ok := node.Labels[t.key]
		if !ok {
			return false
		}
		if affinityCounts[kubePair{t.key, v}] <= 0 {
			podsExist = false
		}
	}
	if !podsExist && !(len(affinityCounts) == 0 && matchesAll(affinity, pod)) {
		return false
	}
	// satisfyPodAntiAffinity
	for _, t := range anti {
		if v, ok := node.Labels[t.key]; ok && antiCounts[kubePair{t.key, v}] > 0 {
			return false
		}
	}
	// satisfyExistingPodsAntiAffinity
	for k, v := range node.Labels {
		if existingAnti[kubePair{k, v}] > 0 {
			return false
		}
	}
	return true
}

func describe(p *corev1.Pod) string {
	return fmt.Sprintf("%s/%s labels %v spec %+v", p.Namespace, p.Name, p.Labels, p.Spec)
}

func describeAll(ps []*corev1.Pod) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s on %s terminating %v anti %v", describe(p), p.Spec.NodeName, p.DeletionTimestamp != nil, kubeTerms(p, true))
	}
	return fmt.Sprint(slices.Clip(out))
}
