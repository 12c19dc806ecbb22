package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// operatorHandler answers one operator API call (POST /api/v1). It returns
// the response to encode; a nil response is answered 200 OK with an empty
// body, as Mesos answers calls without a response message. Return
// errAccepted for 202 Accepted, or a *wire.HTTPError for another status.
type operatorHandler func(m *Master, ctx context.Context, call *opv1.Call) (*opv1.Response, error)

// errAccepted makes the dispatcher answer 202 Accepted with no body (Mesos
// does so for RESERVE_RESOURCES, CREATE_VOLUMES and the like).
var errAccepted = errors.New("accepted")

var (
	operatorMu       sync.RWMutex
	operatorHandlers = map[opv1.Call_Type]operatorHandler{}
)

// registerOperatorCall makes h answer operator calls of type t. Files of this
// package register their calls from init, one line each:
//
//	func init() { registerOperatorCall(opv1.Call_SET_QUOTA, (*Master).setQuota) }
//
// Registering a type twice panics.
func registerOperatorCall(t opv1.Call_Type, h operatorHandler) {
	operatorMu.Lock()
	defer operatorMu.Unlock()
	if _, dup := operatorHandlers[t]; dup {
		panic("operator call registered twice: " + t.String())
	}
	operatorHandlers[t] = h
}

func lookupOperatorCall(t opv1.Call_Type) operatorHandler {
	operatorMu.RLock()
	defer operatorMu.RUnlock()
	return operatorHandlers[t]
}

// serveOperator is POST /api/v1: content negotiation as for the scheduler
// API, then the handler registered for the call type. Unknown call types
// are a 400 (as Mesos' validation), known but unimplemented ones a 501.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method))
		return
	}
	n, err := wire.Negotiate(r)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	call := &opv1.Call{}
	if err := wire.DecodeCall(r, n, call); err != nil {
		wire.WriteError(w, err)
		return
	}
	if _, known := opv1.Call_Type_name[int32(call.GetType())]; !known || call.GetType() == opv1.Call_UNKNOWN {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Failed to validate master::Call: Expecting 'type' to be present"))
		return
	}
	h := lookupOperatorCall(call.GetType())
	if h == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotImplemented, "Operator call %s is not implemented", call.GetType()))
		return
	}
	resp, err := h(m, r.Context(), call)
	switch {
	case errors.Is(err, errAccepted):
		w.WriteHeader(http.StatusAccepted)
		return
	case err != nil:
		klog.V(2).InfoS("Operator call failed", "type", call.GetType(), "err", err)
		wire.WriteError(w, err)
		return
	case resp == nil:
		w.WriteHeader(http.StatusOK)
		return
	}
	var buf bytes.Buffer
	if err := n.Response.NewEncoder(encoding.SinkWriter(&buf)).Encode(resp); err != nil {
		wire.WriteError(w, fmt.Errorf("encode %s response: %w", call.GetType(), err))
		return
	}
	w.Header().Set("Content-Type", n.Response.Type.ContentType())
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf.Bytes()); err != nil {
		klog.V(2).InfoS("Writing operator response failed", "type", call.GetType(), "err", err)
	}
}

// registerExtraRoutes adds the operator API, metrics and related endpoints.
func (m *Master) registerExtraRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1", m.serveOperator)
	mux.HandleFunc("/metrics/snapshot", m.serveMetrics)
}

func init() {
	registerOperatorCall(opv1.Call_GET_HEALTH, (*Master).getHealth)
	registerOperatorCall(opv1.Call_GET_VERSION, (*Master).getVersion)
}

func (m *Master) getHealth(context.Context, *opv1.Call) (*opv1.Response, error) {
	return &opv1.Response{Type: opv1.Response_GET_HEALTH, GetHealth: &opv1.Response_GetHealth{Healthy: true}}, nil
}

func (m *Master) getVersion(context.Context, *opv1.Call) (*opv1.Response, error) {
	return &opv1.Response{Type: opv1.Response_GET_VERSION, GetVersion: &opv1.Response_GetVersion{
		VersionInfo: mesos.VersionInfo{Version: Version},
	}}, nil
}

func init() {
	registerOperatorCall(opv1.Call_GET_STATE, (*Master).getState)
	registerOperatorCall(opv1.Call_GET_AGENTS, (*Master).getAgents)
	registerOperatorCall(opv1.Call_GET_FRAMEWORKS, (*Master).getFrameworks)
	registerOperatorCall(opv1.Call_GET_EXECUTORS, (*Master).getExecutors)
	registerOperatorCall(opv1.Call_GET_TASKS, (*Master).getTasks)
	registerOperatorCall(opv1.Call_GET_ROLES, (*Master).getRoles)
	registerOperatorCall(opv1.Call_GET_MASTER, (*Master).getMaster)
	registerOperatorCall(opv1.Call_GET_FLAGS, (*Master).getFlags)
	registerOperatorCall(opv1.Call_GET_METRICS, (*Master).getMetrics)
}

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: t.UnixNano()}
}

func (m *Master) getState(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &opv1.Response{Type: opv1.Response_GET_STATE, GetState: &opv1.Response_GetState{
		GetTasks:      m.tasksLocked(),
		GetExecutors:  m.executorsLocked(),
		GetFrameworks: m.frameworksLocked(),
		GetAgents:     m.agentsLocked(),
	}}, nil
}

func (m *Master) getAgents(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &opv1.Response{Type: opv1.Response_GET_AGENTS, GetAgents: m.agentsLocked()}, nil
}

func (m *Master) getFrameworks(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &opv1.Response{Type: opv1.Response_GET_FRAMEWORKS, GetFrameworks: m.frameworksLocked()}, nil
}

func (m *Master) getExecutors(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &opv1.Response{Type: opv1.Response_GET_EXECUTORS, GetExecutors: m.executorsLocked()}, nil
}

func (m *Master) getTasks(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &opv1.Response{Type: opv1.Response_GET_TASKS, GetTasks: m.tasksLocked()}, nil
}

func (m *Master) getMaster(context.Context, *opv1.Call) (*opv1.Response, error) {
	start := float64(m.startTime.UnixNano()) / 1e9
	elected := float64(m.electedTime().UnixNano()) / 1e9
	return &opv1.Response{Type: opv1.Response_GET_MASTER, GetMaster: &opv1.Response_GetMaster{
		MasterInfo:  m.masterInfo(),
		StartTime:   &start,
		ElectedTime: &elected,
	}}, nil
}

func (m *Master) getFlags(context.Context, *opv1.Call) (*opv1.Response, error) {
	flags := m.flagsJSON()
	if m.cfg.HA.enabled() {
		flags["etcd_endpoints"] = strings.Join(m.cfg.HA.EtcdEndpoints, ",")
		flags["etcd_prefix"] = m.cfg.HA.prefix()
		flags["zk_session_timeout"] = formatDuration(m.cfg.HA.SessionTTL)
	}
	flags["authenticate_frameworks"] = strconv.FormatBool(m.cfg.Auth.AuthenticateFrameworks)
	flags["authenticate_http_frameworks"] = strconv.FormatBool(m.cfg.Auth.AuthenticateFrameworks)
	names := make([]string, 0, len(flags))
	for k := range flags {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]mesos.Flag, 0, len(names))
	for _, k := range names {
		v := flags[k]
		out = append(out, mesos.Flag{Name: k, Value: &v})
	}
	return &opv1.Response{Type: opv1.Response_GET_FLAGS, GetFlags: &opv1.Response_GetFlags{Flags: out}}, nil
}

func (m *Master) getMetrics(context.Context, *opv1.Call) (*opv1.Response, error) {
	snap := m.metricsSnapshot()
	names := make([]string, 0, len(snap))
	for k := range snap {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]mesos.Metric, 0, len(names))
	for _, k := range names {
		v := snap[k]
		out = append(out, mesos.Metric{Name: k, Value: &v})
	}
	return &opv1.Response{Type: opv1.Response_GET_METRICS, GetMetrics: &opv1.Response_GetMetrics{Metrics: out}}, nil
}

// getRoles lists every role with frameworks or allocations, and "*", with
// the resources allocated to it.
func (m *Master) getRoles(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type roleAcc struct {
		fws       map[string]bool
		allocated mesos.Resources
	}
	roles := map[string]*roleAcc{}
	get := func(r string) *roleAcc {
		if roles[r] == nil {
			roles[r] = &roleAcc{fws: map[string]bool{}}
		}
		return roles[r]
	}
	for _, fw := range m.frameworks {
		for _, r := range operatorFrameworkRoles(&fw.info) {
			get(r).fws[fw.id] = true
		}
	}
	add := func(fwID string, rs []mesos.Resource) {
		for _, r := range rs {
			role := r.GetAllocationInfo().GetRole()
			if role == "" {
				continue
			}
			acc := get(role)
			acc.fws[fwID] = true
			acc.allocated.Add(r)
		}
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if !t.terminal {
				add(fw.id, t.task.Resources)
			}
		}
	}
	for _, a := range m.agents {
		for fwID, es := range a.executors {
			for _, e := range es {
				add(fwID, e.info.Resources)
			}
		}
	}
	for _, o := range m.offers {
		add(o.fwID, allocated(o.resources, o.role))
	}
	names := make([]string, 0, len(roles))
	for r := range roles {
		names = append(names, r)
	}
	sort.Strings(names)
	out := make([]mesos.Role, 0, len(names))
	for _, r := range names {
		acc := roles[r]
		ids := make([]string, 0, len(acc.fws))
		for id := range acc.fws {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		fwIDs := make([]mesos.FrameworkID, 0, len(ids))
		for _, id := range ids {
			fwIDs = append(fwIDs, mesos.FrameworkID{Value: id})
		}
		out = append(out, mesos.Role{Name: r, Weight: m.roleCfg.weight(r), Frameworks: fwIDs, Resources: acc.allocated})
	}
	return &opv1.Response{Type: opv1.Response_GET_ROLES, GetRoles: &opv1.Response_GetRoles{Roles: out}}, nil
}

// operatorFrameworkRoles are the roles a framework subscribed with.
func operatorFrameworkRoles(info *mesos.FrameworkInfo) []string {
	if rs := info.GetRoles(); len(rs) > 0 {
		return rs
	}
	return []string{frameworkRole(info)}
}

var agentCapabilities = []mesos.AgentInfo_Capability{
	{Type: mesos.AgentInfo_Capability_MULTI_ROLE},
	{Type: mesos.AgentInfo_Capability_HIERARCHICAL_ROLE},
	{Type: mesos.AgentInfo_Capability_RESERVATION_REFINEMENT},
}

func (m *Master) agentsLocked() *opv1.Response_GetAgents {
	u := m.usageLocked()
	ids := make([]string, 0, len(m.agents))
	for id := range m.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Offered resources carry the role they are offered to, as in Mesos.
	offeredByAgent := map[string]mesos.Resources{}
	for _, o := range m.offers {
		rs := offeredByAgent[o.agentID]
		rs.Add(allocated(o.resources, o.role)...)
		offeredByAgent[o.agentID] = rs
	}
	out := &opv1.Response_GetAgents{Agents: []opv1.Response_GetAgents_Agent{}, RecoveredAgents: []mesos.AgentInfo{}}
	for _, id := range ids {
		a := m.agents[id]
		pid := "slave(1)@" + a.endpoint
		info := a.info
		info.ID = &mesos.AgentID{Value: a.id}
		alloc, offered := u.agentUsed[a.id], withRole(offeredByAgent[a.id])
		if alloc == nil {
			alloc = mesos.Resources{}
		}
		out.Agents = append(out.Agents, opv1.Response_GetAgents_Agent{
			AgentInfo:          info,
			Active:             a.active,
			Deactivated:        ptr(!a.active),
			Version:            Version,
			PID:                &pid,
			RegisteredTime:     timeInfo(a.registeredTime),
			TotalResources:     withRole(a.total),
			AllocatedResources: alloc,
			OfferedResources:   offered,
			Capabilities:       agentCapabilities,
		})
	}
	return out
}

// withRole sets the deprecated role "*" on unreserved resources, as Mesos
// still reports it in total_resources.
func withRole(rs mesos.Resources) []mesos.Resource {
	out := make([]mesos.Resource, 0, len(rs))
	for _, r := range rs {
		r := r
		if r.Role == nil && len(r.Reservations) == 0 {
			r.Role = ptr("*")
		}
		out = append(out, r)
	}
	return out
}

func (m *Master) frameworkLocked(fw *framework, u usage) opv1.Response_GetFrameworks_Framework {
	var offers []mesos.Offer
	var offered mesos.Resources
	for _, o := range m.offers {
		if o.fwID != fw.id {
			continue
		}
		if a := m.agents[o.agentID]; a != nil {
			offers = append(offers, m.offerProtoLocked(o, a))
		}
		offered.Add(allocated(o.resources, o.role)...)
	}
	sort.Slice(offers, func(i, j int) bool { return offers[i].ID.Value < offers[j].ID.Value })
	info := fw.info
	info.ID = &mesos.FrameworkID{Value: fw.id}
	f := opv1.Response_GetFrameworks_Framework{
		FrameworkInfo:      info,
		Active:             fw.connected,
		Connected:          fw.connected,
		Recovered:          fw.recovered,
		RegisteredTime:     timeInfo(fw.registeredTime),
		ReregisteredTime:   timeInfo(fw.registeredTime),
		Offers:             offers,
		InverseOffers:      []mesos.InverseOffer{},
		AllocatedResources: u.fwAllocated[fw.id],
		OfferedResources:   withRole(offered),
	}
	if !fw.connected && !fw.unregistered.IsZero() {
		f.UnregisteredTime = timeInfo(fw.unregistered)
	}
	return f
}

func (m *Master) frameworksLocked() *opv1.Response_GetFrameworks {
	u := m.usageLocked()
	ids := make([]string, 0, len(m.frameworks))
	for id := range m.frameworks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := &opv1.Response_GetFrameworks{Frameworks: []opv1.Response_GetFrameworks_Framework{}, CompletedFrameworks: []opv1.Response_GetFrameworks_Framework{}}
	for _, id := range ids {
		out.Frameworks = append(out.Frameworks, m.frameworkLocked(m.frameworks[id], u))
	}
	for _, fw := range m.completedFrameworks {
		out.CompletedFrameworks = append(out.CompletedFrameworks, m.frameworkLocked(fw, u))
	}
	return out
}

func (m *Master) executorsLocked() *opv1.Response_GetExecutors {
	out := &opv1.Response_GetExecutors{Executors: []opv1.Response_GetExecutors_Executor{}}
	ids := make([]string, 0, len(m.agents))
	for id := range m.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := m.agents[id]
		for fwID, es := range a.executors {
			for _, e := range es {
				info := e.info
				info.FrameworkID = &mesos.FrameworkID{Value: fwID}
				out.Executors = append(out.Executors, opv1.Response_GetExecutors_Executor{ExecutorInfo: info, AgentID: mesos.AgentID{Value: a.id}})
			}
		}
	}
	return out
}

func (m *Master) tasksLocked() *opv1.Response_GetTasks {
	out := &opv1.Response_GetTasks{
		PendingTasks:     []mesos.Task{},
		Tasks:            []mesos.Task{},
		UnreachableTasks: []mesos.Task{},
		CompletedTasks:   []mesos.Task{},
		OrphanTasks:      []mesos.Task{},
	}
	add := func(fw *framework) {
		ids := make([]string, 0, len(fw.tasks))
		for id := range fw.tasks {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			t := fw.tasks[id]
			mt := taskProto(t)
			if mt.GetState() == mesos.TASK_UNREACHABLE {
				out.UnreachableTasks = append(out.UnreachableTasks, mt)
			} else {
				out.Tasks = append(out.Tasks, mt)
			}
		}
		for _, t := range fw.completed {
			out.CompletedTasks = append(out.CompletedTasks, taskProto(t))
		}
	}
	ids := make([]string, 0, len(m.frameworks))
	for id := range m.frameworks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		add(m.frameworks[id])
	}
	for _, fw := range m.completedFrameworks {
		add(fw)
	}
	return out
}

// taskProto is a task as the operator API shows it: latest status state
// and uuid in status_update_state / status_update_uuid.
func taskProto(t *task) mesos.Task {
	mt := t.task
	mt.Statuses = append([]mesos.TaskStatus(nil), t.task.Statuses...)
	for i := range mt.Statuses {
		st := &mt.Statuses[i]
		if i == len(mt.Statuses)-1 && t.latest.GetState() == st.GetState() {
			*st = t.latest
			st.Data = nil
		}
		if st.AgentID == nil && mt.AgentID.Value != "" {
			st.AgentID = &mesos.AgentID{Value: mt.AgentID.Value}
		}
		if st.ExecutorID == nil && mt.ExecutorID != nil {
			st.ExecutorID = mt.ExecutorID
		}
	}
	if t.latest.State != nil {
		mt.StatusUpdateState = t.latest.State
		mt.StatusUpdateUUID = t.latest.UUID
	} else if mt.State != nil {
		mt.StatusUpdateState = mt.State
	}
	return mt
}
