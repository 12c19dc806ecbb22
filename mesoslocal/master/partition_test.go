package master_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// partitionProxy forwards TCP connections to a target until partitioned:
// then it drops every connection and holds new ones without forwarding
// anything, like a network partition, until healed.
type partitionProxy struct {
	ln     net.Listener
	target string

	mu          sync.Mutex
	partitioned bool
	conns       map[net.Conn]bool
}

func newPartitionProxy(t *testing.T, target string) *partitionProxy {
	t.Helper()
	p := &partitionProxy{ln: listen(t), target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		p.ln.Close()
		p.closeAll()
	})
	return p
}

func (p *partitionProxy) addr() string { return p.ln.Addr().String() }

func (p *partitionProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		held := p.partitioned
		p.mu.Unlock()
		if held {
			continue // blackholed until heal closes it
		}
		go p.forward(c)
	}
}

func (p *partitionProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.partitioned {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *partitionProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *partitionProxy) partition() {
	p.mu.Lock()
	p.partitioned = true
	p.mu.Unlock()
	p.closeAll()
}

func (p *partitionProxy) heal() {
	p.mu.Lock()
	p.partitioned = false
	p.mu.Unlock()
	p.closeAll()
}

// startPartitionCluster is a master and an agent that reaches it through a
// partitionProxy, with short ping timeouts.
func startPartitionCluster(t *testing.T, mcfgFn func(*master.Config)) (*cluster, *partitionProxy) {
	t.Helper()
	mcfg := master.Config{
		Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second,
		AgentPingTimeout: 200 * time.Millisecond, MaxAgentPingTimeouts: 3,
	}
	if mcfgFn != nil {
		mcfgFn(&mcfg)
	}
	m := mesostest.StartMaster(t, mcfg)
	workDir := t.TempDir()
	proxy := newPartitionProxy(t, m.Addr)
	a := mesostest.StartAgent(t, agent.Config{
		Master:                      proxy.addr(),
		Hostname:                    "agent-1",
		WorkDir:                     workDir,
		Resources:                   "cpus:2;mem:4096;disk:20000;ports:[31000-32000]",
		ExecutorShutdownGracePeriod: time.Second,
		StatusUpdateRetryInterval:   time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
		MasterPingTimeout:           time.Second,
	})
	c := &cluster{
		t: t, master: m.Master, masterURL: m.URL, agent: a.Agent, agentAddr: a.Addr, workDir: workDir,
		stop:       func() { a.Stop(); m.Stop() },
		stopMaster: m.Stop,
	}
	return c, proxy
}

// launchRunning launches one task with the test executor on the next offer
// and waits until it runs; the rest of the offer is refused for refuse
// seconds.
func launchRunning(t *testing.T, s *sched, taskID string, refuse float64) mesos.Offer {
	t.Helper()
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ti := taskInfo(taskID, o, testExecutor("exec-"+taskID), "cpus:0.5;mem:64", "")
	acc := calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID))
	acc.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(refuse)}
	s.mustCall(acc)
	if st := s.update(taskID, 10*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("task %s: got %v, want TASK_RUNNING", taskID, st.GetState())
	}
	return o
}

// updateOf waits for a status update of taskID in state want.
func (s *sched) updateOf(taskID string, want mesos.TaskState, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.update(taskID, time.Until(deadline))
		if st.GetState() == want {
			return st
		}
	}
}

func nonPartitionAware(name string) *mesos.FrameworkInfo {
	info := frameworkInfo(name)
	info.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}
	return info
}

// A partitioned agent becomes unreachable: a PARTITION_AWARE framework gets
// TASK_UNREACHABLE, another TASK_LOST; when the partition heals the agent
// re-registers with its tasks and both see them RUNNING again.
func TestPartitionUnreachableThenBack(t *testing.T) {
	c, proxy := startPartitionCluster(t, nil)
	pa := subscribe(t, c, frameworkInfo("partition-aware"))
	launchRunning(t, pa, "pa-task", 3600)
	npa := subscribe(t, c, nonPartitionAware("classic"))
	launchRunning(t, npa, "npa-task", 3600)
	agentID := c.agent.ID()

	proxy.partition()
	st := pa.updateOf("pa-task", mesos.TASK_UNREACHABLE, 5*time.Second)
	if st.GetReason() != mesos.REASON_AGENT_REMOVED || st.GetSource() != mesos.SOURCE_MASTER || st.GetUnreachableTime() == nil {
		t.Errorf("TASK_UNREACHABLE: reason %v source %v unreachable_time %v", st.GetReason(), st.GetSource(), st.GetUnreachableTime())
	}
	if st := npa.updateOf("npa-task", mesos.TASK_LOST, 5*time.Second); st.GetReason() != mesos.REASON_AGENT_REMOVED {
		t.Errorf("TASK_LOST reason %v", st.GetReason())
	}
	state := c.state(t)
	if n := state["unreachable_slaves"]; n != 1.0 {
		t.Errorf("unreachable_slaves = %v, want 1", n)
	}
	if got := unreachableTaskIDs(state, pa.fwID); len(got) != 1 || got[0] != "pa-task" {
		t.Errorf("unreachable_tasks = %v", got)
	}
	pa.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"pa-task": agentID})))
	if st := pa.next(scheduler.Event_UPDATE, 3*time.Second).Update.Status; st.GetState() != mesos.TASK_UNREACHABLE {
		t.Errorf("reconcile while unreachable: %v", st.GetState())
	}

	proxy.heal()
	st = pa.updateOf("pa-task", mesos.TASK_RUNNING, 10*time.Second)
	if st.GetReason() != mesos.REASON_AGENT_REREGISTERED {
		t.Errorf("back to RUNNING with reason %v", st.GetReason())
	}
	npa.updateOf("npa-task", mesos.TASK_RUNNING, 5*time.Second)
	if c.agent.ID() != agentID {
		t.Errorf("agent ID changed from %s to %s", agentID, c.agent.ID())
	}
	waitFor(t, 5*time.Second, "agent reachable in /master/state", func() bool {
		st := c.state(t)
		task := c.taskState(t, pa.fwID, "pa-task")
		return st["unreachable_slaves"] == 0.0 && task != nil && task["state"] == "TASK_RUNNING"
	})
	// The task still works end to end: it can be killed.
	pa.mustCall(calls.Kill("pa-task", agentID))
	pa.updateOf("pa-task", mesos.TASK_KILLED, 5*time.Second)
}

// An unreachable agent kept away longer than registry_max_agent_age is
// removed: TASK_GONE; coming back it is refused, starts afresh under a new
// ID and is offered again.
func TestPartitionUnreachableThenGone(t *testing.T) {
	c, proxy := startPartitionCluster(t, func(cfg *master.Config) { cfg.RegistryMaxAgentAge = 500 * time.Millisecond })
	s := subscribe(t, c, frameworkInfo("gone"))
	launchRunning(t, s, "doomed", 0)
	oldID := c.agent.ID()

	proxy.partition()
	s.updateOf("doomed", mesos.TASK_UNREACHABLE, 5*time.Second)
	st := s.updateOf("doomed", mesos.TASK_GONE, 5*time.Second)
	if st.GetReason() != mesos.REASON_AGENT_REMOVED || st.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("TASK_GONE: reason %v source %v", st.GetReason(), st.GetSource())
	}
	proxy.heal()
	waitFor(t, 10*time.Second, "agent registered under a new ID", func() bool {
		id := c.agent.ID()
		return id != "" && id != oldID
	})
	o := s.offerWhere(5*time.Second, "an offer from the new agent ID", func(o mesos.Offer) bool { return o.AgentID.Value != oldID })
	if cpus := scalar(o.Resources, "cpus"); cpus != 2 {
		t.Errorf("offer after restart has %v cpus, want all 2 (the old executor was shut down)", cpus)
	}
}

// MARK_AGENT_GONE on an unreachable agent: TASK_GONE_BY_OPERATOR.
func TestMarkAgentGone(t *testing.T) {
	c, proxy := startPartitionCluster(t, nil)
	s := subscribe(t, c, frameworkInfo("operator"))
	launchRunning(t, s, "t1", 0)
	agentID := c.agent.ID()
	proxy.partition()
	s.updateOf("t1", mesos.TASK_UNREACHABLE, 5*time.Second)

	code, _ := operatorCall(t, c, &opv1.Call{Type: opv1.Call_MARK_AGENT_GONE, MarkAgentGone: &opv1.Call_MarkAgentGone{AgentID: mesos.AgentID{Value: agentID}}})
	if code != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %d", code)
	}
	st := s.updateOf("t1", mesos.TASK_GONE_BY_OPERATOR, 5*time.Second)
	if st.GetReason() != mesos.REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Errorf("reason %v", st.GetReason())
	}
	if code, _ := operatorCall(t, c, &opv1.Call{Type: opv1.Call_MARK_AGENT_GONE, MarkAgentGone: &opv1.Call_MarkAgentGone{AgentID: mesos.AgentID{Value: "no-such-agent"}}}); code != http.StatusNotFound {
		t.Errorf("MARK_AGENT_GONE of an unknown agent: %d, want 404", code)
	}
}

func unreachableTaskIDs(state map[string]any, fwID string) []string {
	var out []string
	for _, f := range state["frameworks"].([]any) {
		fw := f.(map[string]any)
		if fw["id"] != fwID {
			continue
		}
		for _, x := range fw["unreachable_tasks"].([]any) {
			out = append(out, x.(map[string]any)["id"].(string))
		}
	}
	return out
}

// operatorCall POSTs an operator API call as protobuf and decodes the
// response, if any.
func operatorCall(t *testing.T, c *cluster, call *opv1.Call) (int, *opv1.Response) {
	t.Helper()
	b, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Accept", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", call.Type, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		if resp.StatusCode >= 300 {
			t.Logf("%s: %s: %s", call.Type, resp.Status, body)
		}
		return resp.StatusCode, nil
	}
	var r opv1.Response
	if err := r.Unmarshal(body); err != nil {
		t.Fatalf("%s: decode response: %v", call.Type, err)
	}
	return resp.StatusCode, &r
}

// offerWhere returns the first offer satisfying pred, skipping others.
func (s *sched) offerWhere(timeout time.Duration, what string, pred func(mesos.Offer) bool) mesos.Offer {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, o := range s.next(scheduler.Event_OFFERS, time.Until(deadline)).Offers.Offers {
			if pred(o) {
				return o
			}
		}
	}
	s.t.Fatalf("no offer with %s within %s", what, timeout)
	return mesos.Offer{}
}
