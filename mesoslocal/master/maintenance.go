package master

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosalloc "github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

func init() {
	registerOperatorCall(opv1.Call_GET_MAINTENANCE_SCHEDULE, (*Master).getMaintenanceSchedule)
	registerOperatorCall(opv1.Call_GET_MAINTENANCE_STATUS, (*Master).getMaintenanceStatus)
	registerOperatorCall(opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, (*Master).updateMaintenanceSchedule)
	registerOperatorCall(opv1.Call_START_MAINTENANCE, (*Master).startMaintenance)
	registerOperatorCall(opv1.Call_STOP_MAINTENANCE, (*Master).stopMaintenance)
	registerOperatorCall(opv1.Call_MARK_AGENT_GONE, (*Master).markAgentGone)
}

// maintenanceState is the maintenance schedule and what follows from it:
// machines in the schedule are DRAINING (their offers carry the window's
// unavailability and frameworks running there get inverse offers) until an
// operator starts maintenance, which takes them DOWN.
type maintenanceState struct {
	schedule maintenance.Schedule
	down     map[string]mesos.MachineID
	inverse  map[string]*inverseOffer // outstanding, by ID
	// statuses are the latest inverse offer answers per machine and framework.
	statuses map[string]map[string]mesosalloc.InverseOfferStatus
	// refused keeps a framework's next inverse offer for an agent back until
	// the refuse_seconds of its last answer expire.
	refused map[string]time.Time
	next    int
}

type inverseOffer struct {
	id             string
	fwID           string
	agentID        string
	machine        string
	unavailability mesos.Unavailability
}

// clearInverseFilters drops the refuse_seconds of fwID's inverse offer
// answers, as Mesos' REVIVE clears a framework's inverse offer filters.
func (s *maintenanceState) clearInverseFilters(fwID string) {
	for k := range s.refused {
		if strings.HasSuffix(k, "/"+fwID) {
			delete(s.refused, k)
		}
	}
}

func (s *maintenanceState) init() {
	if s.down == nil {
		s.down = map[string]mesos.MachineID{}
		s.inverse = map[string]*inverseOffer{}
		s.statuses = map[string]map[string]mesosalloc.InverseOfferStatus{}
		s.refused = map[string]time.Time{}
	}
}

func machineKey(id mesos.MachineID) string { return id.GetHostname() + "|" + id.GetIP() }

// machineMatches reports whether a schedule entry names the machine with
// hostname and ip: every field the entry sets must match.
func machineMatches(id mesos.MachineID, hostname, ip string) bool {
	if id.Hostname == nil && id.IP == nil {
		return false
	}
	return (id.Hostname == nil || id.GetHostname() == hostname) && (id.IP == nil || id.GetIP() == ip)
}

func hostOf(endpoint string) string {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return endpoint
	}
	return host
}

// agentMachineLocked finds the schedule entry and window unavailability of
// a's machine.
func (m *Master) agentMachineLocked(a *agent) (mesos.MachineID, mesos.Unavailability, bool) {
	return m.machineLocked(a.info.GetHostname(), hostOf(a.endpoint))
}

func (m *Master) machineLocked(hostname, ip string) (mesos.MachineID, mesos.Unavailability, bool) {
	for _, w := range m.maint.schedule.Windows {
		for _, id := range w.MachineIDs {
			if machineMatches(id, hostname, ip) {
				return id, w.Unavailability, true
			}
		}
	}
	return mesos.MachineID{}, mesos.Unavailability{}, false
}

func (m *Master) machineDownLocked(hostname, ip string) bool {
	for _, id := range m.maint.down {
		if machineMatches(id, hostname, ip) {
			return true
		}
	}
	return false
}

// unavailabilityLocked is the unavailability offers of agent a carry: set
// while a's machine is DRAINING.
func (m *Master) unavailabilityLocked(a *agent) *mesos.Unavailability {
	id, u, ok := m.agentMachineLocked(a)
	if !ok {
		return nil
	}
	if _, down := m.maint.down[machineKey(id)]; down {
		return nil
	}
	return &u
}

// maintenanceLoop sends inverse offers every allocation interval.
func (m *Master) maintenanceLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.AllocationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		if !m.closed {
			m.sendInverseOffersLocked(time.Now())
		}
		m.mu.Unlock()
	}
}

// sendInverseOffersLocked offers every framework with resources allocated on
// an agent of a DRAINING machine (tasks, executors, or an offer it holds, as
// Mesos' allocator counts offered resources as allocated) an inverse offer
// for that agent, unless one is outstanding or its last answer's
// refuse_seconds have not passed.
func (m *Master) sendInverseOffersLocked(now time.Time) {
	if len(m.maint.schedule.Windows) == 0 {
		return
	}
	m.maint.init()
	batches := map[string][]mesos.InverseOffer{}
	for _, a := range m.sortedAgentsLocked() {
		if !a.active || a.box == nil {
			continue
		}
		mid, u, ok := m.agentMachineLocked(a)
		if !ok {
			continue
		}
		if _, down := m.maint.down[machineKey(mid)]; down {
			continue
		}
		for _, fw := range m.sortedFrameworksLocked() {
			if !fw.connected || !m.frameworkOnAgentLocked(fw, a) || m.outstandingInverseLocked(fw.id, a.id) {
				continue
			}
			if until, ok := m.maint.refused[a.id+"/"+fw.id]; ok && now.Before(until) {
				continue
			}
			io := &inverseOffer{
				id:             fmt.Sprintf("%s-O%d", m.id, m.nextOffer),
				fwID:           fw.id,
				agentID:        a.id,
				machine:        machineKey(mid),
				unavailability: u,
			}
			m.nextOffer++
			m.maint.inverse[io.id] = io
			host, ip, port := a.hostIPPort()
			batches[fw.id] = append(batches[fw.id], mesos.InverseOffer{
				OfferID:     mesos.OfferID{Value: io.id},
				FrameworkID: mesos.FrameworkID{Value: fw.id},
				AgentID:     &mesos.AgentID{Value: a.id},
				URL: &mesos.URL{
					Scheme:  "http",
					Address: mesos.Address{Hostname: &host, IP: &ip, Port: int32(port)},
					Path:    ptr("/slave(1)"),
				},
				Unavailability: u,
			})
		}
	}
	for fwID, ios := range batches {
		klog.InfoS("Sending inverse offers", "framework", fwID, "count", len(ios))
		m.frameworks[fwID].send(&scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: ios}})
	}
}

func (m *Master) frameworkOnAgentLocked(fw *framework, a *agent) bool {
	if len(a.executors[fw.id]) > 0 {
		return true
	}
	for _, o := range m.offers {
		if o.fwID == fw.id && o.agentID == a.id {
			return true
		}
	}
	for _, t := range fw.tasks {
		if !t.terminal && t.task.AgentID.Value == a.id {
			return true
		}
	}
	return false
}

func (m *Master) outstandingInverseLocked(fwID, agentID string) bool {
	for _, io := range m.maint.inverse {
		if io.fwID == fwID && io.agentID == agentID {
			return true
		}
	}
	return false
}

// dropInverseOffersLocked voids fwID's outstanding inverse offers without
// an event (its connection is gone or replaced), as Mesos removes the
// inverse offers of a framework it deactivates or that fails over; the
// next allocation sends new ones.
func (m *Master) dropInverseOffersLocked(fwID string) {
	for id, io := range m.maint.inverse {
		if io.fwID == fwID {
			delete(m.maint.inverse, id)
		}
	}
}

// rescindInverseOffersLocked withdraws the outstanding inverse offers
// matching pred with RESCIND_INVERSE_OFFER events.
func (m *Master) rescindInverseOffersLocked(pred func(*inverseOffer) bool) {
	ids := make([]string, 0, len(m.maint.inverse))
	for id := range m.maint.inverse {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		io := m.maint.inverse[id]
		if !pred(io) {
			continue
		}
		delete(m.maint.inverse, id)
		if fw := m.frameworks[io.fwID]; fw != nil {
			fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND_INVERSE_OFFER, RescindInverseOffer: &scheduler.Event_RescindInverseOffer{InverseOfferID: mesos.OfferID{Value: id}}})
		}
	}
}

// answerInverseOffersLocked records ACCEPT_INVERSE_OFFERS or
// DECLINE_INVERSE_OFFERS: the answer shows in GET_MAINTENANCE_STATUS and the
// framework gets no new inverse offer for the agent for refuse_seconds.
func (m *Master) answerInverseOffersLocked(fw *framework, ids []mesos.OfferID, f *mesos.Filters, accept bool) {
	m.maint.init()
	status := mesosalloc.InverseOfferStatus_DECLINE
	if accept {
		status = mesosalloc.InverseOfferStatus_ACCEPT
	}
	secs := defaultRefuseSeconds
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	now := time.Now()
	for _, oid := range ids {
		io := m.maint.inverse[oid.Value]
		if io == nil || io.fwID != fw.id {
			klog.InfoS("Ignoring answer to an unknown inverse offer", "framework", fw.id, "inverseOffer", oid.Value)
			continue
		}
		delete(m.maint.inverse, oid.Value)
		if m.maint.statuses[io.machine] == nil {
			m.maint.statuses[io.machine] = map[string]mesosalloc.InverseOfferStatus{}
		}
		m.maint.statuses[io.machine][fw.id] = mesosalloc.InverseOfferStatus{
			Status:      status.Enum(),
			FrameworkID: mesos.FrameworkID{Value: fw.id},
			Timestamp:   mesos.TimeInfo{Nanoseconds: now.UnixNano()},
		}
		m.maint.refused[io.agentID+"/"+fw.id] = now.Add(time.Duration(secs * float64(time.Second)))
		klog.InfoS("Inverse offer answered", "framework", fw.id, "agent", io.agentID, "status", status)
	}
}

func (m *Master) getMaintenanceSchedule(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s maintenance.Schedule
	if b, err := m.maint.schedule.Marshal(); err == nil {
		_ = s.Unmarshal(b)
	}
	if s.Windows == nil {
		s.Windows = []maintenance.Window{}
	}
	return &opv1.Response{Type: opv1.Response_GET_MAINTENANCE_SCHEDULE, GetMaintenanceSchedule: &opv1.Response_GetMaintenanceSchedule{Schedule: s}}, nil
}

func (m *Master) getMaintenanceStatus(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maint.init()
	st := maintenance.ClusterStatus{DrainingMachines: []maintenance.ClusterStatus_DrainingMachine{}, DownMachines: []mesos.MachineID{}}
	for _, w := range m.maint.schedule.Windows {
		for _, id := range w.MachineIDs {
			key := machineKey(id)
			if _, down := m.maint.down[key]; down {
				st.DownMachines = append(st.DownMachines, id)
				continue
			}
			dm := maintenance.ClusterStatus_DrainingMachine{ID: id, Statuses: []mesosalloc.InverseOfferStatus{}}
			fwIDs := make([]string, 0, len(m.maint.statuses[key]))
			for fwID := range m.maint.statuses[key] {
				fwIDs = append(fwIDs, fwID)
			}
			sort.Strings(fwIDs)
			for _, fwID := range fwIDs {
				dm.Statuses = append(dm.Statuses, m.maint.statuses[key][fwID])
			}
			st.DrainingMachines = append(st.DrainingMachines, dm)
		}
	}
	return &opv1.Response{Type: opv1.Response_GET_MAINTENANCE_STATUS, GetMaintenanceStatus: &opv1.Response_GetMaintenanceStatus{Status: st}}, nil
}

// updateMaintenanceSchedule replaces the schedule, validated as Mesos does:
// every machine has a hostname or an IP and appears in one window only, and
// machines that are DOWN stay in it. Agents whose unavailability changed
// lose their offers and inverse offers (RESCIND, RESCIND_INVERSE_OFFER).
func (m *Master) updateMaintenanceSchedule(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	if call.UpdateMaintenanceSchedule == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'update_maintenance_schedule' to be present")
	}
	s := call.UpdateMaintenanceSchedule.Schedule
	seen := map[string]bool{}
	for _, w := range s.Windows {
		if len(w.MachineIDs) == 0 {
			return nil, wire.Errorf(http.StatusBadRequest, "List of machines in the maintenance window is empty")
		}
		if d := w.Unavailability.Duration; d != nil && d.Nanoseconds < 0 {
			return nil, wire.Errorf(http.StatusBadRequest, "Unavailability duration is negative")
		}
		for _, id := range w.MachineIDs {
			if id.GetHostname() == "" && id.GetIP() == "" {
				return nil, wire.Errorf(http.StatusBadRequest, "Both 'hostname' and 'ip' for a machine are empty")
			}
			if id.IP != nil && net.ParseIP(id.GetIP()) == nil {
				return nil, wire.Errorf(http.StatusBadRequest, "Invalid IP address '%s'", id.GetIP())
			}
			if seen[machineKey(id)] {
				return nil, wire.Errorf(http.StatusBadRequest, "Machine '%s' appears more than once in the schedule", machineKey(id))
			}
			seen[machineKey(id)] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maint.init()
	for key := range m.maint.down {
		if !seen[key] {
			return nil, wire.Errorf(http.StatusBadRequest, "Machine '%s' is deactivated and must be part of the schedule", key)
		}
	}
	before := map[string]*mesos.Unavailability{}
	for id, a := range m.agents {
		before[id] = m.unavailabilityLocked(a)
	}
	m.maint.schedule = s
	for key := range m.maint.statuses {
		if !seen[key] {
			delete(m.maint.statuses, key)
		}
	}
	for id, a := range m.agents {
		after := m.unavailabilityLocked(a)
		if sameUnavailability(before[id], after) {
			continue
		}
		m.rescindOffersLocked(func(o *offer) bool { return o.agentID == id }, true)
		m.rescindInverseOffersLocked(func(io *inverseOffer) bool { return io.agentID == id })
		for k := range m.maint.refused {
			if len(k) > len(id) && k[:len(id)+1] == id+"/" {
				delete(m.maint.refused, k)
			}
		}
	}
	klog.InfoS("Maintenance schedule updated", "windows", len(s.Windows))
	return nil, nil
}

func sameUnavailability(a, b *mesos.Unavailability) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(b)
}

// startMaintenance takes machines of the schedule DOWN: their agents are
// removed and shut down (tasks TASK_GONE_BY_OPERATOR for PARTITION_AWARE
// frameworks, TASK_LOST for others) and may not register until maintenance
// stops.
func (m *Master) startMaintenance(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	if call.StartMaintenance == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'start_maintenance' to be present")
	}
	if err := validMachineList(call.StartMaintenance.Machines); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maint.init()
	var ids []mesos.MachineID
	for _, want := range call.StartMaintenance.Machines {
		found := false
		for _, w := range m.maint.schedule.Windows {
			for _, id := range w.MachineIDs {
				if machineKey(id) == machineKey(want) {
					found = true
				}
			}
		}
		if !found {
			return nil, wire.Errorf(http.StatusBadRequest, "Machine '%s' is not part of a maintenance schedule", machineKey(want))
		}
		if _, down := m.maint.down[machineKey(want)]; down {
			return nil, wire.Errorf(http.StatusBadRequest, "Machine '%s' is not in DRAINING mode and cannot be brought down", machineKey(want))
		}
		ids = append(ids, want)
	}
	for _, id := range ids {
		key := machineKey(id)
		m.maint.down[key] = id
		delete(m.maint.statuses, key)
		for _, a := range m.sortedAgentsLocked() {
			if !machineMatches(id, a.info.GetHostname(), hostOf(a.endpoint)) {
				continue
			}
			klog.InfoS("Machine going DOWN for maintenance, removing its agent", "machine", key, "agent", a.id)
			m.rescindInverseOffersLocked(func(io *inverseOffer) bool { return io.agentID == a.id })
			m.removeAgentLocked(a, mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR, "Agent's machine is DOWN for maintenance")
		}
	}
	return nil, nil
}

// stopMaintenance brings DOWN machines back UP and out of the schedule;
// their agents may register again (with new IDs).
func (m *Master) stopMaintenance(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	if call.StopMaintenance == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'stop_maintenance' to be present")
	}
	if err := validMachineList(call.StopMaintenance.Machines); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maint.init()
	for _, id := range call.StopMaintenance.Machines {
		if _, down := m.maint.down[machineKey(id)]; !down {
			return nil, wire.Errorf(http.StatusBadRequest, "Machine '%s' is not in DOWN mode", machineKey(id))
		}
	}
	for _, id := range call.StopMaintenance.Machines {
		key := machineKey(id)
		delete(m.maint.down, key)
		delete(m.maint.statuses, key)
		var windows []maintenance.Window
		for _, w := range m.maint.schedule.Windows {
			var kept []mesos.MachineID
			for _, mid := range w.MachineIDs {
				if machineKey(mid) != key {
					kept = append(kept, mid)
				}
			}
			if len(kept) > 0 {
				w.MachineIDs = kept
				windows = append(windows, w)
			}
		}
		m.maint.schedule.Windows = windows
		klog.InfoS("Machine back UP after maintenance", "machine", key)
	}
	return nil, nil
}

// validMachineList checks the machines of START_MAINTENANCE or
// STOP_MAINTENANCE as Mesos does (400 otherwise): the list is not empty,
// each machine has a hostname or a well-formed IP, and appears once.
func validMachineList(ids []mesos.MachineID) error {
	if len(ids) == 0 {
		return wire.Errorf(http.StatusBadRequest, "List of machines is empty")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id.GetHostname() == "" && id.GetIP() == "" {
			return wire.Errorf(http.StatusBadRequest, "Both 'hostname' and 'ip' for a machine are empty")
		}
		if id.IP != nil && net.ParseIP(id.GetIP()) == nil {
			return wire.Errorf(http.StatusBadRequest, "Invalid IP address '%s'", id.GetIP())
		}
		if seen[machineKey(id)] {
			return wire.Errorf(http.StatusBadRequest, "Machine '%s' appears more than once in the list", machineKey(id))
		}
		seen[machineKey(id)] = true
	}
	return nil
}

func (m *Master) markAgentGone(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	if call.MarkAgentGone == nil || call.MarkAgentGone.AgentID.Value == "" {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'mark_agent_gone' to be present")
	}
	if err := m.MarkAgentGone(call.MarkAgentGone.AgentID.Value); err != nil {
		return nil, err
	}
	return nil, nil
}

func (m *Master) sortedAgentsLocked() []*agent {
	out := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
