package podtask

import mesos "github.com/mesos/mesos-go/api/v1/lib"

// IsTerminal reports whether a Mesos task state is final: no further status
// of the task follows it, and its resources are free again.
// TASK_UNREACHABLE and TASK_UNKNOWN are not final: the task may still run.
func IsTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
