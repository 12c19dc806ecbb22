package offermatcher

import corev1 "k8s.io/api/core/v1"

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
}

// Assignment places one pod on one offer.
type Assignment struct {
	Pod     PodRequest
	OfferID string
	AgentID string
	Ports   []uint32 // host ports granted, ascending; nil when the pod binds none
}

// Unplaced is a pod no offer could take, and why.
type Unplaced struct {
	Pod     PodRequest
	Reasons Reasons
}

// Plan is the outcome of Match. Every pod given to Match appears exactly
// once, either in Assignments or in Unplaced, each list in the pods' order.
type Plan struct {
	Assignments []Assignment
	Unplaced    []Unplaced
}

// Match places pods, in the given (priority) order, onto offers. Each pod
// goes to at most one offer; many pods may share an offer, whose remaining
// resources and ports shrink as pods are placed on it, so the plan never
// commits more than an offer holds. Among the offers a pod fits, the one
// left with the most free cpu and memory wins (see score), ties going to the
// earlier offer. Match is deterministic and pure: it modifies neither pods
// nor offers.
func Match(pods []PodRequest, offers []Offer) Plan {
	book := make([]offerState, len(offers))
	var maxCPU, maxMem int64 = 1, 1
	for i := range offers {
		o := &offers[i]
		book[i] = offerState{
			offer: o,
			cpu:   max(o.Resources.MilliCPU, 0),
			mem:   max(o.Resources.MemoryMB, 0),
			disk:  max(o.Resources.DiskMB, 0),
			ports: normalizePorts(o.Resources.Ports),
		}
		maxCPU = max(maxCPU, book[i].cpu)
		maxMem = max(maxMem, book[i].mem)
	}
	sc := scorer{cpuScale: 1 / float64(maxCPU), memScale: 1 / float64(maxMem)}
	for i := range book {
		book[i].score = sc.score(&book[i])
	}

	var plan Plan
	var p podState
	for _, pod := range pods {
		p.prepare(&pod)
		best, bestScore := -1, 0.0
		var rejected [numReasons]int
		for i := range book {
			o := &book[i]
			if r, ok := p.fits(o); !ok {
				rejected[r]++
				continue
			}
			if best < 0 || o.score > bestScore {
				best, bestScore = i, o.score
			}
		}
		if best < 0 {
			plan.Unplaced = append(plan.Unplaced, Unplaced{Pod: pod, Reasons: reasonsOf(len(book), &rejected)})
			continue
		}
		o := &book[best]
		o.take(&p)
		o.score = sc.score(o)
		plan.Assignments = append(plan.Assignments, Assignment{
			Pod:     pod,
			OfferID: o.offer.ID,
			AgentID: o.offer.AgentID,
			Ports:   portList(p.ports),
		})
	}
	return plan
}

// offerState is an offer with what is still free after the pods placed on
// it so far.
type offerState struct {
	offer          *Offer
	cpu, mem, disk int64
	ports          []PortRange // normalized
	score          float64     // scorer.score of what is free
}

func (o *offerState) take(p *podState) {
	o.cpu -= p.cpu
	o.mem -= p.mem
	o.disk -= p.disk
	if len(p.ports) > 0 {
		o.ports = takePorts(o.ports, p.ports)
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
	reqs           []compiledReq // the requirements of all affinity terms
	tolerations    []corev1.Toleration
}

type labelPair struct{ key, value string }

func (p *podState) prepare(pod *PodRequest) {
	p.cpu = max(pod.Resources.MilliCPU, 0)
	p.mem = max(pod.Resources.MemoryMB, 0)
	p.disk = max(pod.Resources.DiskMB, 0)
	p.ports = normalizePorts(pod.Resources.Ports)
	p.selector = p.selector[:0]
	for k, v := range pod.NodeSelector {
		p.selector = append(p.selector, labelPair{k, v})
	}
	p.compileAffinity(pod.RequiredNodeAffinity)
	p.tolerations = pod.Tolerations
}

// fits runs the checks an offer must pass and, at the first that fails,
// returns its reason and false. The chain runs cheapest first: the scalar
// checks are one comparison each and, on a busy cluster, reject most offers;
// the port check walks two short sorted lists; the label checks hash strings
// and compare values; the taint check walks the node's taints (most nodes
// have none) against the pod's tolerations; a check the pod (or offer) does
// not need is skipped on a length test. Only the first failing check is counted, so a pod rejected
// everywhere has exactly one reason per offer. The price of this order is
// that an offer both full and of the wrong zone reports the shortage.
// A plain switch rather than a table of filter funcs: direct calls inline,
// which made Match about 1.5x faster in BenchmarkMatchScarce.
func (p *podState) fits(o *offerState) (reasonIndex, bool) {
	switch {
	case p.cpu > o.cpu:
		return reasonCPU, false
	case p.mem > o.mem:
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
	return 0, true
}

func (p *podState) selectorMatches(o *offerState) bool {
	for _, kv := range p.selector {
		if v, ok := o.label(kv.key); !ok || v != kv.value {
			return false
		}
	}
	return true
}

// scorer ranks the offers a pod fits. The score is the cpu and memory the
// offer would still have free after taking the pod, each as a fraction of
// the largest offer's, summed. Preferring the offer left emptiest spreads
// pods (three replicas on two equal agents land 2+1, not 3+0), so losing one
// agent loses few pods and each kubelet starts fewer pods at once. Measuring
// free resources against the largest offer, not against each offer's own
// size, matters because an offer is what an agent has free, not its
// capacity: a 1-cpu offer is not "emptier" than a 32-cpu one.
//
// Subtracting the pod lowers every offer's score by the same amount, so the
// ranking only needs the offer's free resources: each offerState keeps its
// score and take updates it, instead of Match scoring every pair.
type scorer struct{ cpuScale, memScale float64 }

func (s scorer) score(o *offerState) float64 {
	return float64(o.cpu)*s.cpuScale + float64(o.mem)*s.memScale
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
