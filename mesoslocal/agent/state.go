package agent

import (
	"encoding/json"
	"net/http"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// serveState answers GET /state with a subset of a Mesos agent's state.
func (a *Agent) serveState(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	var fws []map[string]any
	for id, fw := range a.frameworks {
		var execs []map[string]any
		for eid, r := range fw.executors {
			var tasks []map[string]any
			for tid, t := range r.tasks {
				tasks = append(tasks, map[string]any{"id": tid, "name": t.info.Name, "state": t.state.String(), "resources": resources.StateJSON(t.info.Resources)})
			}
			execs = append(execs, map[string]any{"id": eid, "container": r.containerID, "directory": r.dir, "tasks": tasks, "pid": r.pid})
		}
		fws = append(fws, map[string]any{"id": id, "name": fw.info.GetName(), "executors": execs})
	}
	reserved, unreserved := a.reservedStateLocked()
	st := map[string]any{
		"id":                   a.id,
		"pid":                  "slave(1)@" + a.endpoint(),
		"hostname":             a.cfg.Hostname,
		"resources":            resources.StateJSON(a.resources),
		"reserved_resources":   reserved,
		"unreserved_resources": unreserved,
		"attributes":           resources.AttributesJSON(a.attributes),
		"master_id":            a.masterID,
		"connected":            a.connected,
		"frameworks":           fws,
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
