package mesostest_test

import (
	"os"
	"path/filepath"
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

func TestMain(m *testing.M) {
	mesostest.RunExecutorIfRequested(nil)
	os.Exit(m.Run())
}

func scalars(s string, o mesos.Offer) []mesos.Resource {
	var out []mesos.Resource
	for _, kv := range strings.Split(s, ";") {
		name, v, _ := strings.Cut(kv, ":")
		f, _ := strconv.ParseFloat(v, 64)
		out = append(out, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: f}, AllocationInfo: o.AllocationInfo})
	}
	return out
}

// The test executor reports a plain task RUNNING and KILLED when killed, a
// TaskDataFinish task RUNNING then FINISHED, and records acknowledgements
// in its sandbox.
func TestExecutorRunsFinishesAndKills(t *testing.T) {
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	workDir := t.TempDir()
	a := mesostest.StartAgent(t, agent.Config{Master: m.Addr, Hostname: "agent-1", WorkDir: workDir,
		Resources: "cpus:2;mem:1024", RegistrationBackoff: 100 * time.Millisecond, ExecutorShutdownGracePeriod: time.Second})
	s := mesostest.Subscribe(t, m.URL, &mesos.FrameworkInfo{User: "root", Name: "mesostest", Roles: []string{"test"},
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}})
	o := s.Next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	exec := &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e"}, Type: mesos.ExecutorInfo_CUSTOM,
		Command: mesostest.ExecutorCommand(mesostest.ExecutorOptions{}), Resources: scalars("cpus:0.1;mem:32", o)}
	task := func(id, data string) mesos.TaskInfo {
		return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Executor: exec,
			Resources: scalars("cpus:0.1;mem:32", o), Data: []byte(data)}
	}
	s.MustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task("plain", ""), task("done", mesostest.TaskDataFinish))}.WithOffers(o.ID)))

	states := map[string][]mesos.TaskState{}
	for deadline := time.Now().Add(10 * time.Second); len(states["plain"]) < 1 || len(states["done"]) < 2; {
		st := s.Next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status
		states[st.TaskID.Value] = append(states[st.TaskID.Value], st.GetState())
		s.MustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
	}
	if got := states["done"]; got[0] != mesos.TASK_RUNNING || got[1] != mesos.TASK_FINISHED {
		t.Errorf("%s task: %v, want RUNNING then FINISHED", mesostest.TaskDataFinish, got)
	}
	if got := states["plain"]; got[0] != mesos.TASK_RUNNING {
		t.Errorf("plain task: %v, want RUNNING", got)
	}
	s.MustCall(calls.Kill("plain", a.ID()))
	if st := s.Update("plain", true, 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("after KILL: %v, want TASK_KILLED", st.GetState())
	}
	acks := filepath.Join(workDir, "slaves", a.ID(), "frameworks", s.FrameworkID, "executors", "e", "runs", "latest", mesostest.ExecutorAcksFile)
	mesostest.Eventually(t, 5*time.Second, "three acknowledgements at the executor", func() (bool, string) {
		b, _ := os.ReadFile(acks)
		return strings.Count(string(b), "\n") >= 3, string(b)
	})
}

// StartEtcd's URL answers etcd's health check.
func TestStartEtcd(t *testing.T) {
	u := mesostest.StartEtcd(t)
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("client URL %q", u)
	}
}
