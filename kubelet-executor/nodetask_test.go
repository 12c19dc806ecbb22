package kubeletexecutor

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestNodeTaskRunsWhileTheNodeIsUp: a node task is STARTING, then RUNNING
// once the node is Ready; a KILL ends it alone; SHUTDOWN ends a live one
// TASK_KILLED.
func TestNodeTaskRunsWhileTheNodeIsUp(t *testing.T) {
	a := newTestAgent(t)
	done, runErr := runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	first := podtask.NodeTaskID("agent-a", time.Unix(1, 0))
	a.events <- launch(first, nil)
	if u := a.nextUpdate(t); u.GetTaskID().Value != first || u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %s %v %q, want %s TASK_STARTING", u.TaskID.Value, u.GetState(), u.GetMessage(), first)
	}
	if u := a.nextUpdate(t); u.GetTaskID().Value != first || u.GetState() != mesos.TASK_RUNNING || !strings.HasPrefix(u.GetMessage(), MessageNodeReady) {
		t.Fatalf("update = %s %v %q, want TASK_RUNNING %q", u.TaskID.Value, u.GetState(), u.GetMessage(), MessageNodeReady)
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: first}}}
	if u := a.nextUpdate(t); u.GetTaskID().Value != first || u.GetState() != mesos.TASK_KILLED || u.GetMessage() != MessageNodeTaskKill {
		t.Fatalf("update = %s %v %q, want TASK_KILLED %q", u.TaskID.Value, u.GetState(), u.GetMessage(), MessageNodeTaskKill)
	}
	second := podtask.NodeTaskID("agent-a", time.Unix(2, 0))
	a.events <- launch(second, nil)
	a.nextUpdate(t) // STARTING
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("second node task: %v %q", u.GetState(), u.GetMessage())
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	if u := a.nextUpdate(t); u.GetTaskID().Value != second || u.GetState() != mesos.TASK_KILLED || u.GetMessage() != MessageShutdown {
		t.Fatalf("update = %s %v %q, want TASK_KILLED %q", u.TaskID.Value, u.GetState(), u.GetMessage(), MessageShutdown)
	}
	select {
	case <-done:
		if *runErr != nil {
			t.Fatalf("Run = %v", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
}

// TestNodeTaskOfANodeThatCannotStart: the node task fails with the node's
// cause and REASON_EXECUTOR_TERMINATED, once.
func TestNodeTaskOfANodeThatCannotStart(t *testing.T) {
	a := newTestAgent(t)
	cause := errors.New("cgroup root /kubemesos/node-a: no cgroup hierarchy is mounted")
	node := &failingNode{release: make(chan struct{}), err: cause}
	done, _ := runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), node))
	id := podtask.NodeTaskID("agent-a", time.Unix(1, 0))
	a.events <- launch(id, nil)
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
	}
	close(node.release)
	u := a.nextUpdate(t)
	if u.GetState() != mesos.TASK_FAILED || u.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || !strings.Contains(u.GetMessage(), cause.Error()) {
		t.Fatalf("update = %v %v %q, want TASK_FAILED REASON_EXECUTOR_TERMINATED with the cause", u.GetState(), u.GetReason(), u.GetMessage())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not stop after the node failed")
	}
	select {
	case u := <-a.updates:
		t.Errorf("second update %v %q after TASK_FAILED", u.GetState(), u.GetMessage())
	default:
	}
}

// TestNodeTaskStatusesCarryTheWorkDir: under a sandbox laid out as Mesos'
// (<work_dir>/slaves/…/runs/<container>), every node task status carries
// the work_dir; a sandbox of another layout gives node task statuses no
// data.
func TestNodeTaskStatusesCarryTheWorkDir(t *testing.T) {
	a := newTestAgent(t)
	workDir := t.TempDir()
	mc := a.mesosConfig()
	mc.Directory = filepath.Join(workDir, "slaves", "a1", "frameworks", "fw", "executors", "kubelet-executor", "runs", "c1")
	runExecutor(t, a, New(mc, fake.NewClientset(), &readyNode{}))
	id := podtask.NodeTaskID("agent-a", time.Unix(1, 0))
	a.events <- launch(id, nil)
	for _, want := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
		u := a.nextUpdate(t)
		d, err := podtask.DecodeStatusData(u.Data)
		if u.GetState() != want || err != nil || d.WorkDir != workDir {
			t.Fatalf("update %v data %q (%v), want %v with work_dir %s", u.GetState(), u.Data, err, want, workDir)
		}
	}

	b := newTestAgent(t)
	runExecutor(t, b, New(b.mesosConfig(), fake.NewClientset(), &readyNode{}))
	b.events <- launch(id, nil)
	if u := b.nextUpdate(t); len(u.Data) != 0 {
		t.Fatalf("a sandbox not under slaves/…: data %q", u.Data)
	}
}
