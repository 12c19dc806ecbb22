package offermatcher

// Scoring is how free resources rank the offers a pod fits.
type Scoring uint8

const (
	// LeastAllocated prefers the offer left with the most cpu and memory
	// free: pods spread over agents (the default).
	LeastAllocated Scoring = iota
	// MostAllocated prefers the offer left with the least: pods pack onto
	// few agents, leaving whole agents free for large pods and for other
	// frameworks.
	MostAllocated
)

// Weights of the scores, kube-scheduler's default plugin weights.
const (
	weightResources      = 1 // NodeResourcesFit
	weightNodeAffinity   = 2 // NodeAffinity
	weightPodAffinity    = 2 // InterPodAffinity
	weightTopologySpread = 2 // PodTopologySpread
	maxNodeScore         = 100
)

// scorer ranks the offers a pod fits by resources. The resource score is the
// cpu and memory the offer would still have free after taking the pod, each
// as a fraction of the largest offer's, summed (0 to 2); LeastAllocated
// prefers the highest, MostAllocated the lowest. Preferring the offer left
// emptiest spreads pods (three replicas on two equal agents land 2+1, not
// 3+0), so losing one agent loses few pods and each kubelet starts fewer
// pods at once; packing keeps whole agents free. Measuring free resources
// against the largest offer, not against each offer's own size, matters
// because an offer is what an agent has free, not its capacity: a 1-cpu
// offer is not "emptier" than a 32-cpu one.
//
// Subtracting the pod lowers every offer's score by the same amount, so the
// ranking only needs the offer's free resources: each offerState keeps its
// score and take updates it, instead of Match scoring every pair.
type scorer struct {
	cpuScale, memScale float64
	most               bool
}

func (s scorer) score(o *offerState) float64 {
	return float64(o.cpu)*s.cpuScale + float64(o.mem)*s.memScale
}

// better reports whether free-resource score a beats b.
func (s scorer) better(a, b float64) bool {
	if s.most {
		return a < b
	}
	return a > b
}

// points is a free-resource score on kube-scheduler's 0-100 scale.
func (s scorer) points(score float64) float64 {
	if s.most {
		return maxNodeScore - maxNodeScore/2*score
	}
	return maxNodeScore / 2 * score
}

// candidate is an offer a pod fits, with its raw scores.
type candidate struct {
	offer                 int
	nodeAff, podAff, sprd int64
	spreadScored          bool
}

// candidates is the scored pass for a pod with preferences, with its
// scratch kept from pod to pod so that, once grown, it allocates nothing.
type candidates struct{ list []candidate }

// best filters every offer, scores those the pod fits as kube-scheduler
// does, and returns the best (ties to the earlier offer), or -1. Each score
// is normalized over the offers the pod fits to 0-100, as kube-scheduler's
// NormalizeScore: preferred node affinity by its maximum, preferred
// inter-pod affinity from its minimum to its maximum, ScheduleAnyway spread
// inverted (fewest matching pods best); then weighted and summed with the
// resource score.
func (c *candidates) best(p *podState, book []offerState, sc scorer, rejected *[numReasons]int, byOffer []reasonIndex) int {
	c.list = c.list[:0]
	var maxNA int64
	var minPA, maxPA int64
	minSP, maxSP := int64(1<<62), int64(0)
	for i := range book {
		o := &book[i]
		if r, ok := p.fits(o); !ok {
			rejected[r]++
			if byOffer != nil {
				byOffer[i] = r
			}
			continue
		}
		cd := candidate{offer: i}
		if len(p.preferred) > 0 {
			cd.nodeAff = p.preferredScore(o.offer.NodeName, o.offer.Labels)
		}
		for _, w := range p.preferredPods {
			if d := w.counts.doms[0].of[o.nodeIdx]; d >= 0 {
				cd.podAff += w.weight * int64(w.counts.counts[0][d])
			}
		}
		for _, a := range p.attraction {
			if d := a.dom.of[o.nodeIdx]; d >= 0 {
				cd.podAff += a.w[d]
			}
		}
		if len(p.spread.soft) > 0 {
			cd.sprd, cd.spreadScored = p.spread.score(o.nodeIdx)
		}
		if len(c.list) == 0 {
			minPA, maxPA = cd.podAff, cd.podAff
		}
		maxNA = max(maxNA, cd.nodeAff)
		minPA, maxPA = min(minPA, cd.podAff), max(maxPA, cd.podAff)
		if cd.spreadScored {
			minSP, maxSP = min(minSP, cd.sprd), max(maxSP, cd.sprd)
		}
		c.list = append(c.list, cd)
	}
	best, bestScore := -1, 0.0
	for _, cd := range c.list {
		var na, pa, sp int64
		if maxNA > 0 {
			na = maxNodeScore * cd.nodeAff / maxNA
		}
		if maxPA > minPA {
			pa = int64(maxNodeScore * float64(cd.podAff-minPA) / float64(maxPA-minPA))
		}
		if cd.spreadScored {
			sp = maxNodeScore
			if maxSP > 0 {
				sp = maxNodeScore * (maxSP + minSP - cd.sprd) / maxSP
			}
		}
		total := weightResources*sc.points(book[cd.offer].score) +
			float64(weightNodeAffinity*na+weightPodAffinity*pa+weightTopologySpread*sp)
		if best < 0 || total > bestScore {
			best, bestScore = cd.offer, total
		}
	}
	return best
}
