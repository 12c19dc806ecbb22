package master

import (
	"encoding/json"
	"net/http"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// serveState answers GET /master/state in the shape of Mesos 1.12's.
func (m *Master) serveState(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	m.mu.Lock()
	st := m.stateLocked()
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func seconds(t interface{ UnixNano() int64 }) float64 { return float64(t.UnixNano()) / 1e9 }

func (m *Master) stateLocked() map[string]any {
	u := m.usageLocked()
	activated, deactivated := 0, 0
	var slaves []map[string]any
	agentIDs := make([]string, 0, len(m.agents))
	for id := range m.agents {
		agentIDs = append(agentIDs, id)
	}
	sort.Strings(agentIDs)
	for _, id := range agentIDs {
		a := m.agents[id]
		if a.active {
			activated++
		} else {
			deactivated++
		}
		_, ip, port := a.hostIPPort()
		reservedJSON, reservedFull := reservedStateJSON(a.total)
		slaves = append(slaves, map[string]any{
			"id":                      a.id,
			"hostname":                a.info.GetHostname(),
			"port":                    port,
			"attributes":              resources.AttributesJSON(a.info.Attributes),
			"pid":                     "slave(1)@" + a.endpoint,
			"registered_time":         seconds(a.registeredTime),
			"resources":               resources.StateJSON(a.total),
			"used_resources":          resources.StateJSON(u.agentUsed[a.id]),
			"offered_resources":       resources.StateJSON(u.agentOffered[a.id]),
			"reserved_resources":      reservedJSON,
			"reserved_resources_full": reservedFull,
			"unreserved_resources":    resources.StateJSON(unreserved(a.total)),
			"active":                  a.active,
			"deactivated":             !a.active,
			"version":                 Version,
			"capabilities":            []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"},
			"mesoslocal_endpoint_ip":  ip,
		})
	}
	fwIDs := make([]string, 0, len(m.frameworks))
	for id := range m.frameworks {
		fwIDs = append(fwIDs, id)
	}
	sort.Strings(fwIDs)
	var frameworks []map[string]any
	for _, id := range fwIDs {
		frameworks = append(frameworks, m.frameworkJSONLocked(m.frameworks[id], u))
	}
	var completed []map[string]any
	for _, fw := range m.completedFrameworks {
		completed = append(completed, m.frameworkJSONLocked(fw, u))
	}
	info := m.masterInfo()
	return map[string]any{
		"version":                 Version,
		"start_time":              seconds(m.startTime),
		"elected_time":            seconds(m.startTime),
		"id":                      m.id,
		"pid":                     m.pid(),
		"hostname":                m.cfg.Hostname,
		"capabilities":            []string{"AGENT_UPDATE", "AGENT_DRAINING"},
		"activated_slaves":        float64(activated),
		"deactivated_slaves":      float64(deactivated),
		"unreachable_slaves":      m.unreachableCountLocked(),
		"leader":                  m.pid(),
		"leader_info":             map[string]any{"id": info.ID, "pid": info.GetPID(), "port": info.GetPort(), "hostname": info.GetHostname()},
		"flags":                   m.flagsJSON(),
		"slaves":                  nonNil(slaves),
		"recovered_slaves":        []any{},
		"frameworks":              nonNil(frameworks),
		"completed_frameworks":    nonNil(completed),
		"orphan_tasks":            []any{},
		"unregistered_frameworks": []any{},
	}
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func (m *Master) flagsJSON() map[string]string {
	f := map[string]string{
		"allocation_interval":     formatDuration(m.cfg.AllocationInterval),
		"hostname":                m.cfg.Hostname,
		"ip":                      m.cfg.IP,
		"port":                    itoa(m.cfg.Port),
		"registry":                "in_memory",
		"work_dir":                m.cfg.WorkDir,
		"framework_sorter":        "drf",
		"agent_ping_timeout":      formatDuration(m.cfg.AgentPingTimeout),
		"max_agent_ping_timeouts": itoa(m.cfg.MaxAgentPingTimeouts),
		"registry_max_agent_age":  formatDuration(m.cfg.RegistryMaxAgentAge),
		"role_sorter":             "drf",
	}
	if m.cfg.OfferTimeout > 0 {
		f["offer_timeout"] = formatDuration(m.cfg.OfferTimeout)
	}
	return f
}

func (m *Master) frameworkJSONLocked(fw *framework, u usage) map[string]any {
	var tasks, completed []map[string]any
	ids := make([]string, 0, len(fw.tasks))
	for id := range fw.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := fw.tasks[id]
		if t.terminal {
			completed = append(completed, taskJSON(t))
		} else {
			tasks = append(tasks, taskJSON(t))
		}
	}
	for _, t := range fw.completed {
		completed = append(completed, taskJSON(t))
	}
	var offers []map[string]any
	var offered mesos.Resources
	for _, o := range m.offers {
		if o.fwID != fw.id {
			continue
		}
		offered.Add(o.resources...)
		offers = append(offers, map[string]any{
			"id":              o.id,
			"framework_id":    o.fwID,
			"allocation_info": map[string]any{"role": o.role},
			"slave_id":        o.agentID,
			"resources":       resources.StateJSON(o.resources),
		})
	}
	var used mesos.Resources
	for _, t := range fw.tasks {
		if !t.terminal {
			used.Add(t.resources...)
		}
	}
	var executors []map[string]any
	for _, a := range m.agents {
		for eid, e := range a.executors[fw.id] {
			used.Add(e.resources...)
			executors = append(executors, map[string]any{
				"executor_id":  eid,
				"name":         e.info.GetName(),
				"framework_id": fw.id,
				"slave_id":     a.id,
				"resources":    resources.StateJSON(e.resources),
				"type":         e.info.GetType().String(),
			})
		}
	}
	var caps []string
	for _, c := range fw.info.GetCapabilities() {
		caps = append(caps, c.GetType().String())
	}
	roles := fw.info.GetRoles()
	if len(roles) == 0 {
		roles = []string{fw.role}
	}
	unreg := 0.0
	if !fw.unregistered.IsZero() {
		unreg = seconds(fw.unregistered)
	}
	return map[string]any{
		"id":                fw.id,
		"name":              fw.info.GetName(),
		"used_resources":    resources.StateJSON(used),
		"offered_resources": resources.StateJSON(offered),
		"resources":         resources.StateJSON(u.fwAllocated[fw.id]),
		"capabilities":      nonNilStrings(caps),
		"hostname":          fw.info.GetHostname(),
		"webui_url":         fw.info.GetWebUiURL(),
		"active":            fw.connected,
		"connected":         fw.connected,
		"recovered":         fw.recovered,
		"user":              fw.info.GetUser(),
		"failover_timeout":  fw.info.GetFailoverTimeout(),
		"checkpoint":        fw.info.GetCheckpoint(),
		"registered_time":   seconds(fw.registeredTime),
		"unregistered_time": unreg,
		"roles":             roles,
		"role":              fw.role,
		"tasks":             nonNil(tasks),
		"unreachable_tasks": m.unreachableTasksJSONLocked(fw),
		"completed_tasks":   nonNil(completed),
		"offers":            nonNil(offers),
		"executors":         nonNil(executors),
		"offer_constraints": map[string]any{},
	}
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func taskJSON(t *task) map[string]any {
	var statuses []map[string]any
	for _, s := range t.task.Statuses {
		statuses = append(statuses, map[string]any{"state": s.GetState().String(), "timestamp": s.GetTimestamp()})
	}
	role := ""
	for _, r := range t.task.Resources {
		if r.AllocationInfo != nil {
			role = r.AllocationInfo.GetRole()
		}
	}
	out := map[string]any{
		"id":           t.task.TaskID.Value,
		"name":         t.task.Name,
		"framework_id": t.task.FrameworkID.Value,
		"executor_id":  t.task.GetExecutorID().GetValue(),
		"slave_id":     t.task.AgentID.Value,
		"state":        t.task.GetState().String(),
		"resources":    resources.StateJSON(t.resources),
		"role":         role,
		"statuses":     nonNil(statuses),
	}
	if t.task.Labels != nil {
		var labels []map[string]string
		for _, l := range t.task.Labels.Labels {
			labels = append(labels, map[string]string{"key": l.Key, "value": l.GetValue()})
		}
		out["labels"] = labels
	}
	return out
}
