package master

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// Mesos' defaults for agent health checking and the registry.
const (
	defaultAgentPingTimeout     = 15 * time.Second
	defaultMaxAgentPingTimeouts = 5
	defaultRegistryMaxAgentAge  = 14 * 24 * time.Hour
)

// partitionState tracks agent health: when each agent was last heard of,
// the agents that became unreachable (with the tasks they ran) and the
// agents removed for good (gone).
type partitionState struct {
	lastSeen    map[string]time.Time
	unreachable map[string]*unreachableAgent
	gone        map[string]time.Time
}

type unreachableAgent struct {
	agent *agent
	since time.Time
	tasks []*task // tasks that ran there, state TASK_UNREACHABLE
}

func (p *partitionState) init() {
	if p.lastSeen == nil {
		p.lastSeen = map[string]time.Time{}
		p.unreachable = map[string]*unreachableAgent{}
		p.gone = map[string]time.Time{}
	}
}

func (c *Config) setPartitionDefaults() {
	if c.AgentPingTimeout <= 0 {
		c.AgentPingTimeout = defaultAgentPingTimeout
	}
	if c.MaxAgentPingTimeouts <= 0 {
		c.MaxAgentPingTimeouts = defaultMaxAgentPingTimeouts
	}
	if c.RegistryMaxAgentAge <= 0 {
		c.RegistryMaxAgentAge = defaultRegistryMaxAgentAge
	}
	// Ping every 5s, and at least once per agent_ping_timeout.
	if c.AgentPingInterval <= 0 {
		c.AgentPingInterval = 5 * time.Second
	}
	if c.AgentPingInterval > c.AgentPingTimeout {
		c.AgentPingInterval = c.AgentPingTimeout
	}
}

// partitionLoop marks silent agents unreachable and removes agents that
// stayed unreachable longer than RegistryMaxAgentAge.
func (m *Master) partitionLoop(ctx context.Context) {
	period := m.cfg.AgentPingTimeout / 4
	if period > time.Second {
		period = time.Second
	}
	if period < 10*time.Millisecond {
		period = 10 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		m.checkAgentsLocked(time.Now())
		m.mu.Unlock()
	}
}

func (m *Master) checkAgentsLocked(now time.Time) {
	if m.closed {
		return
	}
	m.part.init()
	limit := m.cfg.AgentPingTimeout * time.Duration(m.cfg.MaxAgentPingTimeouts)
	ids := make([]string, 0, len(m.agents))
	for id := range m.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		seen, ok := m.part.lastSeen[id]
		if !ok {
			m.part.lastSeen[id] = now
			continue
		}
		if now.Sub(seen) > limit {
			klog.InfoS("Agent missed its pings, marking it unreachable", "agent", id, "silentFor", now.Sub(seen).Round(time.Millisecond))
			m.markUnreachableLocked(m.agents[id], now)
		}
	}
	for id, ua := range m.part.unreachable {
		if now.Sub(ua.since) > m.cfg.RegistryMaxAgentAge {
			klog.InfoS("Unreachable agent exceeded registry_max_agent_age, removing it", "agent", id)
			m.removeUnreachableLocked(id, mesos.TASK_GONE, mesos.REASON_AGENT_REMOVED, fmt.Sprintf("Agent %s was removed after being unreachable for longer than registry_max_agent_age", ua.agent.info.GetHostname()))
		}
	}
}

// markUnreachableLocked removes a registered agent that stopped answering:
// its offers are rescinded and its tasks move to unreachable_tasks; a
// PARTITION_AWARE framework gets TASK_UNREACHABLE, any other TASK_LOST,
// both with REASON_AGENT_REMOVED from SOURCE_MASTER, as in Mesos.
func (m *Master) markUnreachableLocked(a *agent, now time.Time) {
	m.part.init()
	if a.box != nil {
		a.box.Close()
		a.box = nil
	}
	a.active = false
	m.rescindOffersLocked(func(o *offer) bool { return o.agentID == a.id }, true)
	ua := &unreachableAgent{agent: a, since: now}
	msg := fmt.Sprintf("Agent %s is unreachable", a.info.GetHostname())
	m.endAgentTasksLocked(a, mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED, msg,
		&mesos.TimeInfo{Nanoseconds: now.UnixNano()},
		func(_ *framework, t *task) { ua.tasks = append(ua.tasks, t) })
	delete(m.agents, a.id)
	delete(m.part.lastSeen, a.id)
	m.part.unreachable[a.id] = ua
}

// endAgentTasksLocked takes agent a's tasks out of their frameworks: those
// already ended go to completed tasks; each live one gets state from
// SOURCE_MASTER with reason and msg (and unreachable, if set, as its
// unreachable time), then is handed to then, and its framework is told —
// TASK_LOST if the framework is not PARTITION_AWARE, as in Mesos.
func (m *Master) endAgentTasksLocked(a *agent, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string,
	unreachable *mesos.TimeInfo, then func(*framework, *task)) {
	for _, fw := range m.sortedFrameworksLocked() {
		for _, tid := range sortedTaskIDs(fw) {
			t := fw.tasks[tid]
			if t.task.AgentID.Value != a.id {
				continue
			}
			delete(fw.tasks, tid)
			if t.terminal {
				m.addCompletedLocked(fw, t)
				continue
			}
			t.task.State = state.Enum()
			st := mesos.TaskStatus{
				TaskID:          t.task.TaskID,
				State:           state.Enum(),
				Source:          mesos.SOURCE_MASTER.Enum(),
				Reason:          reason.Enum(),
				Message:         &msg,
				AgentID:         &mesos.AgentID{Value: a.id},
				ExecutorID:      t.task.ExecutorID,
				Timestamp:       ptr(nowSeconds()),
				UnreachableTime: unreachable,
			}
			t.latest = st
			t.task.Statuses = append(t.task.Statuses, mesos.TaskStatus{TaskID: st.TaskID, State: st.State, Timestamp: st.Timestamp})
			then(fw, t)
			if !fw.partitionAware() {
				st.State = mesos.TASK_LOST.Enum()
			}
			m.sendUpdateLocked(fw, st)
		}
	}
}

// removeUnreachableLocked forgets an unreachable agent for good: its tasks
// become state (PARTITION_AWARE frameworks) or TASK_LOST (others, which
// were already told TASK_LOST) and it may not re-register with its ID.
func (m *Master) removeUnreachableLocked(id string, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	ua := m.part.unreachable[id]
	delete(m.part.unreachable, id)
	m.part.gone[id] = time.Now()
	if ua == nil {
		return
	}
	for _, t := range ua.tasks {
		fw := m.frameworks[t.task.FrameworkID.Value]
		if fw == nil {
			continue
		}
		t.terminal = true
		t.task.State = state.Enum()
		st := mesos.TaskStatus{
			TaskID:     t.task.TaskID,
			State:      state.Enum(),
			Source:     mesos.SOURCE_MASTER.Enum(),
			Reason:     reason.Enum(),
			Message:    &msg,
			AgentID:    &mesos.AgentID{Value: id},
			ExecutorID: t.task.ExecutorID,
			Timestamp:  ptr(nowSeconds()),
		}
		t.latest = st
		t.task.Statuses = append(t.task.Statuses, mesos.TaskStatus{TaskID: st.TaskID, State: st.State, Timestamp: st.Timestamp})
		m.addCompletedLocked(fw, t)
		if fw.partitionAware() {
			m.sendUpdateLocked(fw, st)
		}
	}
}

// removeAgentLocked removes a registered agent for good (operator MARK_AGENT_GONE
// or its machine going DOWN): the agent is told to shut down, its tasks
// become state (PARTITION_AWARE) or TASK_LOST with reason.
func (m *Master) removeAgentLocked(a *agent, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	m.part.init()
	if a.box != nil {
		a.box.Push(link.Command{Type: link.CmdShutdown, AgentID: a.id, Data: []byte(msg)})
		// Closing the stream after the command was written is up to the
		// stream loop; the registration is refused from now on.
		box := a.box
		time.AfterFunc(time.Second, box.Close)
	}
	a.box = nil
	a.active = false
	m.rescindOffersLocked(func(o *offer) bool { return o.agentID == a.id }, true)
	m.endAgentTasksLocked(a, state, reason, msg, nil, func(fw *framework, t *task) {
		t.terminal = true
		m.addCompletedLocked(fw, t)
	})
	delete(m.agents, a.id)
	delete(m.part.lastSeen, a.id)
	m.part.gone[a.id] = time.Now()
}

// MarkAgentGone is the operator's MARK_AGENT_GONE: a registered or
// unreachable agent is removed for good; PARTITION_AWARE frameworks get
// TASK_GONE_BY_OPERATOR for its tasks, others TASK_LOST.
func (m *Master) MarkAgentGone(agentID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.markAgentGoneLocked(agentID)
}

func (m *Master) markAgentGoneLocked(agentID string) error {
	m.part.init()
	msg := "Agent has been marked gone"
	if _, ok := m.part.gone[agentID]; ok {
		return nil
	}
	if a := m.agents[agentID]; a != nil {
		klog.InfoS("Operator marked agent gone", "agent", agentID)
		m.removeAgentLocked(a, mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR, msg)
		return nil
	}
	if m.part.unreachable[agentID] != nil {
		klog.InfoS("Operator marked unreachable agent gone", "agent", agentID)
		m.removeUnreachableLocked(agentID, mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR, msg)
		return nil
	}
	return wire.Errorf(http.StatusNotFound, "Agent '%s' not found", agentID)
}

// admitAgentLocked runs before an agent (re-)registers: a gone agent is
// refused (403, the agent then starts afresh), so is any agent of a machine
// that is DOWN for maintenance; an unreachable agent coming back has its
// tasks of before the partition returned, to be re-announced by
// agentRegisteredLocked.
func (m *Master) admitAgentLocked(id string, info *mesos.AgentInfo, endpoint string) ([]*task, error) {
	m.part.init()
	if _, ok := m.part.gone[id]; ok && id != "" {
		return nil, wire.Errorf(http.StatusForbidden, "Agent %s has been removed (marked gone); it must register with a new ID", id)
	}
	if m.machineDownLocked(info.GetHostname(), hostOf(endpoint)) {
		return nil, wire.Errorf(http.StatusForbidden, "Agent on machine %s (%s) is DOWN for maintenance", info.GetHostname(), hostOf(endpoint))
	}
	ua := m.part.unreachable[id]
	if ua == nil {
		return nil, nil
	}
	delete(m.part.unreachable, id)
	klog.InfoS("Unreachable agent re-registered", "agent", id, "unreachableFor", time.Since(ua.since).Round(time.Millisecond))
	return ua.tasks, nil
}

// agentRegisteredLocked runs after an agent (re-)registered. Tasks it
// brought back from unreachable are announced to their frameworks with
// their current state (SOURCE_MASTER, REASON_AGENT_REREGISTERED); those it
// no longer runs become TASK_GONE (PARTITION_AWARE) or TASK_LOST.
func (m *Master) agentRegisteredLocked(a *agent, returned []*task) {
	m.part.init()
	m.part.lastSeen[a.id] = time.Now()
	for _, old := range returned {
		fw := m.frameworks[old.task.FrameworkID.Value]
		if fw == nil {
			continue
		}
		cur := fw.tasks[old.task.TaskID.Value]
		if cur == nil || cur.task.AgentID.Value != a.id {
			state := mesos.TASK_LOST
			if fw.partitionAware() {
				state = mesos.TASK_GONE
			}
			old.terminal = true
			old.task.State = state.Enum()
			m.addCompletedLocked(fw, old)
			m.masterUpdateLocked(fw, old.task.TaskID, a.id, state, mesos.REASON_AGENT_REREGISTERED, "Task is unknown to the agent after it re-registered")
			continue
		}
		// The report carries no history: keep the task's.
		cur.task.Statuses = append(old.task.Statuses, cur.task.Statuses...)
		if cur.task.ExecutorID == nil {
			cur.task.ExecutorID = old.task.ExecutorID
		}
		st := cur.latest
		st.Source = mesos.SOURCE_MASTER.Enum()
		st.Reason = mesos.REASON_AGENT_REREGISTERED.Enum()
		st.Message = ptr("Agent reregistered")
		st.UUID = nil
		st.Timestamp = ptr(nowSeconds())
		st.AgentID = &mesos.AgentID{Value: a.id}
		cur.latest = st
		m.sendUpdateLocked(fw, st)
	}
}

// serveAgentPong records that an agent answered a ping; 404 tells an agent
// the master does not know it (any more), so it re-registers.
func (m *Master) serveAgentPong(w http.ResponseWriter, r *http.Request) {
	var p link.Pong
	if err := decodeJSON(r, &p); err != nil {
		wire.WriteError(w, err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.part.init()
	if a := m.agents[p.AgentID]; a == nil || a.box == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, "Agent %s is not registered", p.AgentID))
		return
	}
	m.part.lastSeen[p.AgentID] = time.Now()
	w.WriteHeader(http.StatusAccepted)
}

// unreachableTasksJSONLocked renders a framework's unreachable_tasks.
func (m *Master) unreachableTasksJSONLocked(fw *framework) []map[string]any {
	out := []map[string]any{}
	ids := make([]string, 0, len(m.part.unreachable))
	for id := range m.part.unreachable {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, t := range m.part.unreachable[id].tasks {
			if t.task.FrameworkID.Value == fw.id {
				out = append(out, taskJSON(t))
			}
		}
	}
	return out
}

// unreachableTaskStatusLocked answers explicit reconciliation of a task on
// an unreachable agent: TASK_UNREACHABLE (PARTITION_AWARE) or TASK_LOST.
func (m *Master) unreachableTaskStatusLocked(fw *framework, taskID string) (mesos.TaskStatus, bool) {
	for _, ua := range m.part.unreachable {
		for _, t := range ua.tasks {
			if t.task.FrameworkID.Value != fw.id || t.task.TaskID.Value != taskID {
				continue
			}
			st := t.latest
			st.Data, st.Labels = nil, nil // a new status, as reconcileLocked's
			if !fw.partitionAware() {
				st.State = mesos.TASK_LOST.Enum()
			}
			st.Source = mesos.SOURCE_MASTER.Enum()
			st.Reason = mesos.REASON_RECONCILIATION.Enum()
			st.Message = ptr("Reconciliation: Task is unreachable")
			st.UUID = nil
			st.Timestamp = ptr(nowSeconds())
			return st, true
		}
	}
	return mesos.TaskStatus{}, false
}

// unreachableCountLocked is /master/state's unreachable_slaves.
func (m *Master) unreachableCountLocked() float64 { return float64(len(m.part.unreachable)) }

func (m *Master) sortedFrameworksLocked() []*framework {
	out := make([]*framework, 0, len(m.frameworks))
	for _, fw := range m.frameworks {
		out = append(out, fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func sortedTaskIDs(fw *framework) []string {
	ids := make([]string, 0, len(fw.tasks))
	for id := range fw.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// sendUpdateLocked sends a master-generated status update.
func (m *Master) sendUpdateLocked(fw *framework, st mesos.TaskStatus) {
	fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
}
