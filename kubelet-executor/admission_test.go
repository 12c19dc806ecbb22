package kubeletexecutor

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestBadTaskDataFails: a LAUNCH whose data is not a pod reference ends in
// TASK_FAILED (REASON_TASK_INVALID) with a clear message, and the executor
// touches no pod for it and keeps serving.
func TestBadTaskDataFails(t *testing.T) {
	tests := []struct {
		name, taskID string
		data         []byte
		msg          string
	}{
		{"not JSON", "pod.u1", []byte("\x00garbage"), podtask.ErrBadTaskData.Error()},
		{"no data", "pod.u2", nil, podtask.ErrBadTaskData.Error()},
		{"missing uid", "pod.u3", []byte(`{"namespace":"ns","name":"p"}`), "uid are required"},
		{"task ID of another pod", "pod.other", podtask.PodRef{Namespace: "ns", Name: "p", UID: "u4"}.Encode(),
			podtask.ErrTaskIDMismatch.Error()},
	}
	a := newTestAgent(t)
	client := fake.NewClientset()
	node := &readyNode{}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.events <- launch(tc.taskID, tc.data)
			u := a.nextUpdate(t)
			if u.TaskID.Value != tc.taskID || u.GetState() != mesos.TASK_FAILED {
				t.Fatalf("update = %s %v, want %s TASK_FAILED", u.TaskID.Value, u.GetState(), tc.taskID)
			}
			if u.GetReason() != mesos.REASON_TASK_INVALID {
				t.Errorf("reason = %v, want REASON_TASK_INVALID", u.GetReason())
			}
			if !strings.Contains(u.GetMessage(), tc.msg) {
				t.Errorf("message %q does not contain %q", u.GetMessage(), tc.msg)
			}
			if u.GetSource() != mesos.SOURCE_EXECUTOR || len(u.UUID) != 16 {
				t.Errorf("source %v uuid %x: want an executor update with a UUID", u.GetSource(), u.UUID)
			}
		})
	}
	for _, act := range client.Actions() {
		// The node's pod informer lists and watches; nothing may read, bind or delete a pod.
		// (Bring-up and shutdown read and patch the Node: its cordon.)
		if act.GetResource().Resource != "nodes" && act.GetVerb() != "list" && act.GetVerb() != "watch" {
			t.Errorf("bad task data reached the API server: %s %s", act.GetVerb(), act.GetResource().Resource)
		}
	}
}
