package master_test

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

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

func TestOffersCarryAgentResourcesAndAttributes(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("offers"))
	if !strings.HasPrefix(s.fwID, c.master.ID()+"-") {
		t.Errorf("framework ID %q does not start with the master ID %q", s.fwID, c.master.ID())
	}
	e := s.next(scheduler.Event_OFFERS, 5*time.Second)
	if n := len(e.Offers.Offers); n != 1 {
		t.Fatalf("got %d offers, want 1", n)
	}
	o := e.Offers.Offers[0]
	if o.AgentID.Value != c.agent.ID() || !strings.HasPrefix(o.AgentID.Value, c.master.ID()+"-S") {
		t.Errorf("offer agent ID %q, agent says %q", o.AgentID.Value, c.agent.ID())
	}
	if !strings.HasPrefix(o.ID.Value, c.master.ID()+"-O") {
		t.Errorf("offer ID %q", o.ID.Value)
	}
	if o.Hostname != "agent-1" {
		t.Errorf("hostname %q", o.Hostname)
	}
	if got := o.GetURL().Address.GetIP() + ":" + itoa(int(o.GetURL().Address.Port)); got != c.agentAddr {
		t.Errorf("offer url address %s, want %s", got, c.agentAddr)
	}
	if scalar(o.Resources, "cpus") != 2 || scalar(o.Resources, "mem") != 4096 || scalar(o.Resources, "disk") != 20000 {
		t.Errorf("resources %v", o.Resources)
	}
	ports := mesos.Ranges{}
	for _, r := range o.Resources {
		if r.AllocationInfo.GetRole() != "kubernetes" {
			t.Errorf("resource %s allocation role %q", r.Name, r.AllocationInfo.GetRole())
		}
		if r.Name == "ports" {
			ports = r.GetRanges().GetRange()
		}
	}
	if len(ports) != 1 || ports[0].Begin != 31000 || ports[0].End != 32000 {
		t.Errorf("ports %v", ports)
	}
	if o.AllocationInfo.GetRole() != "kubernetes" {
		t.Errorf("offer allocation role %q", o.AllocationInfo.GetRole())
	}
	attrs := map[string]string{}
	for _, a := range o.Attributes {
		attrs[a.Name] = a.GetText().GetValue()
	}
	if attrs["rack"] != "r1" || attrs["zone"] != "a" {
		t.Errorf("attributes %v", attrs)
	}
}

func TestLaunchRunningThenKilled(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("launch"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ei := testExecutor("exec-1")
	ti := taskInfo("t1", o, ei, "cpus:0.5;mem:128", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))

	st := s.update("t1", 8*time.Second)
	if st.GetState() != mesos.TASK_RUNNING || st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) == 0 {
		t.Fatalf("first update %v, want TASK_RUNNING from the executor with a uuid", st)
	}
	if st.GetExecutorID().GetValue() != "exec-1" || st.GetAgentID().GetValue() != c.agent.ID() {
		t.Errorf("update executor %q agent %q", st.GetExecutorID().GetValue(), st.GetAgentID().GetValue())
	}
	task := c.taskState(t, s.fwID, "t1")
	if task == nil || task["state"] != "TASK_RUNNING" || task["executor_id"] != "exec-1" || task["slave_id"] != c.agent.ID() || task["name"] != "task t1" {
		t.Fatalf("master state task %v", task)
	}
	if res := task["resources"].(map[string]any); res["cpus"] != 0.5 || res["mem"] != 128.0 {
		t.Errorf("task resources %v", res)
	}

	sandbox := sandboxDir(t, c, s.fwID, "exec-1")
	// The executor learns of the acknowledgement.
	waitFor(t, 5*time.Second, "ACKNOWLEDGED at the executor", func() bool {
		b, _ := os.ReadFile(filepath.Join(sandbox, mesostest.ExecutorAcksFile))
		return strings.Contains(string(b), "t1")
	})

	s.mustCall(calls.Kill("t1", c.agent.ID()))
	st = s.update("t1", 5*time.Second)
	if st.GetState() != mesos.TASK_KILLED {
		t.Fatalf("after KILL got %v", st.GetState())
	}
	waitFor(t, 2*time.Second, "TASK_KILLED in /master/state", func() bool {
		task := c.taskState(t, s.fwID, "t1")
		return task != nil && task["state"] == "TASK_KILLED"
	})
}

func sandboxDir(t *testing.T, c *cluster, fwID, execID string) string {
	t.Helper()
	runs := filepath.Join(c.workDir, "slaves", c.agent.ID(), "frameworks", fwID, "executors", execID, "runs")
	entries, err := os.ReadDir(runs)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	for _, e := range entries {
		if e.Name() != "latest" && e.IsDir() {
			return filepath.Join(runs, e.Name())
		}
	}
	t.Fatalf("no run directory in %s", runs)
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
