package kubeletexecutor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/podtask"
)

// failingNode is a Node whose Start fails with err once release is closed.
type failingNode struct {
	readyNode
	release chan struct{}
	err     error
}

func (n *failingNode) Start(ctx context.Context, _ mesos.AgentInfo, _ node.Resources) (string, error) {
	select {
	case <-n.release:
	case <-ctx.Done():
	}
	return "", n.err
}

// TestNodeFailureFailsTasks: when the node cannot start, every task fails
// with the cause in its message and REASON_EXECUTOR_TERMINATED (not
// TASK_KILLED "killed before its pod was bound"), once, and Run returns the
// error.
func TestNodeFailureFailsTasks(t *testing.T) {
	a := newTestAgent(t)
	cause := errors.New("cgroup root /kubemesos/node-a: no cgroup hierarchy is mounted")
	node := &failingNode{release: make(chan struct{}), err: cause}
	ex := New(a.mesosConfig(), boundPodClient(""), node)
	done, runErr := runExecutor(t, a, ex)
	a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
	for deadline := time.Now().Add(10 * time.Second); ex.openTasks() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("LAUNCH not taken")
		}
	}
	close(node.release) // the task waits for the node
	u := a.nextUpdate(t)
	if u.GetState() != mesos.TASK_FAILED || u.Reason == nil || u.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("update = %v (reason %v) %q, want TASK_FAILED REASON_EXECUTOR_TERMINATED", u.GetState(), u.Reason, u.GetMessage())
	}
	if msg := u.GetMessage(); !strings.HasPrefix(msg, MessageNodeFailed) || !strings.Contains(msg, cause.Error()) {
		t.Errorf("message %q: want %q and the cause %q", msg, MessageNodeFailed, cause)
	}
	select {
	case <-done:
		if !errors.Is(*runErr, cause) {
			t.Errorf("Run = %v, want the node's error", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not stop after the node failed")
	}
	select {
	case u := <-a.updates:
		t.Errorf("second update %v %q after TASK_FAILED", u.GetState(), u.GetMessage())
	default:
	}
}
