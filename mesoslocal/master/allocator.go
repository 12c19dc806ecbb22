package master

import (
	"context"
	"fmt"
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

// allocationLoop runs an allocation round every AllocationInterval and
// expires offers past OfferTimeout.
func (m *Master) allocationLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.AllocationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		if m.cfg.OfferTimeout > 0 {
			deadline := time.Now().Add(-m.cfg.OfferTimeout)
			m.rescindOffersLocked(func(o *offer) bool { return o.created.Before(deadline) }, true)
		}
		m.allocateLocked()
		m.mu.Unlock()
	}
}

// usage sums what tasks and executors hold, per agent and per framework.
type usage struct {
	agentUsed    map[string]mesos.Resources
	agentOffered map[string]mesos.Resources
	fwAllocated  map[string]mesos.Resources // used + offered
}

func (m *Master) usageLocked() usage {
	u := usage{agentUsed: map[string]mesos.Resources{}, agentOffered: map[string]mesos.Resources{}, fwAllocated: map[string]mesos.Resources{}}
	add := func(mp map[string]mesos.Resources, k string, rs mesos.Resources) {
		cur := mp[k]
		cur.Add(rs...)
		mp[k] = cur
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if !t.terminal {
				add(u.agentUsed, t.task.AgentID.Value, t.resources)
				add(u.fwAllocated, fw.id, t.resources)
			}
		}
	}
	for _, a := range m.agents {
		for fwID, es := range a.executors {
			for _, e := range es {
				add(u.agentUsed, a.id, e.resources)
				add(u.fwAllocated, fwID, e.resources)
			}
		}
	}
	for _, o := range m.offers {
		add(u.agentOffered, o.agentID, o.resources)
		add(u.fwAllocated, o.fwID, o.resources)
	}
	return u
}

func (a *agent) free(u usage) mesos.Resources {
	free := a.total.Clone()
	free.Subtract(u.agentUsed[a.id]...)
	free.Subtract(u.agentOffered[a.id]...)
	return free
}

// allocateLocked offers each active agent's free resources to the eligible
// framework with the lowest dominant share (DRF without roles or weights).
func (m *Master) allocateLocked() {
	now := time.Now()
	var cluster mesos.Resources
	var agents []*agent
	for _, a := range m.agents {
		if a.active && a.box != nil {
			agents = append(agents, a)
			cluster.Add(a.total...)
		}
	}
	sort.Slice(agents, func(i, j int) bool { return agents[i].id < agents[j].id })
	var fws []*framework
	for _, fw := range m.frameworks {
		if !fw.connected || fw.suppressed {
			continue
		}
		kept := fw.filters[:0]
		for _, f := range fw.filters {
			if f.until.After(now) {
				kept = append(kept, f)
			}
		}
		fw.filters = kept
		fws = append(fws, fw)
	}
	if len(fws) == 0 || len(agents) == 0 {
		return
	}
	u := m.usageLocked()
	batches := map[string][]mesos.Offer{}
	for _, a := range agents {
		free := a.free(u)
		if !resources.Allocatable(free) {
			continue
		}
		sort.SliceStable(fws, func(i, j int) bool {
			si := resources.DominantShare(u.fwAllocated[fws[i].id], cluster)
			sj := resources.DominantShare(u.fwAllocated[fws[j].id], cluster)
			if si != sj {
				return si < sj
			}
			return fws[i].id < fws[j].id
		})
		for _, fw := range fws {
			if fw.filtered(a.id, free) {
				continue
			}
			o := &offer{
				id:        fmt.Sprintf("%s-O%d", m.id, m.nextOffer),
				fwID:      fw.id,
				agentID:   a.id,
				resources: free,
				role:      fw.role,
				created:   now,
			}
			m.nextOffer++
			m.offers[o.id] = o
			cur := u.fwAllocated[fw.id]
			cur.Add(free...)
			u.fwAllocated[fw.id] = cur
			batches[fw.id] = append(batches[fw.id], m.offerProtoLocked(o, a))
			break
		}
	}
	for fwID, offers := range batches {
		fw := m.frameworks[fwID]
		klog.V(2).InfoS("Sending offers", "framework", fwID, "count", len(offers))
		fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}})
	}
}

// filtered reports whether a filter keeps rs of agent away from fw: Mesos
// filters resources that are a subset of the refused ones.
func (fw *framework) filtered(agentID string, rs mesos.Resources) bool {
	for _, f := range fw.filters {
		if f.agentID == agentID && resources.Contains(f.resources, rs) {
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
		Resources:      resources.Allocated(o.resources, role),
		Attributes:     a.info.Attributes,
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
