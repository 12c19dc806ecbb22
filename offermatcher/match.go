package offermatcher

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Offer is a held Mesos offer reduced to what placement needs.
type Offer struct {
	ID       string // Mesos offer ID
	AgentID  string
	NodeName string // the future node name (what matchFields metadata.name matches)
	// Labels are every label the agent's node will carry (podtask.NodeLabels):
	// attributes, fault domain, kubernetes.io/hostname, os and arch.
	Labels map[string]string
	// Taints are the taints of the agent's Node, if it exists (an agent
	// without a Node has none), cordon included as
	// node.kubernetes.io/unschedulable:NoSchedule.
	Taints    []corev1.Taint
	Resources Resources
	// UnreservedDiskMB is the part of Resources.DiskMB that is unreserved:
	// what a RESERVE for a new persistent volume can take.
	UnreservedDiskMB int64
	// Volumes are the persistence IDs of the persistent volumes in the
	// offer (volumes.go).
	Volumes []string
	// Revocable are the offer's revocable cpus and memory, apart from
	// Resources (revocable.go).
	Revocable RevocableResources
}

// Assignment places one pod on one offer.
type Assignment struct {
	Pod     PodRequest
	OfferID string
	AgentID string
	Ports   []uint32 // host ports granted, ascending; nil when the pod binds none
	// Revocable says the pod's cpus and memory are the offer's revocable
	// ones (revocable.go); its disk and ports are regular.
	Revocable bool
}

// Unplaced is a pod no offer could take, and why.
type Unplaced struct {
	Pod     PodRequest
	Reasons Reasons
	// ByOffer is the reason each offer (in the order given to Match)
	// rejected the pod, when Cluster.Explain is set.
	ByOffer []Reason
}

// Plan is the outcome of Match. Every pod given to Match appears exactly
// once, either in Assignments or in Unplaced, each list in the pods' order.
type Plan struct {
	Assignments []Assignment
	Unplaced    []Unplaced
}

// Match places pods, in the given (priority) order, onto offers, knowing of
// no node but the offers' and of no pod already placed: Cluster{}.Match.
func Match(pods []PodRequest, offers []Offer) Plan { return Cluster{}.Match(pods, offers) }

// Match places pods, in the given (priority) order, onto offers. Each pod
// goes to at most one offer; many pods may share an offer, whose remaining
// resources and ports shrink as pods are placed on it, so the plan never
// commits more than an offer holds. A pod placed counts, for the pods after
// it, as a pod on its offer's node (inter-pod affinity, topology spread).
// Among the offers a pod fits, the best scored wins (see scorer), ties
// going to the earlier offer. Match is deterministic and pure: it modifies
// neither pods, nor offers, nor the cluster.
func (c Cluster) Match(pods []PodRequest, offers []Offer) Plan {
	topo := newTopology(offers, &c)
	book := make([]offerState, len(offers))
	var maxCPU, maxMem int64 = 1, 1
	for i := range offers {
		o := &offers[i]
		n := topo.byName[offerNode(o)]
		book[i] = offerState{
			offer:   o,
			nodeIdx: n,
			cpu:     max(o.Resources.MilliCPU, 0),
			mem:     max(o.Resources.MemoryMB, 0),
			disk:    max(o.Resources.DiskMB, 0),
			ports:   normalizePorts(o.Resources.Ports),
			volumes: o.Volumes,
		}
		book[i].unreservedDisk = max(min(o.UnreservedDiskMB, book[i].disk), 0)
		book[i].rcpu, book[i].rmem = max(o.Revocable.MilliCPU, 0), max(o.Revocable.MemoryMB, 0)
		maxCPU = max(maxCPU, book[i].cpu)
		maxMem = max(maxMem, book[i].mem)
	}
	sc := scorer{cpuScale: 1 / float64(maxCPU), memScale: 1 / float64(maxMem), most: c.Scoring == MostAllocated}
	for i := range book {
		book[i].score = sc.score(&book[i])
	}

	var plan Plan
	var p podState
	var byOffer []reasonIndex // the reason of each offer, when explaining
	if c.Explain {
		byOffer = make([]reasonIndex, len(book))
	}
	var cands candidates
	var provisioning map[string]bool // claims being provisioned, by namespace/name
	revocable := anyRevocable(offers)
	for _, pod := range pods {
		p.prepare(&pod, topo)
		if len(pod.Claims) > 0 && provisioning == nil {
			provisioning = map[string]bool{}
		}
		p.vol.prepare(&pod, provisioning)
		var rejected [numReasons]int
		best := p.place(&pod, book, revocable, func(rejected *[numReasons]int) int {
			if p.prefers() {
				return cands.best(&p, book, sc, rejected, byOffer)
			}
			return p.bestByResources(book, sc, rejected, byOffer)
		}, &rejected)
		if best < 0 {
			u := Unplaced{Pod: pod, Reasons: reasonsOf(len(book), &rejected)}
			if len(pod.Claims) > 0 {
				u.Reasons.Notes = claimNotes(&pod, book)
			}
			if byOffer != nil {
				u.ByOffer = make([]Reason, len(byOffer))
				for i, r := range byOffer {
					u.ByOffer[i] = reasonText[r]
				}
			}
			plan.Unplaced = append(plan.Unplaced, u)
			continue
		}
		o := &book[best]
		o.take(&p)
		if len(pod.Claims) > 0 {
			markProvisioning(&pod, provisioning)
		}
		o.score = sc.score(o)
		topo.add(pod.Namespace, pod.Labels, o.nodeIdx, false,
			podTerms{pod.PodAntiAffinity, pod.PodAffinity, pod.PreferredPodAffinity, pod.PreferredPodAntiAffinity})
		plan.Assignments = append(plan.Assignments, Assignment{
			Pod:       pod,
			OfferID:   o.offer.ID,
			AgentID:   o.offer.AgentID,
			Ports:     portList(p.ports),
			Revocable: p.onRevocable,
		})
	}
	return plan
}

// bestByResources is the offer a pod without preferences goes to: among the
// offers it fits, the best by resources alone; -1 if none.
func (p *podState) bestByResources(book []offerState, sc scorer, rejected *[numReasons]int, byOffer []reasonIndex) int {
	best := -1
	for i := range book {
		o := &book[i]
		if r, ok := p.fits(o); !ok {
			rejected[r]++
			if byOffer != nil {
				byOffer[i] = r
			}
			continue
		}
		if best < 0 || sc.better(o.score, book[best].score) {
			best = i
		}
	}
	return best
}

// offerState is an offer with what is still free after the pods placed on
// it so far.
type offerState struct {
	offer          *Offer
	nodeIdx        int // in the topology
	cpu, mem, disk int64
	ports          []PortRange // normalized
	score          float64     // scorer.score of what is free
	unreservedDisk int64       // of disk, what is unreserved
	volumes        []string    // persistence IDs of the volumes not taken
	rcpu, rmem     int64       // revocable cpu and memory free
}

func (o *offerState) take(p *podState) {
	if p.onRevocable {
		o.rcpu -= p.cpu
		o.rmem -= p.mem
	} else {
		o.cpu -= p.cpu
		o.mem -= p.mem
	}
	o.disk -= p.disk
	if len(p.ports) > 0 {
		o.ports = takePorts(o.ports, p.ports)
	}
	if p.vol.active() {
		p.vol.take(o)
	} else {
		o.unreservedDisk = max(min(o.unreservedDisk, o.disk), 0)
	}
}

// label is the value of a label the offer's node will have.
func (o *offerState) label(key string) (string, bool) {
	v, ok := o.offer.Labels[key]
	return v, ok
}

// podState is the per-pod work done once before the pod meets any offer:
// clamped requests, normalized ports, the node selector as a slice and the
// node affinity compiled, so that checking an offer allocates nothing.
type podState struct {
	cpu, mem, disk int64
	ports          []PortRange
	selector       []labelPair
	affinity       []compiledTerm
	reqs           []compiledReq // the requirements of all node affinity terms
	preferred      []weightedTerm
	tolerations    []corev1.Toleration
	podAffinity    podAffinityState
	preferredPods  []weightedCounts
	// attraction is, per topology key, what placed pods' scoring terms that
	// match this pod add to each domain's score.
	attraction []domainScores
	spread     spreadState
	vol        volumeState
	// onRevocable says the pod is being placed on revocable cpus and
	// memory (revocable.go).
	onRevocable bool
}

// domainScores is a score per domain of one topology key.
type domainScores struct {
	dom *keyDomains
	w   []int64
}

// weightedCounts is a preferred inter-pod term prepared for a pod: its
// weight (negative for anti-affinity) and the counts of pods it matches.
type weightedCounts struct {
	weight int64
	counts *pairCounts
}

type labelPair struct{ key, value string }

func (p *podState) prepare(pod *PodRequest, t *topology) {
	p.cpu = max(pod.Resources.MilliCPU, 0)
	p.mem = max(pod.Resources.MemoryMB, 0)
	p.disk = max(pod.Resources.DiskMB, 0)
	p.ports = normalizePorts(pod.Resources.Ports)
	p.selector = p.selector[:0]
	for k, v := range pod.NodeSelector {
		p.selector = append(p.selector, labelPair{k, v})
	}
	p.compileAffinity(pod.RequiredNodeAffinity)
	p.compilePreferred(pod.PreferredNodeAffinity)
	p.tolerations = pod.Tolerations
	p.podAffinity.prepare(pod, t)
	p.preferredPods = p.preferredPods[:0]
	for i := range pod.PreferredPodAffinity {
		w := &pod.PreferredPodAffinity[i]
		p.preferredPods = append(p.preferredPods, weightedCounts{int64(w.Weight), t.termCounts(&w.Term)})
	}
	for i := range pod.PreferredPodAntiAffinity {
		w := &pod.PreferredPodAntiAffinity[i]
		p.preferredPods = append(p.preferredPods, weightedCounts{-int64(w.Weight), t.termCounts(&w.Term)})
	}
	p.prepareAttraction(pod, t)
	p.spread.prepare(pod, p, t)
}

// prepareAttraction sums, per domain, the weights of the placed pods'
// scoring terms (required affinity, preferred affinity and anti-affinity)
// that match the pod.
func (p *podState) prepareAttraction(pod *PodRequest, t *topology) {
	p.attraction = p.attraction[:0]
	if len(t.scoreList) == 0 {
		return
	}
	own := t.namespaceLabels(pod.Namespace)
	for _, h := range t.scoreList {
		if !h.term.matches(pod.Namespace, pod.Labels, own) {
			continue
		}
		j := slices.IndexFunc(p.attraction, func(a domainScores) bool { return a.dom == h.dom })
		if j < 0 {
			p.attraction = append(p.attraction, domainScores{dom: h.dom, w: make([]int64, len(h.dom.values))})
			j = len(p.attraction) - 1
		}
		for d, n := range h.n {
			p.attraction[j].w[d] += h.weight * int64(n)
		}
	}
}

// prefers reports whether the pod has preferences besides resources, which
// need the scored pass (candidates.best).
func (p *podState) prefers() bool {
	return len(p.preferred) > 0 || len(p.preferredPods) > 0 || len(p.attraction) > 0 || len(p.spread.soft) > 0
}

// fits runs the checks an offer must pass and, at the first that fails,
// returns its reason and false. The chain runs cheapest first: the scalar
// checks are one comparison each and, on a busy cluster, reject most offers;
// the port check walks two short sorted lists; the label checks hash strings
// and compare values; the taint check walks the node's taints (most nodes
// have none) against the pod's tolerations; topology spread and inter-pod
// (anti-)affinity, last, index per-pod counts prepared before the offer
// loop (kube-scheduler's PreFilter) by the node's domain number, two slice
// loads per constraint or term;
// a check the pod (or offer) does not need is skipped on a length test.
// Only the first failing check is counted, so a pod rejected
// everywhere has exactly one reason per offer. The price of this order is
// that an offer both full and of the wrong zone reports the shortage.
// A plain switch rather than a table of filter funcs: direct calls inline,
// which made Match about 1.5x faster in BenchmarkMatchScarce.
func (p *podState) fits(o *offerState) (reasonIndex, bool) {
	// Volumes first: a pod with a bound claim fits one offer at most, and
	// "volume not offered" is what the others should say.
	if p.vol.active() {
		if r, ok := p.vol.check(o, p.disk); !ok {
			return r, false
		}
	}
	cpu, mem := p.capacity(o)
	switch {
	case p.cpu > cpu:
		return reasonCPU, false
	case p.mem > mem:
		return reasonMemory, false
	case p.disk > o.disk:
		return reasonDisk, false
	case len(p.ports) > 0 && !portsFree(o.ports, p.ports):
		return reasonPorts, false
	case len(p.selector) > 0 && !p.selectorMatches(o):
		return reasonSelector, false
	case len(p.affinity) > 0 && !p.affinityMatches(o):
		return reasonAffinity, false
	case len(o.offer.Taints) > 0 && untolerated(o.offer.Taints, p.tolerations):
		return reasonTaint, false
	}
	if len(p.spread.hard) > 0 {
		if r, ok := p.spread.check(o.nodeIdx); !ok {
			return r, false
		}
	}
	if p.podAffinity.active() {
		return p.podAffinity.check(o.nodeIdx)
	}
	return 0, true
}

func (p *podState) selectorMatches(o *offerState) bool {
	return p.selectorMatchesLabels(o.offer.Labels)
}

func (p *podState) selectorMatchesLabels(labels map[string]string) bool {
	for _, kv := range p.selector {
		if v, ok := labels[kv.key]; !ok || v != kv.value {
			return false
		}
	}
	return true
}

// reasonIndex numbers the reasons so the per-offer loop counts into an
// array instead of a map.
type reasonIndex uint8

const (
	reasonCPU reasonIndex = iota
	reasonMemory
	reasonDisk
	reasonPorts
	reasonSelector
	reasonAffinity
	reasonTaint
	reasonSpreadLabel
	reasonSpread
	reasonPodAffinity
	reasonPodAntiAffinity
	reasonExistingAntiAffinity
	reasonVolumeNotOffered
	reasonVolumeDisk
	reasonClaimBusy
	numReasons
)

var reasonText = [numReasons]Reason{
	reasonCPU:      InsufficientCPU,
	reasonMemory:   InsufficientMemory,
	reasonDisk:     InsufficientDisk,
	reasonPorts:    HostPortConflict,
	reasonSelector: NodeSelectorMismatch,
	reasonAffinity: NodeAffinityMismatch,
	reasonTaint:    UntoleratedTaint,

	reasonSpreadLabel:          TopologySpreadMissingLabel,
	reasonSpread:               TopologySpreadMismatch,
	reasonPodAffinity:          PodAffinityMismatch,
	reasonPodAntiAffinity:      PodAntiAffinityMismatch,
	reasonExistingAntiAffinity: ExistingPodAntiAffinity,
	reasonVolumeNotOffered:     VolumeNotOffered,
	reasonVolumeDisk:           InsufficientVolumeDisk,
	reasonClaimBusy:            ClaimBeingProvisioned,
}

func reasonsOf(offers int, rejected *[numReasons]int) Reasons {
	r := Reasons{Offers: offers, Counts: make(map[Reason]int)}
	for i, n := range rejected {
		if n > 0 {
			r.Counts[reasonText[i]] = n
		}
	}
	return r
}
