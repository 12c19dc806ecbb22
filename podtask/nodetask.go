package podtask

import (
	"strconv"
	"strings"
	"time"
)

// NodeTaskPrefix starts the Mesos task ID of every node task.
//
// A node task is the framework's claim on an agent before any pod runs
// there: the bridge launches one on the kubelet-executor of every agent that
// offers it resources, so each agent is a Ready Node (DaemonSets reach it,
// `kubectl get nodes` shows the cluster) before its first pod. The executor
// brings the node up on SUBSCRIBED as ever; the node task reports
// TASK_STARTING while the node starts, TASK_RUNNING once it is Ready,
// TASK_FAILED (REASON_EXECUTOR_TERMINATED) when it cannot start, and
// TASK_KILLED when killed or when the executor shuts down. Its data is
// empty: a node task names no pod.
const NodeTaskPrefix = "node."

// NodeTaskID is the ID of a node task on agentID launched at t: task IDs
// must not repeat within a framework's life, so every launch has its own.
func NodeTaskID(agentID string, t time.Time) string {
	return NodeTaskPrefix + agentID + "." + strconv.FormatInt(t.UnixNano(), 10)
}

// AgentOfNodeTask returns the agent ID in a node task ID, and false for any
// other task ID.
func AgentOfNodeTask(taskID string) (string, bool) {
	rest, ok := strings.CutPrefix(taskID, NodeTaskPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	if _, err := strconv.ParseInt(rest[i+1:], 10, 64); err != nil {
		return "", false
	}
	return rest[:i], true
}

// IsNodeTask reports whether taskID is a node task's.
func IsNodeTask(taskID string) bool {
	_, ok := AgentOfNodeTask(taskID)
	return ok
}
