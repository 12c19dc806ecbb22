package master

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

func resourcesSum(rs []mesos.Resource) mesos.Resources { return resources.Unallocated(rs) }

func resourcesContain(have, want []mesos.Resource) bool { return resources.Contains(have, want) }

func validateResources(rs []mesos.Resource) error { return resources.Validate(rs) }

func allocated(rs []mesos.Resource, role string) []mesos.Resource {
	return resources.Allocated(resources.Unallocated(rs), role)
}

// allocationLoop runs an allocation round AllocationInterval after the end
// of the previous one (as Mesos' batch allocation does, so a slow cycle on
// a large cluster never starves calls waiting for the master) and expires
// offers past OfferTimeout.
func (m *Master) allocationLoop(ctx context.Context) {
	t := time.NewTimer(m.cfg.AllocationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.allocationRound()
		t.Reset(m.cfg.AllocationInterval)
	}
}

// allocationRound rescinds offers held past OfferTimeout, then allocates.
func (m *Master) allocationRound() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.OfferTimeout > 0 {
		deadline := time.Now().Add(-m.cfg.OfferTimeout)
		m.rescindOffersLocked(func(o *offer) bool { return o.created.Before(deadline) }, true)
	}
	m.allocateLocked()
}

// usage sums what tasks and executors hold, per agent and per framework.
type usage struct {
	agentUsed    map[string]mesos.Resources
	agentOffered map[string]mesos.Resources
	fwAllocated  map[string]mesos.Resources // used + offered
}

func (m *Master) usageLocked() usage {
	u := usage{agentUsed: map[string]mesos.Resources{}, agentOffered: map[string]mesos.Resources{}, fwAllocated: map[string]mesos.Resources{}}
	m.forEachAllocationLocked(func(kind allocKind, fw *framework, role, agentID string, rs mesos.Resources) {
		add := func(mp map[string]mesos.Resources, k string) {
			cur := mp[k]
			cur.Add(rs...)
			mp[k] = cur
		}
		if kind == allocOffered {
			add(u.agentOffered, agentID)
		} else {
			add(u.agentUsed, agentID)
		}
		add(u.fwAllocated, fw.id)
	})
	return u
}

type allocKind int

const (
	allocTask allocKind = iota
	allocExecutor
	allocOffered
)

// forEachAllocationLocked calls f for every live task, running executor and
// outstanding offer with the role its resources are allocated to.
func (m *Master) forEachAllocationLocked(f func(kind allocKind, fw *framework, role, agentID string, rs mesos.Resources)) {
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if !t.terminal {
				f(allocTask, fw, taskRole(fw, t), t.task.AgentID.Value, t.resources)
			}
		}
	}
	for _, a := range m.agents {
		for fwID, es := range a.executors {
			fw := m.frameworks[fwID]
			if fw == nil {
				continue
			}
			for _, e := range es {
				f(allocExecutor, fw, fw.role, a.id, e.resources)
			}
		}
	}
	for _, o := range m.offers {
		if fw := m.frameworks[o.fwID]; fw != nil {
			f(allocOffered, fw, o.role, o.agentID, o.resources)
		}
	}
}

// taskRole is the role a task's resources are allocated to.
func taskRole(fw *framework, t *task) string {
	for _, r := range t.task.Resources {
		if r.AllocationInfo != nil && r.AllocationInfo.GetRole() != "" {
			return r.AllocationInfo.GetRole()
		}
	}
	return fw.role
}

func (a *agent) free(u usage) mesos.Resources {
	free := a.total.Clone()
	free.Subtract(u.agentUsed[a.id]...)
	free.Subtract(u.agentOffered[a.id]...)
	return free
}

// allocationPlan is the outcome of one allocation cycle: the offers made,
// grouped by framework, ready to be sent.
type allocationPlan struct {
	offers map[string][]mesos.Offer // by framework ID
}

// allocateLocked runs one allocation cycle and sends the offers it made.
func (m *Master) allocateLocked() {
	m.sendOffersLocked(m.planAllocationLocked(time.Now(), nil))
}

// allocateAgentLocked runs an allocation cycle for agent a alone (shares
// still over the whole cluster), as Mesos' allocator does for an agent
// whose total changed (generateOffers(slaveId)).
func (m *Master) allocateAgentLocked(a *agent) {
	m.sendOffersLocked(m.planAllocationLocked(time.Now(), a))
}

// sendOffersLocked sends each framework one OFFERS event with its offers.
func (m *Master) sendOffersLocked(p allocationPlan) {
	for fwID, offers := range p.offers {
		fw := m.frameworks[fwID]
		if fw == nil {
			continue
		}
		klog.V(2).InfoS("Sending offers", "framework", fwID, "count", len(offers))
		fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}})
	}
}

// planAllocationLocked is Mesos' hierarchical DRF allocator
// (HierarchicalAllocatorProcess::__allocate) over the active agents, in a
// random order as Mesos does:
//
//  1. Quota guarantees: roles whose guarantee is not yet consumed are offered
//     their reserved resources plus unreserved ones up to the guarantee.
//  2. Everything else: roles in weighted-DRF order of the role tree, then
//     frameworks of a role in DRF order, get the agent's reserved resources
//     of their role and its unreserved resources, limited by quota limits
//     and never eating into the headroom that unsatisfied guarantees of
//     other roles need.
//
// An offer goes to one framework for one role (its allocation_info) and is
// recorded in m.offers. With only set, only that agent's resources are
// offered.
func (m *Master) planAllocationLocked(now time.Time, only *agent) allocationPlan {
	plan := allocationPlan{offers: map[string][]mesos.Offer{}}
	agents := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		if a.active && a.box != nil {
			agents = append(agents, a)
		}
	}
	if len(agents) == 0 {
		return plan
	}
	m.expireFiltersLocked(now)
	st := m.newAllocState(agents, now)
	if len(st.clients) == 0 {
		return plan
	}
	sort.Slice(agents, func(i, j int) bool { return agents[i].id < agents[j].id })
	rand.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	if only != nil {
		agents = []*agent{only}
		if !only.active || only.box == nil {
			return plan
		}
	}

	for _, a := range agents {
		free := st.free[a.id]
		if len(free) == 0 {
			continue
		}
		// Stage 1: unsatisfied quota guarantees.
		for _, q := range st.quotaRoles {
			if !st.guaranteeUnsatisfied(q) {
				continue
			}
			for _, c := range st.subtreeClients(q) {
				if len(free) == 0 {
					break
				}
				if rs := st.offerable(c, q, a.id, free, true); rs != nil {
					free = m.makeOfferLocked(st, &plan, c, a, free, rs, now)
				}
			}
		}
		// Stage 2: weighted DRF over the role tree.
		for _, n := range st.orderRoles() {
			if len(free) == 0 {
				break
			}
			for i := 0; i < len(n.clients); i++ {
				c := n.clients[i]
				if rs := st.offerable(c, nil, a.id, free, false); rs != nil {
					free = m.makeOfferLocked(st, &plan, c, a, free, rs, now)
					n.resortClient(c)
					i = -1 // the order changed: start over with the neediest
					if len(free) == 0 {
						break
					}
				}
			}
		}
		st.free[a.id] = free
	}
	return plan
}

// makeOfferLocked records an offer of rs on a to client c and returns what
// is left of free.
func (m *Master) makeOfferLocked(st *allocState, plan *allocationPlan, c *allocClient, a *agent, free, rs mesos.Resources, now time.Time) mesos.Resources {
	o := &offer{
		id:        fmt.Sprintf("%s-O%d", m.id, m.nextOffer),
		fwID:      c.fw.id,
		agentID:   a.id,
		resources: rs,
		role:      c.role,
		created:   now,
	}
	m.nextOffer++
	m.offers[o.id] = o
	st.charge(c, rs)
	plan.offers[c.fw.id] = append(plan.offers[c.fw.id], m.offerProtoLocked(o, a))
	free = free.Clone()
	free.Subtract(rs...)
	if !hasOfferable(free) {
		return nil
	}
	return free
}

// hasOfferable reports whether rs still holds something a later framework
// could be offered: allocatable unreserved resources or any reservation.
func hasOfferable(rs mesos.Resources) bool {
	if resources.Allocatable(rs) {
		return true
	}
	for i := range rs {
		if !rs[i].IsUnreserved() {
			return true
		}
	}
	return false
}

// filtered reports whether a filter keeps rs of agent away from fw in role:
// Mesos filters resources that are a subset of the refused ones.
func (fw *framework) filtered(agentID, role string, rs mesos.Resources) bool {
	for _, f := range fw.filters {
		if f.agentID == agentID && (f.role == "" || f.role == role) && resources.Contains(f.resources, rs) {
			return true
		}
	}
	return false
}

func (m *Master) offerProtoLocked(o *offer, a *agent) mesos.Offer {
	host, ip, port := a.hostIPPort()
	role := o.role
	var execIDs []mesos.ExecutorID
	for id := range a.executors[o.fwID] {
		execIDs = append(execIDs, mesos.ExecutorID{Value: id})
	}
	sort.Slice(execIDs, func(i, j int) bool { return execIDs[i].Value < execIDs[j].Value })
	rs := o.resources
	if fw := m.frameworks[o.fwID]; fw == nil || !fw.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		rs = downgradeResources(rs)
	}
	return mesos.Offer{
		ID:          mesos.OfferID{Value: o.id},
		FrameworkID: mesos.FrameworkID{Value: o.fwID},
		AgentID:     mesos.AgentID{Value: a.id},
		Hostname:    host,
		URL: &mesos.URL{
			Scheme:  "http",
			Address: mesos.Address{Hostname: &host, IP: &ip, Port: int32(port)},
			Path:    ptr("/slave(1)"),
		},
		Resources:      resources.Allocated(rs, role),
		Attributes:     a.info.Attributes,
		Domain:         a.info.Domain,
		Unavailability: m.unavailabilityLocked(a),
		ExecutorIDs:    execIDs,
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: &role},
	}
}

// rescindOffersLocked withdraws the offers matching pred; their resources
// return to the pool. With notify, frameworks get RESCIND events.
func (m *Master) rescindOffersLocked(pred func(*offer) bool, notify bool) {
	for id, o := range m.offers {
		if !pred(o) {
			continue
		}
		delete(m.offers, id)
		if notify {
			if fw := m.frameworks[o.fwID]; fw != nil {
				fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: id}}})
			}
		}
	}
}
