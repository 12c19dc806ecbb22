package bridge

import (
	"cmp"
	"net/http"
	"slices"
	"sync"
	"time"
)

// MaintenanceLog keeps what the scheduler knows of the agents in Mesos
// maintenance, as of its last cycle: `kubemesos why node/<name>` and GET
// /debug/maintenance read it. Safe for concurrent use.
type MaintenanceLog struct {
	mu   sync.Mutex
	last MaintenanceReport
}

// MaintenanceReport is the JSON of /debug/maintenance.
type MaintenanceReport struct {
	At     time.Time         `json:"at"`
	Agents []MaintainedAgent `json:"agents"`
}

// MaintainedAgent is one agent in maintenance.
type MaintainedAgent struct {
	AgentID string `json:"agentID"`
	Node    string `json:"node"`
	// Phase is one of the Phase constants; Reason says why it is not done.
	Phase  string `json:"phase"`
	Reason string `json:"reason"`
	// WindowStart and WindowDuration are the unavailability (duration 0: none given).
	WindowStart    time.Time     `json:"windowStart"`
	WindowDuration time.Duration `json:"windowDuration,omitempty"`
	// DrainingSince is when the drain started (zero: not yet).
	DrainingSince time.Time `json:"drainingSince,omitzero"`
	// InverseOffers counts the inverse offers not answered yet.
	InverseOffers int `json:"inverseOffers"`
	// Answer is the last answer to an inverse offer: ACCEPT, DECLINE or "".
	Answer string `json:"answer,omitempty"`
}

// NewMaintenanceLog returns an empty log.
func NewMaintenanceLog() *MaintenanceLog { return &MaintenanceLog{} }

// Report returns the last state; Agents is a copy.
func (l *MaintenanceLog) Report() MaintenanceReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.last
	r.Agents = slices.Clone(r.Agents)
	return r
}

func (l *MaintenanceLog) set(r MaintenanceReport) {
	l.mu.Lock()
	l.last = r
	l.mu.Unlock()
}

// ServeHTTP serves the last state as JSON (GET /debug/maintenance), only
// the agent of ?node= when given.
func (l *MaintenanceLog) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !getOnly(w, req) {
		return
	}
	r := l.Report()
	if node := req.URL.Query().Get("node"); node != "" {
		r.Agents = slices.DeleteFunc(r.Agents, func(a MaintainedAgent) bool { return a.Node != node })
	}
	writeJSON(w, r)
}

// MaintenanceLog is the scheduler's log of agents in maintenance, to serve
// over HTTP. Call it before Run.
func (s *Scheduler) MaintenanceLog() *MaintenanceLog { return s.maintenanceBook().report }

// snapshot is the book as a report, at now, agents by node name.
func (b *maintenanceBook) snapshot(now time.Time) MaintenanceReport {
	r := MaintenanceReport{At: now, Agents: make([]MaintainedAgent, 0, len(b.agents))}
	for _, a := range b.agents {
		m := MaintainedAgent{AgentID: a.agentID, Node: a.node(), Phase: a.phase, Reason: a.reason,
			InverseOffers: len(a.inverse), Answer: a.answer}
		if a.window != nil {
			m.WindowStart = windowStart(a.window)
			if d := a.window.GetDuration(); d != nil {
				m.WindowDuration = time.Duration(d.Nanoseconds)
			}
		}
		if a.draining {
			m.DrainingSince = a.since
		}
		r.Agents = append(r.Agents, m)
	}
	slices.SortFunc(r.Agents, func(x, y MaintainedAgent) int {
		return cmp.Or(cmp.Compare(x.Node, y.Node), cmp.Compare(x.AgentID, y.AgentID))
	})
	return r
}
