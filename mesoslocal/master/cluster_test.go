package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

// cluster is a master and one agent on loopback ports.
type cluster struct {
	t         *testing.T
	master    *master.Master
	masterURL string
	agent     *agent.Agent
	agentAddr string
	workDir   string
	stop      func()
	// stopMaster stops only the master.
	stopMaster func()
}

type (
	masterConfig = master.Config
	agentConfig  = agent.Config
	clusterOpt   func(*master.Config, *agent.Config)
)

func startCluster(t *testing.T, opts ...clusterOpt) *cluster {
	t.Helper()
	mcfg := master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second}
	acfg := agent.Config{
		Hostname:                    "agent-1",
		WorkDir:                     t.TempDir(),
		Resources:                   "cpus:2;mem:4096;disk:20000;ports:[31000-32000]",
		Attributes:                  "rack:r1;zone:a",
		ExecutorShutdownGracePeriod: time.Second,
		StatusUpdateRetryInterval:   time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
	}
	for _, o := range opts {
		o(&mcfg, &acfg)
	}
	m := mesostest.StartMaster(t, mcfg)
	acfg.Master = m.Addr
	a := mesostest.StartAgent(t, acfg)
	return &cluster{
		t: t, master: m.Master, masterURL: m.URL, agent: a.Agent, agentAddr: a.Addr, workDir: acfg.WorkDir,
		stop:       func() { a.Stop(); m.Stop() },
		stopMaster: m.Stop,
	}
}

// listen listens on a free loopback port.
func listen(t *testing.T) net.Listener { return mesostest.Listen(t) }

// sched is a framework subscribed with mesostest.Subscribe.
type sched struct {
	*mesostest.Scheduler
	t      *testing.T
	caller calls.Caller
	fwID   string
	events <-chan *scheduler.Event
	cancel context.CancelFunc
}

func frameworkInfo(name string) *mesos.FrameworkInfo {
	ft := 60.0
	return &mesos.FrameworkInfo{
		User:            "root",
		Name:            name,
		Roles:           []string{"kubernetes"},
		FailoverTimeout: &ft,
		Checkpoint:      ptr(true),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}
}

func subscribe(t *testing.T, c *cluster, info *mesos.FrameworkInfo) *sched {
	t.Helper()
	s := mesostest.Subscribe(t, c.masterURL, info)
	return &sched{Scheduler: s, t: t, caller: s.Caller, fwID: s.FrameworkID, events: s.Events, cancel: s.Cancel}
}

// next returns the next event of type typ, skipping others.
func (s *sched) next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	s.t.Helper()
	return s.Next(typ, timeout)
}

// none asserts that no event of type typ arrives within d.
func (s *sched) none(typ scheduler.Event_Type, d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return
			}
			if e.Type == typ {
				s.t.Fatalf("unexpected %s event: %v", typ, e)
			}
		case <-deadline:
			return
		}
	}
}

func (s *sched) call(c *scheduler.Call) error { return s.Call(c) }

func (s *sched) mustCall(c *scheduler.Call) {
	s.t.Helper()
	s.MustCall(c)
}

// update waits for an UPDATE of task, acknowledging it when it has a UUID.
func (s *sched) update(taskID string, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	return s.Update(taskID, true, timeout)
}

func testExecutor(id string) *mesos.ExecutorInfo {
	return &mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id},
		Type:       mesos.ExecutorInfo_CUSTOM,
		Name:       ptr("test executor"),
		Command:    mesostest.ExecutorCommand(mesostest.ExecutorOptions{}),
		Resources:  mustResources("cpus:0.1;mem:32"),
	}
}

func taskInfo(id string, o mesos.Offer, ei *mesos.ExecutorInfo, res string, data string) mesos.TaskInfo {
	rs := mustResources(res)
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
	}
	return mesos.TaskInfo{
		Name:      "task " + id,
		TaskID:    mesos.TaskID{Value: id},
		AgentID:   o.AgentID,
		Executor:  ei,
		Resources: rs,
		Data:      []byte(data),
	}
}

func mustResources(s string) mesos.Resources {
	var out mesos.Resources
	for _, part := range strings.Split(s, ";") {
		name, v, _ := strings.Cut(part, ":")
		var f float64
		fmt.Sscan(v, &f)
		out = append(out, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: f}})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func scalar(rs []mesos.Resource, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.Name == name && r.GetType() == mesos.SCALAR {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

// state fetches /master/state.
func (c *cluster) state(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(c.masterURL + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state: %v: %s", err, b)
	}
	return st
}

// taskState finds a task in /master/state (tasks or completed_tasks).
func (c *cluster) taskState(t *testing.T, fwID, taskID string) map[string]any {
	t.Helper()
	for _, f := range c.state(t)["frameworks"].([]any) {
		fw := f.(map[string]any)
		if fw["id"] != fwID {
			continue
		}
		for _, key := range []string{"tasks", "completed_tasks"} {
			for _, x := range fw[key].([]any) {
				if task := x.(map[string]any); task["id"] == taskID {
					return task
				}
			}
		}
	}
	return nil
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	mesostest.Eventually(t, timeout, what, func() (bool, string) { return cond(), "" })
}
