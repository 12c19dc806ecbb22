package master

import (
	"math"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// vec holds scalar quantities indexed by allocState.kinds.
type vec []float64

// allocState is the allocator's view of the cluster during one cycle: the
// role tree with weighted allocations, quota consumption, headroom and the
// free resources of each agent. It is rebuilt at the start of each cycle
// from the master's tasks, executors, offers and agents, so there is no
// second bookkeeping that could drift from the master's.
type allocState struct {
	now       time.Time
	kinds     map[string]int
	total     vec
	root      *roleNode
	nodes     map[string]*roleNode
	clients   []*allocClient
	free      map[string]mesos.Resources
	available vec // unreserved, unallocated scalars of active agents
	// quotaRoles have a guarantee, in DRF order.
	quotaRoles []*roleNode
}

// roleNode is a role in the role tree ("a/b" is a child of "a").
type roleNode struct {
	name     string
	parent   *roleNode
	children []*roleNode
	weight   float64
	alloc    vec // the subtree's allocation (DRF)
	own      vec // allocation of frameworks subscribed to this very role
	consumed vec // quota consumption: reservations + unreserved allocations
	// guarantee and limit are nil without quota; limit has +Inf for kinds
	// without a limit.
	guarantee, limit vec
	clients          []*allocClient // frameworks in this role, DRF order
	hasClients       bool           // somewhere in the subtree
}

// allocClient is one framework in one of its roles.
type allocClient struct {
	fw    *framework
	role  string
	node  *roleNode
	alloc vec
	share float64
}

func (m *Master) newAllocState(agents []*agent, now time.Time) *allocState {
	st := &allocState{now: now, kinds: map[string]int{}, nodes: map[string]*roleNode{}, free: map[string]mesos.Resources{}}
	st.root = &roleNode{weight: 1}
	for _, a := range agents {
		for i := range a.total {
			r := &a.total[i]
			if r.GetType() == mesos.SCALAR {
				if _, ok := st.kinds[r.Name]; !ok {
					st.kinds[r.Name] = len(st.kinds)
				}
			}
		}
	}
	st.total = st.vec()
	st.available = st.vec()
	for _, a := range agents {
		st.addScalars(st.total, a.total, false)
	}
	for name := range m.roleCfg.quotas {
		st.node(m, name)
	}

	used := map[string]mesos.Resources{}
	byClient := map[string]vec{}
	m.forEachAllocationLocked(func(_ allocKind, fw *framework, role, agentID string, rs mesos.Resources) {
		cur := used[agentID]
		cur.Add(rs...)
		used[agentID] = cur
		n := st.node(m, role)
		v := st.vec()
		st.addScalars(v, rs, false)
		n.addAlloc(v)
		st.addScalars(n.own, rs, false)
		uv := st.vec()
		st.addScalars(uv, rs, true)
		n.addConsumed(uv)
		key := fw.id + "\x00" + role
		if byClient[key] == nil {
			byClient[key] = st.vec()
		}
		addVec(byClient[key], v)
	})
	// Reservations count against their role's quota whether used or not.
	for _, a := range m.agents {
		for i := range a.total {
			r := &a.total[i]
			if r.IsUnreserved() || r.GetType() != mesos.SCALAR {
				continue
			}
			v := st.vec()
			st.addScalars(v, a.total[i:i+1], false)
			st.node(m, r.ReservationRole()).addConsumed(v)
		}
	}
	for _, a := range agents {
		free := a.total.Clone()
		free.Subtract(used[a.id]...)
		st.addScalars(st.available, free, true)
		if hasOfferable(free) {
			st.free[a.id] = free
		}
	}

	for _, fw := range m.frameworks {
		if !fw.connected {
			continue
		}
		for _, role := range fw.roles() {
			if fw.suppressedRoles[role] {
				continue
			}
			n := st.node(m, role)
			c := &allocClient{fw: fw, role: role, node: n, alloc: byClient[fw.id+"\x00"+role]}
			if c.alloc == nil {
				c.alloc = st.vec()
			}
			c.share = st.dominant(c.alloc)
			n.clients = append(n.clients, c)
			st.clients = append(st.clients, c)
			for p := n; p != nil; p = p.parent {
				p.hasClients = true
			}
		}
	}
	for _, n := range st.nodes {
		sort.Slice(n.clients, func(i, j int) bool { return clientLess(n.clients[i], n.clients[j]) })
		if n.guarantee != nil {
			st.quotaRoles = append(st.quotaRoles, n)
		}
	}
	sort.Slice(st.quotaRoles, func(i, j int) bool {
		a, b := st.quotaRoles[i], st.quotaRoles[j]
		sa, sb := st.dominant(a.alloc)/a.weight, st.dominant(b.alloc)/b.weight
		if sa != sb {
			return sa < sb
		}
		return a.name < b.name
	})
	return st
}

func clientLess(a, b *allocClient) bool {
	if a.share != b.share {
		return a.share < b.share
	}
	return a.fw.id < b.fw.id
}

func (st *allocState) vec() vec { return make(vec, len(st.kinds)) }

// addScalars adds the scalar resources of rs to v; with forQuota only the
// unreserved, non-revocable ones, which count against quota and headroom
// (revocable resources are outside quota in Mesos).
func (st *allocState) addScalars(v vec, rs mesos.Resources, forQuota bool) {
	for i := range rs {
		r := &rs[i]
		if r.GetType() != mesos.SCALAR || (forQuota && (!r.IsUnreserved() || r.IsRevocable())) {
			continue
		}
		if k, ok := st.kinds[r.Name]; ok {
			v[k] += r.GetScalar().GetValue()
		}
	}
}

func addVec(dst, src vec) {
	for i := range src {
		dst[i] += src[i]
	}
}

// dominant is v's dominant share of the cluster.
func (st *allocState) dominant(v vec) float64 {
	var s float64
	for k, t := range st.total {
		if t > 0 {
			if x := v[k] / t; x > s {
				s = x
			}
		}
	}
	return s
}

// node returns the role's node, creating it and its ancestors.
func (st *allocState) node(m *Master, role string) *roleNode {
	if n := st.nodes[role]; n != nil {
		return n
	}
	parent := st.root
	if i := strings.LastIndexByte(role, '/'); i > 0 {
		parent = st.node(m, role[:i])
	}
	n := &roleNode{name: role, parent: parent, weight: m.roleCfg.weight(role), alloc: st.vec(), own: st.vec(), consumed: st.vec()}
	if q, ok := m.roleCfg.quotas[role]; ok {
		if len(q.Guarantees) > 0 {
			n.guarantee = st.vec()
			for name, v := range q.Guarantees {
				if k, ok := st.kinds[name]; ok {
					n.guarantee[k] = v
				}
			}
		}
		if len(q.Limits) > 0 {
			n.limit = st.vec()
			for k := range n.limit {
				n.limit[k] = math.Inf(1)
			}
			for name, v := range q.Limits {
				if k, ok := st.kinds[name]; ok {
					n.limit[k] = v
				}
			}
		}
	}
	parent.children = append(parent.children, n)
	st.nodes[role] = n
	return n
}

func (n *roleNode) addAlloc(v vec) {
	for p := n; p != nil; p = p.parent {
		if p.alloc != nil {
			addVec(p.alloc, v)
		}
	}
}

func (n *roleNode) addConsumed(v vec) {
	for p := n; p != nil; p = p.parent {
		if p.consumed != nil {
			addVec(p.consumed, v)
		}
	}
}

// orderRoles returns the roles that have frameworks, in hierarchical
// weighted DRF order: at each level of the tree, children (and the role's
// own frameworks, as a virtual leaf) by dominant share over weight.
func (st *allocState) orderRoles() []*roleNode {
	var out []*roleNode
	type entry struct {
		n     *roleNode
		self  bool
		share float64
	}
	var walk func(n *roleNode)
	walk = func(n *roleNode) {
		es := make([]entry, 0, len(n.children)+1)
		if n != st.root && len(n.clients) > 0 {
			es = append(es, entry{n, true, st.dominant(n.own) / n.weight})
		}
		for _, c := range n.children {
			if c.hasClients {
				es = append(es, entry{c, false, st.dominant(c.alloc) / c.weight})
			}
		}
		sort.Slice(es, func(i, j int) bool {
			if es[i].share != es[j].share {
				return es[i].share < es[j].share
			}
			if es[i].n.name != es[j].n.name {
				return es[i].n.name < es[j].n.name
			}
			return es[i].self
		})
		for _, e := range es {
			if e.self {
				out = append(out, e.n)
			} else {
				walk(e.n)
			}
		}
	}
	walk(st.root)
	return out
}

// resortClient moves c, whose share just grew, to its place in its role.
func (n *roleNode) resortClient(c *allocClient) {
	cs := n.clients
	i := 0
	for i < len(cs) && cs[i] != c {
		i++
	}
	for i+1 < len(cs) && clientLess(cs[i+1], c) {
		cs[i], cs[i+1] = cs[i+1], cs[i]
		i++
	}
}

// subtreeClients are the frameworks in q and its sub-roles, in DRF order.
func (st *allocState) subtreeClients(q *roleNode) []*allocClient {
	var out []*allocClient
	var walk func(n *roleNode)
	walk = func(n *roleNode) {
		out = append(out, n.clients...)
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(q)
	sort.SliceStable(out, func(i, j int) bool { return clientLess(out[i], out[j]) })
	return out
}

const quotaEpsilon = 1e-9

func (st *allocState) guaranteeUnsatisfied(q *roleNode) bool {
	for k, g := range q.guarantee {
		if g > q.consumed[k]+quotaEpsilon {
			return true
		}
	}
	return false
}

// requiredHeadroom is what unsatisfied guarantees still need, per kind.
func (st *allocState) requiredHeadroom() vec {
	req := st.vec()
	for _, q := range st.quotaRoles {
		for k, g := range q.guarantee {
			if d := g - q.consumed[k]; d > 0 {
				req[k] += d
			}
		}
	}
	return req
}

// offerable is what client c may be offered of an agent's free resources:
// the reservations of its role (and its ancestors') and unreserved
// resources within its quota limits and the headroom. In stage 1 (quota
// set) the guaranteed kinds are cut to the remaining guarantee of quota.
// Revocable resources go, with the rest, only to frameworks with the
// REVOCABLE_RESOURCES capability (Mesos' stripIncapableResources) and only
// in stage 2: they neither satisfy nor are limited by quota.
// Nil when nothing allocatable is left or a filter refuses it.
func (st *allocState) offerable(c *allocClient, quota *roleNode, agentID string, free mesos.Resources, stage1 bool) mesos.Resources {
	var reserved, unreserved, revocable mesos.Resources
	takesRevocable := !stage1 && c.fw.hasCapability(mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES)
	for i := range free {
		r := &free[i]
		switch {
		case r.IsRevocable():
			if takesRevocable {
				revocable = append(revocable, *r)
			}
		case r.IsUnreserved():
			unreserved = append(unreserved, *r)
		case r.IsAllocatableTo(c.role):
			reserved = append(reserved, *r)
		}
	}
	if len(unreserved) > 0 {
		allowed := st.vec()
		for k := range allowed {
			allowed[k] = math.Inf(1)
		}
		// Limits of the role and its ancestors.
		for p := c.node; p != nil; p = p.parent {
			for k, l := range p.limit {
				if d := l - p.consumed[k]; d < allowed[k] {
					allowed[k] = math.Max(d, 0)
				}
			}
		}
		// Headroom: resources other roles' guarantees still need are held
		// back; what the role's own unsatisfied guarantees need is not.
		req := st.requiredHeadroom()
		own := st.vec()
		for p := c.node; p != nil; p = p.parent {
			for k, g := range p.guarantee {
				if d := g - p.consumed[k]; d > 0 {
					own[k] += d
				}
			}
		}
		for k := range allowed {
			surplus := st.available[k] - req[k] + own[k]
			if stage1 && quota.guarantee[k] > 0 {
				surplus = math.Max(quota.guarantee[k]-quota.consumed[k], 0)
			}
			if surplus < allowed[k] {
				allowed[k] = math.Max(surplus, 0)
			}
		}
		unreserved = st.chop(unreserved, allowed)
	}
	rs := append(append(reserved, unreserved...), revocable...)
	if len(rs) == 0 || !resources.Allocatable(rs) {
		return nil
	}
	if c.fw.filtered(agentID, c.role, rs) {
		return nil
	}
	return rs
}

// chop cuts the scalar resources of rs to the allowed quantities (rs is
// unreserved, one entry per kind).
func (st *allocState) chop(rs mesos.Resources, allowed vec) mesos.Resources {
	out := rs[:0:0]
	for _, r := range rs {
		if r.GetType() == mesos.SCALAR {
			if k, ok := st.kinds[r.Name]; ok && r.GetScalar().GetValue() > allowed[k] {
				v := math.Floor(allowed[k]*1000) / 1000 // Mesos' fixed point
				if v <= 0 {
					continue
				}
				r.Scalar = &mesos.Value_Scalar{Value: v}
			}
		}
		out = append(out, r)
	}
	return out
}

// charge books an offer of rs to c.
func (st *allocState) charge(c *allocClient, rs mesos.Resources) {
	v := st.vec()
	st.addScalars(v, rs, false)
	uv := st.vec()
	st.addScalars(uv, rs, true)
	addVec(c.alloc, v)
	addVec(c.node.own, v)
	c.node.addAlloc(v)
	c.node.addConsumed(uv)
	for k := range uv {
		st.available[k] -= uv[k]
	}
	c.share = st.dominant(c.alloc)
}
