package agent_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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

func TestMain(m *testing.M) {
	mesostest.RunExecutorIfRequested(nil)
	os.Exit(m.Run())
}

// env is a master and a restartable agent on loopback ports.
type env struct {
	t         *testing.T
	masterURL string
	agentAddr string
	acfg      agent.Config
	agent     *agent.Agent
	stopAgent func()
}

func startEnv(t *testing.T, mutate func(*agent.Config)) *env {
	t.Helper()
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	e := &env{t: t, masterURL: m.URL, agentAddr: "127.0.0.1:0"}
	e.acfg = agent.Config{
		Master:                      m.Addr,
		Hostname:                    "agent-1",
		WorkDir:                     t.TempDir(),
		Resources:                   "cpus:4;mem:4096;disk:20000;ports:[31000-32000]",
		ExecutorShutdownGracePeriod: time.Second,
		StatusUpdateRetryInterval:   time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&e.acfg)
	}
	e.startAgent()
	return e
}

// startAgent starts an agent with the env's configuration, on the same
// address as the previous one.
func (e *env) startAgent() {
	e.t.Helper()
	a := mesostest.StartAgentAt(e.t, e.agentAddr, e.acfg)
	e.agent, e.agentAddr, e.stopAgent = a.Agent, a.Addr, a.Stop
}

// sched is a framework subscribed with mesostest.Subscribe.
type sched struct {
	*mesostest.Scheduler
	t    *testing.T
	fwID string
}

func subscribe(t *testing.T, e *env, info *mesos.FrameworkInfo) *sched {
	t.Helper()
	s := mesostest.Subscribe(t, e.masterURL, info)
	return &sched{Scheduler: s, t: t, fwID: s.FrameworkID}
}

func (s *sched) next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	s.t.Helper()
	return s.Next(typ, timeout)
}

func (s *sched) call(c *scheduler.Call) {
	s.t.Helper()
	s.MustCall(c)
}

// update returns the next status update of taskID, acknowledging it when
// ack is set.
func (s *sched) update(taskID string, ack bool, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	return s.Update(taskID, ack, timeout)
}

func frameworkInfo(name string, checkpoint bool) *mesos.FrameworkInfo {
	return &mesos.FrameworkInfo{
		User: "root", Name: name, Roles: []string{"test"}, Checkpoint: &checkpoint,
		FailoverTimeout: ptr(60.0),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
}

// testExecutor runs this test binary as mesostest's test executor, which
// survives agent restarts as Mesos executors do: when the agent goes away and
// the framework checkpoints, it subscribes again (for up to
// MESOS_RECOVERY_TIMEOUT) with its unacknowledged tasks and updates.
func testExecutor(id string) *mesos.ExecutorInfo {
	return &mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id},
		Type:       mesos.ExecutorInfo_CUSTOM,
		Command:    mesostest.ExecutorCommand(mesostest.ExecutorOptions{Recover: true}),
		Resources:  resources("cpus:0.1;mem:32"),
	}
}

func resources(s string) []mesos.Resource {
	var out []mesos.Resource
	for _, part := range strings.Split(s, ";") {
		name, v, _ := strings.Cut(part, ":")
		var f float64
		fmt.Sscan(v, &f)
		out = append(out, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: f}})
	}
	return out
}

func task(id string, o mesos.Offer) mesos.TaskInfo {
	rs := resources("cpus:0.1;mem:32")
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
	}
	return mesos.TaskInfo{Name: "task " + id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs}
}

// launch launches tasks on the next offer, leaving the rest unfiltered.
func (s *sched) launch(tasks ...mesos.TaskInfo) mesos.Offer {
	s.t.Helper()
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	for i := range tasks {
		tasks[i].AgentID = o.AgentID
		for j := range tasks[i].Resources {
			tasks[i].Resources[j].AllocationInfo = o.AllocationInfo
		}
	}
	acc := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID))
	acc.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
	s.call(acc)
	return o
}

func ptr[T any](v T) *T { return &v }

// agentExecutors reads the executors of the agent's /state.
func agentExecutors(t *testing.T, addr string) []map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Frameworks []struct {
			Executors []map[string]any `json:"executors"`
		} `json:"frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range st.Frameworks {
		out = append(out, f.Executors...)
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	mesostest.Eventually(t, timeout, what, func() (bool, string) { return cond(), "" })
}
