package offermatcher

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// compiledTerm is a NodeSelectorTerm checked in the per-offer loop: its
// requirements are reqs[first:last] of the pod's compiled requirements.
type compiledTerm struct{ first, last int }

type compiledReq struct {
	key    string
	op     corev1.NodeSelectorOperator
	values []string
	num    int64 // the bound of Gt and Lt
	field  bool  // matches the node name, not a label
	valid  bool  // an invalid requirement matches no node
}

// compileAffinity compiles required node affinity into p.affinity and
// p.reqs, reusing their backing arrays from the previous pod.
func (p *podState) compileAffinity(in []NodeSelectorTerm) {
	p.affinity, p.reqs = p.affinity[:0], p.reqs[:0]
	for _, t := range in {
		first := len(p.reqs)
		for _, r := range t.Labels {
			p.reqs = append(p.reqs, compileReq(r, false))
		}
		for _, r := range t.Fields {
			p.reqs = append(p.reqs, compileReq(r, true))
		}
		p.affinity = append(p.affinity, compiledTerm{first, len(p.reqs)})
	}
}

// compilePreferred compiles preferred node affinity into p.preferred,
// appending its requirements to p.reqs (after compileAffinity).
func (p *podState) compilePreferred(in []PreferredNodeTerm) {
	p.preferred = p.preferred[:0]
	for _, t := range in {
		first := len(p.reqs)
		for _, r := range t.Term.Labels {
			p.reqs = append(p.reqs, compileReq(r, false))
		}
		for _, r := range t.Term.Fields {
			p.reqs = append(p.reqs, compileReq(r, true))
		}
		p.preferred = append(p.preferred, weightedTerm{weight: int64(t.Weight), term: compiledTerm{first, len(p.reqs)}})
	}
}

// weightedTerm is a compiled preferred node affinity term.
type weightedTerm struct {
	weight int64
	term   compiledTerm
}

// affinityMatches reports whether the offer's node matches one of the pod's
// required node affinity terms; with no terms there is no constraint.
func (p *podState) affinityMatches(o *offerState) bool {
	return p.affinityMatchesNode(o.offer.NodeName, o.offer.Labels)
}

func (p *podState) affinityMatchesNode(name string, labels map[string]string) bool {
	if len(p.affinity) == 0 {
		return true
	}
	for _, t := range p.affinity {
		if p.termMatches(t, name, labels) {
			return true
		}
	}
	return false
}

// preferredScore is the sum of the weights of the preferred node affinity
// terms the node matches (kube-scheduler's NodeAffinity Score).
func (p *podState) preferredScore(name string, labels map[string]string) int64 {
	var sum int64
	for _, w := range p.preferred {
		if p.termMatches(w.term, name, labels) {
			sum += w.weight
		}
	}
	return sum
}

func (p *podState) termMatches(t compiledTerm, name string, labels map[string]string) bool {
	if t.first == t.last {
		return false // an empty term matches nothing
	}
	for i := t.first; i < t.last; i++ {
		if !p.reqs[i].matches(name, labels) {
			return false
		}
	}
	return true
}

func compileReq(r NodeRequirement, field bool) compiledReq {
	c := compiledReq{key: r.Key, op: r.Operator, values: r.Values, field: field}
	if field {
		// Node fields: only metadata.name, with In or NotIn and one value,
		// as kube-scheduler accepts.
		c.valid = r.Key == NodeNameField && len(r.Values) == 1 &&
			(r.Operator == corev1.NodeSelectorOpIn || r.Operator == corev1.NodeSelectorOpNotIn)
		return c
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		c.valid = len(r.Values) > 0
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		c.valid = len(r.Values) == 0
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) == 1 {
			c.num, c.valid = parseInt64(r.Values[0])
		}
	}
	return c
}

func (c *compiledReq) matches(name string, labels map[string]string) bool {
	if !c.valid {
		return false
	}
	var v string
	var ok bool
	if c.field {
		v, ok = name, true
	} else {
		v, ok = labels[c.key]
	}
	switch c.op {
	case corev1.NodeSelectorOpIn:
		return ok && slices.Contains(c.values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(c.values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok {
			return false
		}
		n, isNum := parseInt64(v)
		if !isNum {
			return false
		}
		if c.op == corev1.NodeSelectorOpGt {
			return n > c.num
		}
		return n < c.num
	}
	return false
}

// parseInt64 parses a base-10 integer with an optional sign, like
// strconv.ParseInt(s, 10, 64), without allocating on bad input.
func parseInt64(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var u uint64
	const limit = 1 << 63
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		if u > (limit-uint64(d))/10 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	if neg {
		return -int64(u-1) - 1, true // -2^63 has no positive counterpart
	}
	if u == limit {
		return 0, false
	}
	return int64(u), true
}
