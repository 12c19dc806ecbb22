package bridge

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// PodTask is what the bridge knows of a task it launched for a pod.
type PodTask struct {
	Pod     podtask.PodRef
	TaskID  string
	AgentID string
	// Hostname is the agent's, when the bridge launched the task.
	Hostname string
	State    mesos.TaskState
	// Killing is set once a KILL was sent and cleared by the next status of
	// the task, so a KILL is sent once per status heard (a lost one is retried).
	Killing bool
	// Unconfirmed is set while the master has said nothing of a task whose
	// ACCEPT failed; the bridge asks about it until it does.
	Unconfirmed bool
	asked       time.Time
	// Volumes are the persistent volumes the launch provisions (RESERVE,
	// CREATE in its ACCEPT), as in its intent.
	Volumes []VolumeIntent
}

// Terminal reports whether the task reached a terminal state.
func (t PodTask) Terminal() bool { return podtask.IsTerminal(t.State) }

// TaskRegistry is every task the bridge launched and has not yet seen end, by pod UID.
// A pod in the registry is never launched again (invariant 1: a pod never runs twice).
// Not safe for concurrent use: the scheduler loop owns it.
type TaskRegistry struct {
	tasks map[types.UID]*PodTask
}

// NewTaskRegistry returns an empty registry.
func NewTaskRegistry() *TaskRegistry { return &TaskRegistry{tasks: map[types.UID]*PodTask{}} }

// Launched records the task taskID of a pod that the bridge is about to
// launch (or learnt of), replacing any earlier one of the pod.
func (r *TaskRegistry) Launched(pod podtask.PodRef, taskID, agentID string) *PodTask {
	t := &PodTask{Pod: pod, TaskID: taskID, AgentID: agentID, State: mesos.TASK_STAGING}
	r.tasks[pod.UID] = t
	return t
}

// Get returns the task of a pod.
func (r *TaskRegistry) Get(uid types.UID) (*PodTask, bool) {
	t, ok := r.tasks[uid]
	return t, ok
}

// Forget removes a pod's task.
func (r *TaskRegistry) Forget(uid types.UID) { delete(r.tasks, uid) }

// Len is the number of tasks known.
func (r *TaskRegistry) Len() int { return len(r.tasks) }

// Each calls f for every task.
func (r *TaskRegistry) Each(f func(*PodTask)) {
	for _, t := range r.tasks {
		f(t)
	}
}
