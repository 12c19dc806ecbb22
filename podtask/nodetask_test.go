package podtask

import (
	"testing"
	"time"
)

func TestNodeTaskID(t *testing.T) {
	at := time.Unix(1700000000, 42)
	id := NodeTaskID("c0ffee-12-S3", at)
	if id != "node.c0ffee-12-S3.1700000000000000042" {
		t.Fatalf("NodeTaskID = %q", id)
	}
	if a, ok := AgentOfNodeTask(id); !ok || a != "c0ffee-12-S3" {
		t.Fatalf("AgentOfNodeTask(%q) = %q, %v", id, a, ok)
	}
	if NodeTaskID("a", at) == NodeTaskID("a", at.Add(time.Nanosecond)) {
		t.Error("two launches share a task ID")
	}
	for _, bad := range []string{"pod.x", "node.", "node.agent", "node..1", "node.agent.x", TaskID("u", Attempt{Epoch: 1, Seq: 1})} {
		if IsNodeTask(bad) {
			t.Errorf("IsNodeTask(%q) = true", bad)
		}
	}
	if _, ok := UIDFromTaskID(id); ok {
		t.Error("a node task ID reads as a pod task ID")
	}
}
