package agent_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// postExecutorUpdate sends an UPDATE call to the agent's executor API as the
// executor execID would (protobuf), and returns the HTTP status.
func postExecutorUpdate(t *testing.T, agentAddr, fwID, execID string, st mesos.TaskStatus) int {
	t.Helper()
	call := executor.Call{
		Type:        executor.Call_UPDATE,
		FrameworkID: mesos.FrameworkID{Value: fwID},
		ExecutorID:  mesos.ExecutorID{Value: execID},
		Update:      &executor.Call_Update{Status: st},
	}
	body, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+agentAddr+"/api/v1/executor", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Accept", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// acksOf counts the ACKNOWLEDGED events the test executor in sandbox got for taskID.
func acksOf(t *testing.T, sandbox, taskID string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sandbox, mesostest.ExecutorAcksFile))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == taskID {
			n++
		}
	}
	return n
}

// noUpdate fails the test if an update of taskID other than one with the
// UUID allowed (a resend of an unacknowledged update) arrives within d.
func noUpdate(t *testing.T, s *sched, taskID string, allowed []byte, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-s.Events:
			if e.GetType() != scheduler.Event_UPDATE || e.Update.Status.TaskID.Value != taskID {
				continue
			}
			if st := e.Update.Status; !bytes.Equal(st.UUID, allowed) {
				t.Fatalf("scheduler got %s (uuid %x) for %s; want nothing but resends of %x", st.GetState(), st.UUID, taskID, allowed)
			}
		case <-deadline:
			return
		}
	}
}

// A status the executor sends for a task that is already terminal is
// dropped as Mesos 1.12's agent drops it (Executor::updateTaskState: "Task is
// already terminated with state TASK_KILLED"): the UPDATE call is accepted
// (202, as every valid executor UPDATE), the scheduler never sees it, and the
// executor is sent ACKNOWLEDGED for it so that it does not retry. Once the
// terminal update was acknowledged the task is no longer the executor's: a
// later status is forwarded, as Mesos does (TaskStatusUpdateManagerTest.
// DuplicateTerminalUpdateAfterAck), and never acknowledged to the executor.
func TestStatusOfTerminalTaskIsDropped(t *testing.T) {
	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("twice", true))
	ti := task("t1", mesos.Offer{})
	ti.Executor = testExecutor("exec-twice")
	s.launch(ti)
	if st := s.update("t1", true, 10*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	agentID := e.agent.ID()
	sandbox := filepath.Join(e.acfg.WorkDir, "slaves", agentID, "frameworks", s.fwID, "executors", "exec-twice", "runs", "latest")
	waitFor(t, 5*time.Second, "ACKNOWLEDGED of TASK_RUNNING", func() bool { return acksOf(t, sandbox, "t1") == 1 })
	s.call(calls.Kill("t1", agentID))
	killed := s.update("t1", false, 5*time.Second) // left unacknowledged: the task is terminal on the agent
	if killed.GetState() != mesos.TASK_KILLED {
		t.Fatalf("got %v after KILL", killed.GetState())
	}

	again := mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_KILLED.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &mesos.ExecutorID{Value: "exec-twice"}, UUID: []byte("0123456789abcdef"),
	}
	if code := postExecutorUpdate(t, e.agentAddr, s.fwID, "exec-twice", again); code != http.StatusAccepted {
		t.Fatalf("UPDATE of a terminal task: HTTP %d, want %d", code, http.StatusAccepted)
	}
	waitFor(t, 5*time.Second, "ACKNOWLEDGED of the dropped update", func() bool { return acksOf(t, sandbox, "t1") == 2 })
	// Longer than the agent's retry interval: only resends of the first TASK_KILLED come.
	noUpdate(t, s, "t1", killed.UUID, 2*e.acfg.StatusUpdateRetryInterval+500*time.Millisecond)

	s.call(calls.Acknowledge(agentID, "t1", killed.UUID))
	waitFor(t, 5*time.Second, "ACKNOWLEDGED of the first TASK_KILLED", func() bool { return acksOf(t, sandbox, "t1") == 3 })

	late := again
	late.UUID = []byte("fedcba9876543210")
	if code := postExecutorUpdate(t, e.agentAddr, s.fwID, "exec-twice", late); code != http.StatusAccepted {
		t.Fatalf("UPDATE of an acknowledged terminal task: HTTP %d, want %d", code, http.StatusAccepted)
	}
	forwarded := s.update("t1", true, 5*time.Second)
	if forwarded.GetState() != mesos.TASK_KILLED || !bytes.Equal(forwarded.UUID, late.UUID) {
		t.Fatalf("status after the acknowledgement: %v uuid %x, want it forwarded (uuid %x)", forwarded.GetState(), forwarded.UUID, late.UUID)
	}
	time.Sleep(time.Second)
	if n := acksOf(t, sandbox, "t1"); n != 3 {
		t.Errorf("executor got %d ACKNOWLEDGED for t1, want 3 (RUNNING, the dropped duplicate, KILLED; the forwarded late status is never acknowledged to it)", n)
	}
}
