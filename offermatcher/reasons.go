package offermatcher

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Reason says why an offer cannot take a pod. The values are shown to users
// in FailedScheduling events.
type Reason string

// Reasons an offer rejects a pod, one per filter.
const (
	InsufficientCPU      Reason = "insufficient cpu"
	InsufficientMemory   Reason = "insufficient memory"
	InsufficientDisk     Reason = "insufficient disk"
	HostPortConflict     Reason = "host port unavailable"
	NodeSelectorMismatch Reason = "node selector mismatch"
	NodeAffinityMismatch Reason = "node affinity mismatch"
	UntoleratedTaint     Reason = "untolerated taint"

	// Persistent volumes (volumes.go).
	VolumeNotOffered       Reason = "persistent volume not offered"
	InsufficientVolumeDisk Reason = "insufficient disk for new persistent volumes"
	ClaimBeingProvisioned  Reason = "persistent volume claim being provisioned for another pod"

	// The inter-pod and topology spread reasons are kube-scheduler's own
	// (InterPodAffinity, PodTopologySpread) without its "node(s)" prefix.
	PodAffinityMismatch        Reason = "didn't match pod affinity rules"
	PodAntiAffinityMismatch    Reason = "didn't match pod anti-affinity rules"
	ExistingPodAntiAffinity    Reason = "didn't satisfy existing pods anti-affinity rules"
	TopologySpreadMismatch     Reason = "didn't match pod topology spread constraints"
	TopologySpreadMissingLabel Reason = "didn't match pod topology spread constraints (missing required label)"
)

// Reasons counts, per reason, how many offers rejected a pod. Each offer
// counts once, under the first filter it failed, so for an unplaced pod the
// counts sum to Offers.
type Reasons struct {
	Offers int
	Counts map[Reason]int
	// Notes say more about the pod as a whole, after the counts: a claim
	// bigger than any offer's free disk ("pvc data-web-0 requests 20Gi; the
	// largest free disk is 8Gi").
	Notes []string
}

// String gives kube-scheduler-like text, reasons in alphabetical order:
// "0/3 offers fit: 1 insufficient memory, 2 node selector mismatch", or
// "0/0 offers fit: no offers held"; notes follow, each after "; ".
func (r Reasons) String() string {
	s := r.counts()
	for _, n := range r.Notes {
		s += "; " + n
	}
	return s
}

func (r Reasons) counts() string {
	if r.Offers == 0 {
		return "0/0 offers fit: no offers held"
	}
	type count struct {
		reason Reason
		n      int
	}
	counts := make([]count, 0, len(r.Counts))
	rejected := 0
	for reason, n := range r.Counts {
		if n > 0 {
			counts = append(counts, count{reason, n})
			rejected += n
		}
	}
	slices.SortFunc(counts, func(a, b count) int { return cmp.Compare(a.reason, b.reason) })

	var b strings.Builder
	b.WriteString(strconv.Itoa(max(r.Offers-rejected, 0)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(r.Offers))
	b.WriteString(" offers fit")
	for i, c := range counts {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(c.n))
		b.WriteByte(' ')
		b.WriteString(string(c.reason))
	}
	return b.String()
}
