package master

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

func decodeJSON(r *http.Request, v any) error {
	if r.Method != http.MethodPost {
		return wire.Errorf(http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method)
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, wire.MaxBody)).Decode(v); err != nil {
		return wire.Errorf(http.StatusBadRequest, "Failed to parse body: %v", err)
	}
	return nil
}

func (m *Master) serveAgentRegister(w http.ResponseWriter, r *http.Request) {
	var reg link.Register
	if err := decodeJSON(r, &reg); err != nil {
		wire.WriteError(w, err)
		return
	}
	var info mesos.AgentInfo
	if err := link.Unmarshal(reg.Info, &info); err != nil {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "%v", err))
		return
	}
	box := mailbox.New[link.Command]()
	id, err := m.registerAgent(&reg, info, box)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	defer m.disconnectAgent(id, box)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(c link.Command) error {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("write command: %w", err)
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	ping := time.NewTicker(m.cfg.AgentPingInterval)
	defer ping.Stop()
	_ = box.Pump(r.Context().Done(), ping.C, false, send,
		func() error { return send(link.Command{Type: link.CmdPing}) })
}

// registerAgent (re-)registers an agent. An agent the master does not know
// but that brings an ID is re-registering after a master restart: its
// frameworks, executors and tasks are recovered from what it reports.
func (m *Master) registerAgent(reg *link.Register, info mesos.AgentInfo, box *mailbox.Box[link.Command]) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", wire.Errorf(http.StatusServiceUnavailable, "Master is shutting down")
	}
	id := reg.AgentID
	if id == "" {
		id = fmt.Sprintf("%s-S%d", m.id, m.nextAgent)
		m.nextAgent++
	}
	returned, err := m.admitAgentLocked(reg.AgentID, &info, reg.Endpoint)
	if err != nil {
		return "", err
	}
	a := m.agents[id]
	if a == nil {
		a = &agent{id: id, executors: map[string]map[string]*executor{}, registeredTime: time.Now()}
		m.agents[id] = a
	} else if a.box != nil {
		a.box.Close()
		m.rescindOffersLocked(func(o *offer) bool { return o.agentID == id }, true)
	}
	info.ID = &mesos.AgentID{Value: id}
	a.info = info
	a.endpoint = reg.Endpoint
	a.total = resources.Unallocated(info.Resources)
	a.box = box
	a.active = true

	for _, b := range reg.Frameworks {
		var fi mesos.FrameworkInfo
		if err := link.Unmarshal(b, &fi); err != nil || fi.GetID().GetValue() == "" {
			continue
		}
		fwID := fi.GetID().GetValue()
		if m.frameworks[fwID] != nil {
			continue
		}
		if m.isCompletedLocked(fwID) {
			box.Push(link.Command{Type: link.CmdShutdownFramework, FrameworkID: fwID})
			continue
		}
		m.frameworks[fwID] = &framework{id: fwID, info: fi, role: frameworkRole(&fi), recovered: true, tasks: map[string]*task{}, registeredTime: time.Now()}
	}
	a.executors = map[string]map[string]*executor{}
	for _, e := range reg.Executors {
		var ei mesos.ExecutorInfo
		if err := link.Unmarshal(e.Info, &ei); err != nil || m.frameworks[e.FrameworkID] == nil {
			continue
		}
		m.addExecutorLocked(a, e.FrameworkID, ei)
	}
	reported := map[string]bool{}
	for _, b := range reg.Tasks {
		var t mesos.Task
		if err := link.Unmarshal(b, &t); err != nil {
			continue
		}
		fw := m.frameworks[t.FrameworkID.Value]
		if fw == nil {
			continue
		}
		reported[fw.id+"/"+t.TaskID.Value] = true
		if cur := fw.tasks[t.TaskID.Value]; cur != nil {
			if !cur.terminal && t.GetState() != cur.task.GetState() && !isTerminal(t.GetState()) {
				cur.task.State = t.State
			}
			continue
		}
		if isTerminal(t.GetState()) {
			continue
		}
		t.AgentID = mesos.AgentID{Value: id}
		nt := &task{task: t, resources: resources.Unallocated(t.Resources)}
		nt.latest = mesos.TaskStatus{TaskID: t.TaskID, State: t.State, AgentID: &mesos.AgentID{Value: id}, Timestamp: ptr(nowSeconds())}
		if n := len(t.Statuses); n > 0 {
			nt.latest = t.Statuses[n-1]
		}
		fw.tasks[t.TaskID.Value] = nt
	}
	// Tasks the master sent to this agent that it does not know were lost
	// with the link (e.g. a launch in flight when the connection broke).
	for _, fw := range m.frameworks {
		for tid, t := range fw.tasks {
			if t.task.AgentID.Value != id || t.terminal || reported[fw.id+"/"+tid] {
				continue
			}
			state := mesos.TASK_LOST
			if fw.partitionAware() {
				state = mesos.TASK_DROPPED
			}
			m.completeTaskLocked(fw, t, state)
			m.masterUpdateLocked(fw, t.task.TaskID, id, state, mesos.REASON_AGENT_REREGISTERED, "Task is unknown to the agent after it re-registered")
		}
	}
	m.agentRegisteredLocked(a, returned)
	box.Push(link.Command{Type: link.CmdRegistered, AgentID: id, MasterID: m.id})
	klog.InfoS("Agent registered", "agent", id, "hostname", info.Hostname, "endpoint", reg.Endpoint, "resources", a.total.String())
	return id, nil
}

func (m *Master) isCompletedLocked(fwID string) bool {
	for _, c := range m.completedFrameworks {
		if c.id == fwID {
			return true
		}
	}
	return false
}

// completeTaskLocked marks a task terminal and moves it to completed tasks.
func (m *Master) completeTaskLocked(fw *framework, t *task, state mesos.TaskState) {
	t.terminal = true
	t.task.State = state.Enum()
	t.task.Statuses = append(t.task.Statuses, mesos.TaskStatus{TaskID: t.task.TaskID, State: state.Enum(), Timestamp: ptr(nowSeconds())})
	delete(fw.tasks, t.task.TaskID.Value)
	m.addCompletedLocked(fw, t)
}

func (m *Master) addCompletedLocked(fw *framework, t *task) {
	fw.completed = append(fw.completed, t)
	if n := len(fw.completed); n > 1000 {
		fw.completed = fw.completed[n-1000:]
	}
}

func (m *Master) disconnectAgent(id string, box *mailbox.Box[link.Command]) {
	box.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[id]
	if a == nil || a.box != box {
		return
	}
	a.box = nil
	a.active = false
	m.rescindOffersLocked(func(o *offer) bool { return o.agentID == id }, true)
	klog.InfoS("Agent disconnected", "agent", id)
}

func (m *Master) serveAgentStatus(w http.ResponseWriter, r *http.Request) {
	var su link.StatusUpdate
	if err := decodeJSON(r, &su); err != nil {
		wire.WriteError(w, err)
		return
	}
	var st mesos.TaskStatus
	if err := link.Unmarshal(su.Status, &st); err != nil {
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "%v", err))
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.agents[su.AgentID] == nil || m.agents[su.AgentID].box == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, "Agent %s is not registered", su.AgentID))
		return
	}
	fw := m.frameworks[su.FrameworkID]
	if fw == nil {
		wire.WriteError(w, wire.Errorf(http.StatusGone, "Framework %s is unknown", su.FrameworkID))
		return
	}
	st.AgentID = &mesos.AgentID{Value: su.AgentID}
	if t := fw.tasks[st.TaskID.Value]; t != nil && !t.terminal {
		t.task.State = st.State
		t.latest = st
		t.task.Statuses = append(t.task.Statuses, mesos.TaskStatus{TaskID: st.TaskID, State: st.State, Timestamp: st.Timestamp, Healthy: st.Healthy})
		if isTerminal(st.GetState()) {
			t.terminal = true
			t.terminalUUID = st.UUID
		}
	}
	if !fw.connected {
		// Mesos drops updates for a disconnected framework; the agent retries.
		wire.WriteError(w, wire.Errorf(http.StatusServiceUnavailable, "Framework %s is not connected", fw.id))
		return
	}
	fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) serveExecutorExited(w http.ResponseWriter, r *http.Request) {
	var ee link.ExecutorExited
	if err := decodeJSON(r, &ee); err != nil {
		wire.WriteError(w, err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[ee.AgentID]
	if a == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, "Agent %s is not registered", ee.AgentID))
		return
	}
	delete(a.executors[ee.FrameworkID], ee.ExecutorID)
	fw := m.frameworks[ee.FrameworkID]
	if fw == nil {
		wire.WriteError(w, wire.Errorf(http.StatusGone, "Framework %s is unknown", ee.FrameworkID))
		return
	}
	var status *int32
	if !ee.StatusUnknown {
		status = &ee.Status
	}
	fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
		AgentID:    &mesos.AgentID{Value: ee.AgentID},
		ExecutorID: &mesos.ExecutorID{Value: ee.ExecutorID},
		Status:     status,
	}})
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) serveExecutorMessage(w http.ResponseWriter, r *http.Request) {
	var msg link.Message
	if err := decodeJSON(r, &msg); err != nil {
		wire.WriteError(w, err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[msg.FrameworkID]
	if fw == nil {
		wire.WriteError(w, wire.Errorf(http.StatusGone, "Framework %s is unknown", msg.FrameworkID))
		return
	}
	fw.send(&scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
		AgentID:    mesos.AgentID{Value: msg.AgentID},
		ExecutorID: mesos.ExecutorID{Value: msg.ExecutorID},
		Data:       msg.Data,
	}})
	w.WriteHeader(http.StatusAccepted)
}
