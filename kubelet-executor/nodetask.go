package kubeletexecutor

import (
	"context"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// Messages of node tasks (podtask.NodeTaskPrefix).
const (
	MessageNodeStarting = "node starting"
	MessageNodeReady    = "node Ready"
	MessageNodeTaskKill = "node task killed"
)

// launchNodeTaskLocked takes a node task: it reports TASK_STARTING, then
// TASK_RUNNING once the node is Ready, or TASK_FAILED when it cannot start.
// It holds no pod; the node runs as long as the executor does.
func (e *Executor) launchNodeTaskLocked(ctx context.Context, info mesos.TaskInfo) {
	id := info.TaskID
	switch {
	case e.nodeErr != nil:
		e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_FAILED, Message: MessageNodeFailed + ": " + e.nodeErr.Error()},
			ReasonNodeFailed.Enum())
		return
	case e.shuttingDown:
		e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_DROPPED, Message: MessageShutdown}, nil)
		return
	}
	e.nodeTasks[id.Value] = true
	e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_STARTING, Message: MessageNodeStarting}, nil)
	go func() {
		select {
		case <-e.nodeReady:
		case <-e.nodeDown:
			return // nodeFailed ended it
		case <-ctx.Done():
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.nodeTasks[id.Value] {
			e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_RUNNING, Message: MessageNodeReady + ": " + e.nodeName}, nil)
		}
	}()
}

// endNodeTasksLocked ends every live node task with r.
func (e *Executor) endNodeTasksLocked(r taskstate.Report, reason *mesos.TaskStatus_Reason) {
	for id := range e.nodeTasks {
		e.sendStatusLocked(mesos.TaskID{Value: id}, r, reason)
		delete(e.nodeTasks, id)
	}
}

// killNodeTaskLocked ends a node task on KILL; the node stays for the pods
// (and node tasks) that remain. It reports whether id was a node task.
func (e *Executor) killNodeTaskLocked(ctx context.Context, id mesos.TaskID) bool {
	if !podtask.IsNodeTask(id.Value) {
		return false
	}
	if !e.nodeTasks[id.Value] {
		return false // ended already, or never launched: the pod-task path answers
	}
	delete(e.nodeTasks, id.Value)
	klog.FromContext(ctx).Info("Node task killed", "task", id.Value)
	e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_KILLED, Message: MessageNodeTaskKill}, nil)
	return true
}
