package master

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// counters are the master's cumulative message counters.
type counters struct {
	mu sync.Mutex
	c  map[string]float64
}

func (c *counters) inc(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		c.c = map[string]float64{}
	}
	c.c[name]++
}

func (c *counters) snapshot(into map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.c {
		into[k] = v
	}
}

// messageCounters are always present in a snapshot, 0 until counted.
var messageCounters = []string{
	"master/messages_register_framework", "master/messages_reregister_framework",
	"master/messages_unregister_framework", "master/messages_launch_tasks", "master/messages_decline_offers",
	"master/messages_revive_offers", "master/messages_suppress_offers", "master/messages_kill_task",
	"master/messages_status_update_acknowledgement", "master/messages_reconcile_tasks",
	"master/messages_framework_to_executor", "master/messages_executor_to_framework",
	"master/messages_register_slave", "master/messages_reregister_slave", "master/messages_status_update",
	"master/messages_exited_executor", "master/messages_resource_request", "master/messages_update_framework",
	"master/messages_authenticate_failed", "master/invalid_status_updates",
	metricTaskIDReuses,
}

// metricTaskIDReuses counts launches of a task whose ID a terminal task of
// the same framework had (mesoslocal's own counter: Mesos has none).
const metricTaskIDReuses = "master/task_id_reuses"

// schedulerCallCounter maps scheduler calls to Mesos' message counters.
var schedulerCallCounter = map[scheduler.Call_Type]string{
	scheduler.Call_TEARDOWN:         "master/messages_unregister_framework",
	scheduler.Call_ACCEPT:           "master/messages_launch_tasks",
	scheduler.Call_DECLINE:          "master/messages_decline_offers",
	scheduler.Call_REVIVE:           "master/messages_revive_offers",
	scheduler.Call_SUPPRESS:         "master/messages_suppress_offers",
	scheduler.Call_KILL:             "master/messages_kill_task",
	scheduler.Call_ACKNOWLEDGE:      "master/messages_status_update_acknowledgement",
	scheduler.Call_RECONCILE:        "master/messages_reconcile_tasks",
	scheduler.Call_MESSAGE:          "master/messages_framework_to_executor",
	scheduler.Call_REQUEST:          "master/messages_resource_request",
	scheduler.Call_UPDATE_FRAMEWORK: "master/messages_update_framework",
}

// countRequest counts the message r carries.
func (m *Master) countRequest(r *http.Request, call *scheduler.Call) {
	switch r.URL.Path {
	case "/api/v1/scheduler":
		if call == nil {
			return
		}
		if call.GetType() == scheduler.Call_SUBSCRIBE {
			if call.Subscribe != nil && call.Subscribe.FrameworkInfo.GetID().GetValue() != "" {
				m.metrics.inc("master/messages_reregister_framework")
			} else {
				m.metrics.inc("master/messages_register_framework")
			}
		} else if name := schedulerCallCounter[call.GetType()]; name != "" {
			m.metrics.inc(name)
		}
	case link.PathRegister:
		m.metrics.inc("master/messages_register_slave")
	case link.PathStatus:
		m.metrics.inc("master/messages_status_update")
	case link.PathExecutorExited:
		m.metrics.inc("master/messages_exited_executor")
	case link.PathMessage:
		m.metrics.inc("master/messages_executor_to_framework")
	case link.PathOversubscribed:
		m.metrics.inc("master/messages_update_slave")
	}
}

// wrapHandler puts leader redirection, framework authentication and
// message counting in front of the master's endpoints.
func (m *Master) wrapHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if leaderOnly[r.URL.Path] && m.redirectToLeader(w, r) {
			return
		}
		var call *scheduler.Call
		if r.URL.Path == "/api/v1/scheduler" && r.Method == http.MethodPost {
			call, _ = peekSchedulerCall(r)
			if !m.checkSchedulerAuth(w, r, call) {
				return
			}
		}
		m.countRequest(r, call)
		next.ServeHTTP(w, r)
	})
}

// metricsSnapshot returns the master's metrics under Mesos' names.
func (m *Master) metricsSnapshot() map[string]float64 {
	out := map[string]float64{}
	for _, n := range messageCounters {
		out[n] = 0
	}
	m.metrics.snapshot(out)
	leader := m.isLeader()
	out["master/elected"] = b2f(leader)
	out["master/uptime_secs"] = time.Since(m.startTime).Seconds()
	if !leader {
		return out
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usageLocked()
	var active, inactive, connected, disconnected float64
	for _, fw := range m.frameworks {
		if fw.connected {
			connected++
			active++
		} else {
			disconnected++
			inactive++
		}
	}
	out["master/frameworks_active"] = active
	out["master/frameworks_inactive"] = inactive
	out["master/frameworks_connected"] = connected
	out["master/frameworks_disconnected"] = disconnected
	var slavesActive, slavesInactive, slavesConnected, slavesDisconnected float64
	var total, used, offered mesos.Resources
	for _, a := range m.agents {
		if a.active {
			slavesActive++
		} else {
			slavesInactive++
		}
		if a.box != nil {
			slavesConnected++
		} else {
			slavesDisconnected++
		}
		total = append(total, a.total...)
		used = append(used, u.agentUsed[a.id]...)
		offered = append(offered, u.agentOffered[a.id]...)
	}
	out["master/slaves_active"] = slavesActive
	out["master/slaves_inactive"] = slavesInactive
	out["master/slaves_connected"] = slavesConnected
	out["master/slaves_disconnected"] = slavesDisconnected
	out["master/slaves_unreachable"] = 0
	out["master/outstanding_offers"] = float64(len(m.offers))
	addRevocableMetrics(out, total, used)
	total, used, offered = resources.NonRevocable(total), resources.NonRevocable(used), resources.NonRevocable(offered)
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		t, us, of := scalarSum(total, name), scalarSum(used, name), scalarSum(offered, name)
		out["master/"+name+"_total"] = t
		out["master/"+name+"_used"] = us
		out["master/"+name+"_offered"] = of
		out["master/"+name+"_percent"] = ratio(us, t)
	}
	states := map[string]float64{}
	for _, s := range []string{"staging", "starting", "running", "killing", "unreachable", "finished", "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator"} {
		states[s] = 0
	}
	count := func(st mesos.TaskState) {
		states[strings.ToLower(strings.TrimPrefix(st.String(), "TASK_"))]++
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			count(t.task.GetState())
		}
		for _, t := range fw.completed {
			count(t.task.GetState())
		}
	}
	for _, fw := range m.completedFrameworks {
		for _, t := range fw.completed {
			count(t.task.GetState())
		}
	}
	for s, v := range states {
		out["master/tasks_"+s] = v
	}
	return out
}

func scalarSum(rs mesos.Resources, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.GetName() == name && r.GetType() == mesos.SCALAR {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics is GET /metrics/snapshot: a flat JSON object of metrics.
func (m *Master) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m.metricsSnapshot())
}
