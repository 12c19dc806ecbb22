package agent_test

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func executorPID(t *testing.T, addr, execID string) int {
	t.Helper()
	for _, e := range agentExecutors(t, addr) {
		if e["id"] == execID {
			if pid, ok := e["pid"].(float64); ok {
				return int(pid)
			}
		}
	}
	return 0
}

// An agent restarted with the same work directory adopts the running
// executor of a checkpointing framework: same process, the task stays
// RUNNING, the update left unacknowledged before the restart is sent again,
// and the re-subscribed executor still obeys KILL.
func TestAgentRestartRecoversExecutor(t *testing.T) {
	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("recovering", true))
	ti := task("keep", mesos.Offer{})
	ti.Executor = testExecutor("exec-keep")
	s.launch(ti)
	running := s.update("keep", false, 10*time.Second) // not acknowledged on purpose
	if running.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", running.GetState())
	}
	pid := executorPID(t, e.agentAddr, "exec-keep")
	if pid <= 0 {
		t.Fatal("no executor pid in the agent's state")
	}
	agentID := e.agent.ID()

	e.stopAgent()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("executor %d did not survive the agent: %v", pid, err)
	}
	e.startAgent()
	if e.agent.ID() != agentID {
		t.Fatalf("restarted agent has ID %s, want %s", e.agent.ID(), agentID)
	}
	// The unacknowledged TASK_RUNNING comes again, from the new agent.
	again := s.update("keep", true, 10*time.Second)
	if again.GetState() != mesos.TASK_RUNNING || !bytes.Equal(again.UUID, running.UUID) {
		t.Errorf("after restart: %v uuid %x, want the unacknowledged TASK_RUNNING %x", again.GetState(), again.UUID, running.UUID)
	}
	if got := executorPID(t, e.agentAddr, "exec-keep"); got != pid {
		t.Errorf("executor pid after restart %d, want %d", got, pid)
	}
	// Past the re-registration timeout the executor is still there.
	time.Sleep(e.acfg.ExecutorReregistrationTimeout + 2500*time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("executor was shut down after the agent restart: %v", err)
	}
	s.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"keep": agentID})))
	if st := s.next(scheduler.Event_UPDATE, 3*time.Second).Update.Status; st.GetState() != mesos.TASK_RUNNING {
		t.Errorf("reconcile after restart: %v", st.GetState())
	}
	s.call(calls.Kill("keep", agentID))
	if st := s.update("keep", true, 5*time.Second); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("kill after restart: %v", st.GetState())
	}
	s.call(calls.Shutdown("exec-keep", agentID))
	waitFor(t, 5*time.Second, "executor exit", func() bool { return syscall.Kill(pid, 0) != nil })
}

// Executors of a framework that does not checkpoint die with the agent,
// and the restarted agent reports their tasks lost.
func TestAgentRestartKillsNonCheckpointedExecutor(t *testing.T) {
	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("ephemeral", false))
	ti := task("gone", mesos.Offer{})
	ti.Executor = testExecutor("exec-gone")
	s.launch(ti)
	if st := s.update("gone", true, 10*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	pid := executorPID(t, e.agentAddr, "exec-gone")
	e.stopAgent()
	waitFor(t, 5*time.Second, "executor killed with the agent", func() bool { return syscall.Kill(pid, 0) != nil })
	e.startAgent()
	if st := s.update("gone", true, 10*time.Second); st.GetState() != mesos.TASK_LOST && st.GetState() != mesos.TASK_DROPPED && st.GetState() != mesos.TASK_GONE {
		t.Errorf("task of a non-checkpointed executor after agent restart: %v", st.GetState())
	}
}

// Terminate (the agent's SIGUSR1) shuts down even checkpointed executors,
// and the next agent starts afresh under a new ID.
func TestAgentTerminateKillsCheckpointedExecutors(t *testing.T) {
	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("terminated", true))
	ti := task("t", mesos.Offer{})
	ti.Executor = testExecutor("exec-t")
	s.launch(ti)
	if st := s.update("t", true, 10*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	pid := executorPID(t, e.agentAddr, "exec-t")
	oldID := e.agent.ID()
	e.agent.Terminate()
	e.stopAgent()
	waitFor(t, 5*time.Second, "executor shut down", func() bool { return syscall.Kill(pid, 0) != nil })
	e.startAgent()
	if e.agent.ID() == oldID {
		t.Errorf("agent kept its ID %s after Terminate", oldID)
	}
}
