package master

import (
	"fmt"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mesosid"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// defaultRefuseSeconds is Mesos' Filters.refuse_seconds default.
const defaultRefuseSeconds = 5.0

func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method))
		return
	}
	n, err := wire.Negotiate(r)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	var call scheduler.Call
	if err := wire.DecodeCall(r, n, &call); err != nil {
		wire.WriteError(w, err)
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		m.subscribe(w, r, n, &call)
		return
	}
	if err := m.handleCall(r.Header.Get(wire.HeaderStreamID), &call); err != nil {
		wire.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, n wire.Negotiation, call *scheduler.Call) {
	if r.Header.Get(wire.HeaderStreamID) != "" {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header"))
		return
	}
	if call.Subscribe == nil || call.Subscribe.FrameworkInfo == nil {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Expecting 'subscribe' to be present"))
		return
	}
	info := *call.Subscribe.FrameworkInfo
	if call.FrameworkID != nil && info.GetID().GetValue() != call.FrameworkID.GetValue() {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'"))
		return
	}
	if info.GetID() != nil {
		if err := mesosid.Validate(info.GetID().GetValue()); err != nil {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "'framework_info.id' is invalid: %v", err))
			return
		}
	}

	box := mailbox.New[*scheduler.Event]()
	streamID := newUUID()
	fw, err := m.registerFramework(info, call.Subscribe.GetSuppressedRoles(), box, streamID)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	defer m.disconnectFramework(fw.id, box)

	stream := wire.StartStream(w, n, http.Header{wire.HeaderStreamID: {streamID}})
	heartbeat := time.NewTicker(m.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	// Drain what was queued before a close (e.g. a failover ERROR).
	err = box.Pump(r.Context().Done(), heartbeat.C, true,
		func(e *scheduler.Event) error { return stream.Send(e) },
		func() error { return stream.Send(&scheduler.Event{Type: scheduler.Event_HEARTBEAT}) })
	if err != nil {
		klog.V(2).InfoS("Scheduler stream closed", "framework", fw.id, "err", err)
	}
}

// registerFramework adds or re-subscribes a framework and queues SUBSCRIBED.
func (m *Master) registerFramework(info mesos.FrameworkInfo, suppressedRoles []string, box *mailbox.Box[*scheduler.Event], streamID string) (*framework, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, wire.Errorf(http.StatusServiceUnavailable, "Master is shutting down")
	}
	var fw *framework
	if id := info.GetID().GetValue(); id != "" {
		fw = m.frameworks[id]
		if fw == nil {
			for _, c := range m.completedFrameworks {
				if c.id == id {
					return nil, wire.Errorf(http.StatusForbidden, "Framework %s has been removed", id)
				}
			}
			// Unknown ID: a framework failing over to a new master.
			fw = &framework{id: id, tasks: map[string]*task{}, registeredTime: time.Now()}
			m.frameworks[id] = fw
		}
	} else {
		id := fmt.Sprintf("%s-%04d", m.id, m.nextFramework)
		m.nextFramework++
		info.ID = &mesos.FrameworkID{Value: id}
		fw = &framework{id: id, tasks: map[string]*task{}, registeredTime: time.Now()}
		m.frameworks[id] = fw
	}
	if fw.box != nil {
		fw.box.Push(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
		fw.box.Close()
	}
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
		fw.failoverTimer = nil
	}
	// Offers made to the previous connection are void, inverse ones too.
	m.rescindOffersLocked(func(o *offer) bool { return o.fwID == fw.id }, false)
	m.dropInverseOffersLocked(fw.id)
	fw.info = info
	fw.role = frameworkRole(&info)
	fw.box = box
	fw.streamID = streamID
	fw.connected = true
	fw.recovered = false
	m.setSuppressedRolesLocked(fw, suppressedRoles)
	hb := m.cfg.HeartbeatInterval.Seconds()
	box.Push(&scheduler.Event{
		Type: scheduler.Event_SUBSCRIBED,
		Subscribed: &scheduler.Event_Subscribed{
			FrameworkID:              &mesos.FrameworkID{Value: fw.id},
			HeartbeatIntervalSeconds: &hb,
			MasterInfo:               m.masterInfo(),
		},
	})
	klog.InfoS("Framework subscribed", "framework", fw.id, "name", info.GetName(), "role", fw.role)
	return fw, nil
}

// disconnectFramework runs when a SUBSCRIBE stream ends. If box is still the
// framework's stream the framework is disconnected: its offers are recovered
// and it is removed after its failover_timeout, as in Mesos.
func (m *Master) disconnectFramework(id string, box *mailbox.Box[*scheduler.Event]) {
	box.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[id]
	if fw == nil || fw.box != box {
		return
	}
	fw.box = nil
	fw.connected = false
	fw.unregistered = time.Now()
	m.rescindOffersLocked(func(o *offer) bool { return o.fwID == id }, false)
	m.dropInverseOffersLocked(id)
	if m.closed {
		return
	}
	timeout := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
	klog.InfoS("Framework disconnected", "framework", id, "failoverTimeout", timeout)
	fw.failoverTimer = time.AfterFunc(timeout, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if cur := m.frameworks[id]; cur == fw && !fw.connected {
			klog.InfoS("Framework failover timeout expired, removing it", "framework", id)
			m.removeFrameworkLocked(fw)
		}
	})
}

// handleCall validates and runs one non-SUBSCRIBE call.
func (m *Master) handleCall(streamID string, call *scheduler.Call) error {
	if call.Type == scheduler.Call_UNKNOWN {
		return wire.Errorf(http.StatusBadRequest, "Expecting 'type' to be present")
	}
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		return wire.Errorf(http.StatusBadRequest, "Expecting 'framework_id' to be present")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[call.FrameworkID.Value]
	if fw == nil {
		return wire.Errorf(http.StatusBadRequest, "Framework cannot be found")
	}
	if !fw.connected {
		return wire.Errorf(http.StatusForbidden, "Framework is not subscribed")
	}
	if streamID == "" {
		return wire.Errorf(http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID != fw.streamID {
		return wire.Errorf(http.StatusBadRequest, "The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fw.id)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		m.removeFrameworkLocked(fw)
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'accept' to be present")
		}
		m.acceptLocked(fw, call.Accept)
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'decline' to be present")
		}
		m.declineLocked(fw, call.Decline.OfferIDs, call.Decline.Filters)
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		m.answerInverseOffersLocked(fw, call.GetAcceptInverseOffers().GetInverseOfferIDs(), call.GetAcceptInverseOffers().GetFilters(), true)
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		m.answerInverseOffersLocked(fw, call.GetDeclineInverseOffers().GetInverseOfferIDs(), call.GetDeclineInverseOffers().GetFilters(), false)
	case scheduler.Call_REVIVE:
		m.reviveLocked(fw, call.GetRevive().GetRoles())
	case scheduler.Call_SUPPRESS:
		m.suppressLocked(fw, call.GetSuppress().GetRoles())
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'kill' to be present")
		}
		m.killLocked(fw, call.Kill)
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'shutdown' to be present")
		}
		if a := m.agents[call.Shutdown.AgentID.Value]; a != nil && a.box != nil {
			a.box.Push(link.Command{Type: link.CmdShutdownExecutor, FrameworkID: fw.id, ExecutorID: call.Shutdown.ExecutorID.Value})
		}
	case scheduler.Call_ACKNOWLEDGE:
		if call.Acknowledge == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'acknowledge' to be present")
		}
		m.acknowledgeLocked(fw, call.Acknowledge)
	case scheduler.Call_RECONCILE:
		var tasks []scheduler.Call_Reconcile_Task
		if call.Reconcile != nil {
			tasks = call.Reconcile.Tasks
		}
		m.reconcileLocked(fw, tasks)
	case scheduler.Call_MESSAGE:
		if call.Message == nil {
			return wire.Errorf(http.StatusBadRequest, "Expecting 'message' to be present")
		}
		if a := m.agents[call.Message.AgentID.Value]; a != nil && a.box != nil {
			a.box.Push(link.Command{Type: link.CmdMessage, FrameworkID: fw.id, ExecutorID: call.Message.ExecutorID.Value, Data: call.Message.Data})
		}
	case scheduler.Call_REQUEST:
		// Resource requests are ignored, as by Mesos' allocator.
	case scheduler.Call_UPDATE_FRAMEWORK:
		if call.UpdateFramework != nil {
			fw.info = call.UpdateFramework.FrameworkInfo
			fw.info.ID = &mesos.FrameworkID{Value: fw.id}
			fw.role = frameworkRole(&fw.info)
			m.setSuppressedRolesLocked(fw, call.UpdateFramework.SuppressedRoles)
		}
	default:
		return wire.Errorf(http.StatusNotImplemented, "Call type %s is not supported by mesoslocal", call.Type)
	}
	return nil
}

// acceptLocked runs an ACCEPT: LAUNCH operations are validated against the
// offered resources; what is left goes back to the pool behind a filter.
func (m *Master) acceptLocked(fw *framework, acc *scheduler.Call_Accept) {
	var (
		pool    mesos.Resources
		agentID string
		role    string
		bad     string
	)
	for _, oid := range acc.OfferIDs {
		o := m.offers[oid.Value]
		switch {
		case o == nil:
			bad = fmt.Sprintf("Offer %s is no longer valid", oid.Value)
		case o.fwID != fw.id:
			bad = fmt.Sprintf("Offer %s is not for framework %s", oid.Value, fw.id)
		case agentID != "" && o.agentID != agentID:
			bad = "Aggregated offers must belong to one single agent"
		case role != "" && o.role != role:
			bad = "Aggregated offers must be allocated to the same role"
		default:
			agentID = o.agentID
			role = o.role
			pool.Add(o.resources...)
		}
	}
	if len(acc.OfferIDs) == 0 {
		bad = "No offers specified"
	}
	// The named offers are used up whatever happens next.
	for _, oid := range acc.OfferIDs {
		if o := m.offers[oid.Value]; o != nil && o.fwID == fw.id {
			delete(m.offers, oid.Value)
		}
	}
	a := m.agents[agentID]
	if bad == "" && (a == nil || !a.active) {
		bad = fmt.Sprintf("Agent %s is not active", agentID)
	}
	if bad != "" {
		klog.InfoS("ACCEPT with invalid offers", "framework", fw.id, "reason", bad)
		state := mesos.TASK_LOST
		if fw.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		for _, op := range acc.Operations {
			for _, ti := range launchTasks(op) {
				m.masterUpdateLocked(fw, ti.TaskID, ti.AgentID.Value, state, mesos.REASON_INVALID_OFFERS, bad)
			}
		}
		return
	}

	var cmds []*link.Command
	byExecutor := map[string]*link.Command{}
	for _, op := range acc.Operations {
		switch op.GetType() {
		case mesos.Offer_Operation_LAUNCH:
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				upgradeTaskInfo(&ti)
				needed, err := m.validateTaskLocked(fw, a, &ti, pool, byExecutor)
				if err != nil {
					klog.InfoS("Invalid task", "framework", fw.id, "task", ti.TaskID.Value, "err", err)
					m.masterUpdateLocked(fw, ti.TaskID, a.id, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, err.Error())
					continue
				}
				pool.Subtract(needed...)
				m.addTaskLocked(fw, a, ti, role)
				var cmd *link.Command
				if ti.Executor != nil {
					cmd = byExecutor[ti.Executor.ExecutorID.Value]
				}
				if cmd == nil {
					cmd = &link.Command{Type: link.CmdLaunch, FrameworkID: fw.id, Framework: link.Marshal(&fw.info)}
					cmds = append(cmds, cmd)
					if ti.Executor != nil {
						ei := *ti.Executor
						ei.FrameworkID = &mesos.FrameworkID{Value: fw.id}
						cmd.Executor = link.Marshal(&ei)
						byExecutor[ei.ExecutorID.Value] = cmd
						m.addExecutorLocked(a, fw.id, ei)
					}
				}
				cmd.Tasks = append(cmd.Tasks, link.Marshal(&ti))
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			if cmd := m.launchGroupLocked(fw, a, role, &pool, op.GetLaunchGroup(), byExecutor); cmd != nil {
				cmds = append(cmds, cmd)
			}
		default:
			if err := m.applyOperationLocked(fw, a, role, &pool, op); err != nil {
				klog.InfoS("Dropping offer operation", "framework", fw.id, "type", op.GetType(), "err", err)
			}
		}
	}
	for _, cmd := range cmds {
		a.box.Push(*cmd)
	}
	m.addFilterLocked(fw, a.id, role, pool, acc.Filters)
}

func launchTasks(op mesos.Offer_Operation) []mesos.TaskInfo {
	switch op.GetType() {
	case mesos.Offer_Operation_LAUNCH:
		return op.GetLaunch().GetTaskInfos()
	case mesos.Offer_Operation_LAUNCH_GROUP:
		return op.GetLaunchGroup().TaskGroup.Tasks
	}
	return nil
}

// validateTaskLocked checks a task as Mesos' master validation does (the
// parts that matter here) and returns the resources it consumes from the
// offer: its own and, for a new executor, the executor's.
func (m *Master) validateTaskLocked(fw *framework, a *agent, ti *mesos.TaskInfo, pool mesos.Resources, launching map[string]*link.Command) (mesos.Resources, error) {
	if err := mesosid.Validate(ti.TaskID.Value); err != nil {
		return nil, fmt.Errorf("Task ID '%s' is invalid: %w", ti.TaskID.Value, err)
	}
	if t := fw.tasks[ti.TaskID.Value]; t != nil && !t.terminal {
		return nil, fmt.Errorf("Task has duplicate ID: %s", ti.TaskID.Value)
	}
	if ti.AgentID.Value != a.id {
		return nil, fmt.Errorf("Task uses invalid agent: %s", ti.AgentID.Value)
	}
	if (ti.Executor == nil) == (ti.Command == nil) {
		return nil, fmt.Errorf("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
	}
	if err := validateResources(ti.Resources); err != nil {
		return nil, fmt.Errorf("Task uses invalid resources: %v", err)
	}
	needed := resourcesSum(ti.Resources)
	if ti.Executor != nil {
		if err := mesosid.Validate(ti.Executor.ExecutorID.Value); err != nil {
			return nil, fmt.Errorf("Executor ID '%s' is invalid: %w", ti.Executor.ExecutorID.Value, err)
		}
		if ti.Executor.GetFrameworkID() != nil && ti.Executor.GetFrameworkID().GetValue() != fw.id {
			return nil, fmt.Errorf("ExecutorInfo has an invalid FrameworkID (Actual: %s vs Expected: %s)", ti.Executor.GetFrameworkID().GetValue(), fw.id)
		}
		if err := validateResources(ti.Executor.Resources); err != nil {
			return nil, fmt.Errorf("Executor uses invalid resources: %v", err)
		}
		_, running := a.executors[fw.id][ti.Executor.ExecutorID.Value]
		_, pending := launching[ti.Executor.ExecutorID.Value]
		if !running && !pending {
			needed.Add(resourcesSum(ti.Executor.Resources)...)
		}
	}
	if len(ti.Resources) == 0 {
		return nil, fmt.Errorf("Task uses no resources")
	}
	if err := validateRevocableMix(ti); err != nil {
		return nil, err
	}
	if !resourcesContain(pool, needed) {
		return nil, fmt.Errorf("Total resources %s required by task and its executor is more than available %s", needed, pool)
	}
	return needed, nil
}

// warnTaskIDReuseLocked logs and counts (master/task_id_reuses) the launch
// of a task whose ID a terminal task of the framework had. Mesos requires
// task IDs to be unique for a framework's life and calls reuse undefined
// behaviour, but its validation refuses only the IDs of live and unreachable
// tasks (validateUniqueTaskID): the launch goes ahead, as in Mesos.
func (m *Master) warnTaskIDReuseLocked(fw *framework, id string) {
	reused := fw.tasks[id] != nil && fw.tasks[id].terminal
	for _, t := range fw.completed {
		reused = reused || t.task.TaskID.Value == id
	}
	if !reused {
		return
	}
	m.metrics.inc(metricTaskIDReuses)
	klog.Warningf("Framework %s launches task %s with the ID of a terminal task: task IDs must be unique for a framework's life", fw.id, id)
}

func (m *Master) addTaskLocked(fw *framework, a *agent, ti mesos.TaskInfo, role string) {
	m.warnTaskIDReuseLocked(fw, ti.TaskID.Value)
	t := &task{resources: resourcesSum(ti.Resources)}
	t.task = mesos.Task{
		Name:        ti.Name,
		TaskID:      ti.TaskID,
		FrameworkID: mesos.FrameworkID{Value: fw.id},
		AgentID:     mesos.AgentID{Value: a.id},
		State:       mesos.TASK_STAGING.Enum(),
		Resources:   allocated(ti.Resources, role),
		Labels:      ti.Labels,
		Discovery:   ti.Discovery,
		Container:   ti.Container,
	}
	if ti.Executor != nil {
		eid := ti.Executor.ExecutorID
		t.task.ExecutorID = &eid
	}
	t.latest = mesos.TaskStatus{TaskID: ti.TaskID, State: mesos.TASK_STAGING.Enum(), AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ptr(nowSeconds())}
	fw.tasks[ti.TaskID.Value] = t
}

func (m *Master) addExecutorLocked(a *agent, fwID string, ei mesos.ExecutorInfo) {
	if a.executors[fwID] == nil {
		a.executors[fwID] = map[string]*executor{}
	}
	if _, ok := a.executors[fwID][ei.ExecutorID.Value]; !ok {
		a.executors[fwID][ei.ExecutorID.Value] = &executor{info: ei, resources: resourcesSum(ei.Resources)}
	}
}

func (m *Master) declineLocked(fw *framework, ids []mesos.OfferID, f *mesos.Filters) {
	for _, oid := range ids {
		o := m.offers[oid.Value]
		if o == nil || o.fwID != fw.id {
			continue
		}
		delete(m.offers, oid.Value)
		m.addFilterLocked(fw, o.agentID, o.role, o.resources, f)
	}
}

func (m *Master) addFilterLocked(fw *framework, agentID, role string, rs mesos.Resources, f *mesos.Filters) {
	secs := defaultRefuseSeconds
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	if secs <= 0 || len(rs) == 0 {
		return
	}
	fw.filters = append(fw.filters, filter{agentID: agentID, role: role, resources: rs.Clone(), until: time.Now().Add(time.Duration(secs * float64(time.Second)))})
}

func (m *Master) killLocked(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil || t.terminal {
		var agentID *mesos.AgentID
		if k.AgentID != nil {
			agentID = k.AgentID
		}
		m.reconcileLocked(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: agentID}})
		return
	}
	a := m.agents[t.task.AgentID.Value]
	if a == nil || a.box == nil {
		klog.InfoS("Cannot kill task: its agent is disconnected", "framework", fw.id, "task", k.TaskID.Value)
		return
	}
	cmd := link.Command{Type: link.CmdKill, FrameworkID: fw.id, TaskID: k.TaskID.Value}
	if k.KillPolicy != nil {
		cmd.KillPolicy = link.Marshal(k.KillPolicy)
	}
	a.box.Push(cmd)
}

func (m *Master) acknowledgeLocked(fw *framework, ack *scheduler.Call_Acknowledge) {
	if t := fw.tasks[ack.TaskID.Value]; t != nil && t.terminal && string(t.terminalUUID) == string(ack.UUID) {
		// An acknowledged terminal task is forgotten, as in Mesos.
		delete(fw.tasks, ack.TaskID.Value)
		m.addCompletedLocked(fw, t)
	}
	a := m.agents[ack.AgentID.Value]
	if a == nil || a.box == nil {
		return
	}
	a.box.Push(link.Command{Type: link.CmdAcknowledge, FrameworkID: fw.id, TaskID: ack.TaskID.Value, UUID: ack.UUID})
}

// reconcileLocked answers RECONCILE as Mesos 1.12 does: implicit (no tasks)
// sends the latest state of every known task; explicit sends the latest state
// of each named known task, and for an unknown one TASK_GONE/TASK_LOST when
// its agent is registered, TASK_UNKNOWN/TASK_LOST otherwise (partition-aware
// frameworks get the former of each pair). An answer is a new status
// (Master::_reconcileTasks, protobuf::createStatusUpdate): the state, the
// executor, health, check and container status of the latest one, but not
// its data or labels.
func (m *Master) reconcileLocked(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	send := func(t *task) {
		st := t.latest
		st.Data, st.Labels = nil, nil
		st.Source = mesos.SOURCE_MASTER.Enum()
		st.Reason = mesos.REASON_RECONCILIATION.Enum()
		st.Message = ptr("Reconciliation: Latest task state")
		st.UUID = nil
		st.Timestamp = ptr(nowSeconds())
		fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
	if len(tasks) == 0 {
		for _, t := range fw.tasks {
			send(t)
		}
		return
	}
	for _, rt := range tasks {
		if t := fw.tasks[rt.TaskID.Value]; t != nil {
			send(t)
			continue
		}
		if st, ok := m.unreachableTaskStatusLocked(fw, rt.TaskID.Value); ok {
			fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
			continue
		}
		agentID := rt.GetAgentID().GetValue()
		var state mesos.TaskState
		var reason mesos.TaskStatus_Reason
		msg := "Reconciliation: Task is unknown"
		if a := m.agents[agentID]; agentID != "" && a != nil {
			state, reason = mesos.TASK_LOST, mesos.REASON_RECONCILIATION
			if fw.partitionAware() {
				state = mesos.TASK_GONE
			}
		} else {
			state, reason = mesos.TASK_LOST, mesos.REASON_RECONCILIATION
			if fw.partitionAware() {
				state = mesos.TASK_UNKNOWN
			}
			if agentID != "" {
				msg = "Reconciliation: Task is unknown to the agent"
			}
		}
		st := mesos.TaskStatus{
			TaskID:    rt.TaskID,
			State:     state.Enum(),
			Source:    mesos.SOURCE_MASTER.Enum(),
			Reason:    reason.Enum(),
			Message:   &msg,
			Timestamp: ptr(nowSeconds()),
		}
		if agentID != "" {
			st.AgentID = &mesos.AgentID{Value: agentID}
		}
		fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
}

// masterUpdateLocked sends a master-generated status update (no UUID: it
// needs no acknowledgement) for a task that never reached an agent.
func (m *Master) masterUpdateLocked(fw *framework, id mesos.TaskID, agentID string, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := mesos.TaskStatus{
		TaskID:    id,
		State:     state.Enum(),
		Source:    mesos.SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   &msg,
		Timestamp: ptr(nowSeconds()),
	}
	if agentID != "" {
		st.AgentID = &mesos.AgentID{Value: agentID}
	}
	fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
}

// removeFrameworkLocked tears a framework down: its executors are shut down
// on every agent, its offers withdrawn and its stream closed.
func (m *Master) removeFrameworkLocked(fw *framework) {
	klog.InfoS("Removing framework", "framework", fw.id)
	m.rescindOffersLocked(func(o *offer) bool { return o.fwID == fw.id }, false)
	m.dropInverseOffersLocked(fw.id)
	for _, a := range m.agents {
		if a.box != nil {
			a.box.Push(link.Command{Type: link.CmdShutdownFramework, FrameworkID: fw.id})
		}
		delete(a.executors, fw.id)
	}
	for _, t := range fw.tasks {
		if t.terminal {
			delete(fw.tasks, t.task.TaskID.Value)
			m.addCompletedLocked(fw, t)
		} else {
			m.completeTaskLocked(fw, t, mesos.TASK_KILLED)
		}
	}
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	if fw.box != nil {
		fw.box.Close()
		fw.box = nil
	}
	fw.connected = false
	fw.unregistered = time.Now()
	delete(m.frameworks, fw.id)
	m.completedFrameworks = append(m.completedFrameworks, fw)
	if n := len(m.completedFrameworks); n > 50 {
		m.completedFrameworks = m.completedFrameworks[n-50:]
	}
}

func ptr[T any](v T) *T { return &v }
