package master_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

type haMaster struct {
	m    *master.Master
	addr string
	stop func()
}

func (h *haMaster) url() string { return "http://" + h.addr }

// startHAMaster starts a master that elects a leader through the etcd at
// the client URL etcd.
func startHAMaster(t *testing.T, etcd, prefix string) *haMaster {
	t.Helper()
	m := mesostest.StartMaster(t, master.Config{
		Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second,
		HA: master.HAConfig{EtcdEndpoints: []string{etcd}, EtcdPrefix: prefix, SessionTTL: 2 * time.Second},
	})
	return &haMaster{m: m.Master, addr: m.Addr, stop: m.Stop}
}

func metrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func noFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// leaderOf waits until exactly one of ms reports master/elected and
// returns it.
func leaderOf(t *testing.T, ms []*haMaster, timeout time.Duration) *haMaster {
	t.Helper()
	var leader *haMaster
	waitFor(t, timeout, "one elected master", func() bool {
		leader = nil
		n := 0
		for _, h := range ms {
			resp, err := http.Get(h.url() + "/metrics/snapshot")
			if err != nil {
				continue
			}
			var snap map[string]float64
			_ = json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
			if snap["master/elected"] == 1 {
				leader = h
				n++
			}
		}
		return n == 1
	})
	return leader
}

func TestHAFailoverKeepsTasks(t *testing.T) {
	etcd := mesostest.StartEtcd(t)
	const prefix = "/mesos-ha-test"
	ms := []*haMaster{startHAMaster(t, etcd, prefix), startHAMaster(t, etcd, prefix), startHAMaster(t, etcd, prefix)}
	leader := leaderOf(t, ms, 10*time.Second)
	t.Logf("leader %s", leader.addr)

	// Non-leaders redirect scheduler, operator and state requests and name
	// the leader in /master/redirect.
	for _, h := range ms {
		if h == leader {
			continue
		}
		waitFor(t, 5*time.Second, "non-leader knows the leader", func() bool {
			resp, err := noFollow().Get(h.url() + "/master/redirect")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusTemporaryRedirect && resp.Header.Get("Location") == "//"+leader.addr
		})
		for _, path := range []string{"/api/v1/scheduler", "/api/v1"} {
			resp, err := noFollow().Post(h.url()+path, "application/json", strings.NewReader(`{"type":"GET_STATE"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "//"+leader.addr+path {
				t.Fatalf("POST %s on a non-leader: %s Location %q", path, resp.Status, resp.Header.Get("Location"))
			}
		}
		resp, err := noFollow().Get(h.url() + "/master/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect {
			t.Fatalf("/master/state on a non-leader: %s", resp.Status)
		}
		if m := metrics(t, h.url()); m["master/elected"] != 0 {
			t.Fatalf("non-leader metrics: %v", m)
		}
	}

	// Agents: one finds the leader through etcd, one through a list of
	// masters.
	var list []string
	for _, h := range ms {
		list = append(list, h.addr)
	}
	for i, spec := range []string{"etcd://" + strings.TrimPrefix(etcd, "http://") + prefix, strings.Join(list, ",")} {
		mesostest.StartAgent(t, agent.Config{
			Master: spec, Hostname: "agent-" + strconv.Itoa(i), WorkDir: t.TempDir(),
			Resources: "cpus:2;mem:2048;disk:1000;ports:[31000-31100]", RegistrationBackoff: 100 * time.Millisecond,
			StatusUpdateRetryInterval: time.Second, ExecutorShutdownGracePeriod: time.Second,
		})
	}

	info := frameworkInfo("ha")
	s := subscribe(t, &cluster{t: t, masterURL: leader.url()}, info)
	running := map[string]string{} // task → agent
	for len(running) < 2 {
		e := s.next(scheduler.Event_OFFERS, 5*time.Second)
		for _, o := range e.Offers.Offers {
			if len(running) == 2 || running["t-"+o.AgentID.Value] != "" {
				s.mustCall(calls.Decline(o.ID))
				continue
			}
			id := "t-" + o.AgentID.Value
			ti := taskInfo(id, o, nil, "cpus:0.1;mem:32", "")
			ti.Command = &mesos.CommandInfo{Shell: ptr(true), Value: ptr("sleep 120")}
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
			running[id] = o.AgentID.Value
		}
	}
	ids := make([]string, 0, len(running))
	for id := range running {
		ids = append(ids, id)
	}
	s.Running(15*time.Second, ids...)
	waitFor(t, 5*time.Second, "leader metrics", func() bool {
		m := metrics(t, leader.url())
		return m["master/tasks_running"] == 2 && m["master/slaves_active"] == 2 && m["master/frameworks_active"] == 1
	})

	// Kill the leader: its lease expires, another master takes over, the
	// agents re-register, the framework re-subscribes with its ID.
	killed := time.Now()
	leader.stop()
	s.cancel()
	var rest []*haMaster
	for _, h := range ms {
		if h != leader {
			rest = append(rest, h)
		}
	}
	newLeader := leaderOf(t, rest, 10*time.Second)
	elected := time.Since(killed)
	t.Logf("new leader %s elected %s after the old one stopped", newLeader.addr, elected.Round(time.Millisecond))
	if elected > 10*time.Second {
		t.Fatalf("failover took %s", elected)
	}
	waitFor(t, 10*time.Second, "agents re-registered with the new leader", func() bool {
		return metrics(t, newLeader.url())["master/slaves_active"] == 2
	})

	info.ID = &mesos.FrameworkID{Value: s.fwID}
	s2 := subscribe(t, &cluster{t: t, masterURL: newLeader.url()}, info)
	if s2.fwID != s.fwID {
		t.Fatalf("re-subscribed as %s, want %s", s2.fwID, s.fwID)
	}
	t.Logf("framework re-subscribed %s after the leader stopped", time.Since(killed).Round(time.Millisecond))
	var tasks []scheduler.Call_Reconcile_Task
	for id := range running {
		tasks = append(tasks, scheduler.Call_Reconcile_Task{TaskID: mesos.TaskID{Value: id}})
	}
	s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: tasks}})
	seen := map[string]mesos.TaskState{}
	for len(seen) < len(running) {
		e := s2.next(scheduler.Event_UPDATE, 5*time.Second)
		st := e.Update.Status
		if st.GetReason() == mesos.REASON_RECONCILIATION {
			seen[st.TaskID.Value] = st.GetState()
		}
	}
	for id, st := range seen {
		if st != mesos.TASK_RUNNING {
			t.Fatalf("after failover task %s is %s, want TASK_RUNNING", id, st)
		}
	}
	m := metrics(t, newLeader.url())
	if m["master/tasks_running"] != 2 || m["master/tasks_lost"] != 0 || m["master/frameworks_active"] != 1 {
		t.Fatalf("new leader metrics: running %v lost %v frameworks %v", m["master/tasks_running"], m["master/tasks_lost"], m["master/frameworks_active"])
	}
}
