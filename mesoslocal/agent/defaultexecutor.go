package agent

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
)

// The built-in default executor stands in for Mesos' mesos-default-executor
// binary, which runs the task groups of executors of type DEFAULT. It is an
// executorRun without a process of its own (builtin): the agent hands it
// LAUNCH_GROUP, KILL, SHUTDOWN and ACKNOWLEDGED as v1 executor API events
// through the same event queue a subscribed executor reads, and it runs each
// task's CommandInfo the way the command executor does (runCommandLocked):
// a process group per task, sandbox <executor sandbox>/tasks/<task ID>,
// TASK_STARTING → TASK_RUNNING → TASK_FINISHED / TASK_FAILED / TASK_KILLED,
// with updates naming the executor. Like Mesos' default executor:
//   - a KILL of one task kills every task of its group (TASK_KILLING first
//     for frameworks with TASK_KILLING_STATE);
//   - a task that fails or is killed makes the executor kill the rest of
//     its group; a task that finishes leaves its siblings running;
//   - further groups for the same executor ID run in the same executor;
//   - the executor exits (status 0, so the scheduler gets FAILURE) once
//     every task it ran has ended, and SHUTDOWN kills all its tasks.
// It is not checkpointed: its tasks end when the agent stops.

// taskGroup is the runs of the tasks of one LAUNCH_GROUP.
type taskGroup struct {
	runs []*executorRun
}

// launchGroup handles CmdLaunchGroup: it starts the default executor named
// by the command when it does not run yet and queues the LAUNCH_GROUP event.
func (a *Agent) launchGroup(c link.Command) {
	var fi mesos.FrameworkInfo
	var ei mesos.ExecutorInfo
	if err := link.Unmarshal(c.Framework, &fi); err != nil {
		klog.ErrorS(err, "Bad launch group command")
		return
	}
	if err := link.Unmarshal(c.Executor, &ei); err != nil {
		klog.ErrorS(err, "Bad executor in launch group command")
		return
	}
	var group mesos.TaskGroupInfo
	for _, b := range c.Tasks {
		var ti mesos.TaskInfo
		if err := link.Unmarshal(b, &ti); err != nil {
			klog.ErrorS(err, "Bad task in launch group command")
			return
		}
		group.Tasks = append(group.Tasks, ti)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := a.frameworkLocked(c.FrameworkID, &fi)
	r := fw.executors[ei.ExecutorID.Value]
	if r != nil && !r.exited && (!r.builtin || r.shutdown) {
		// The master only sends groups for executors of type DEFAULT.
		for _, ti := range group.Tasks {
			a.agentUpdateLocked(r, ti.TaskID, mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED, "Executor "+ei.ExecutorID.Value+" cannot run a task group now")
		}
		return
	}
	if r == nil || r.exited {
		r = &executorRun{fwID: c.FrameworkID, info: ei, builtin: true, tasks: map[string]*agentTask{}, children: map[string]*executorRun{}, done: make(chan struct{})}
		if err := a.prepareSandboxLocked(r); err != nil {
			for _, ti := range group.Tasks {
				a.agentUpdateLocked(r, ti.TaskID, mesos.TASK_FAILED, mesos.REASON_CONTAINER_LAUNCH_FAILED, "Failed to launch container: "+err.Error())
			}
			return
		}
		box := mailbox.New[*executor.Event]()
		r.stream = box
		r.subscribedOnce = true
		fw.executors[ei.ExecutorID.Value] = r
		klog.InfoS("Started the default executor", "framework", r.fwID, "executor", ei.ExecutorID.Value, "sandbox", r.dir)
		a.wg.Add(1)
		go a.runDefaultExecutor(r, box)
	}
	for _, ti := range group.Tasks {
		r.tasks[ti.TaskID.Value] = &agentTask{info: ti, state: mesos.TASK_STAGING}
	}
	r.send(&executor.Event{Type: executor.Event_LAUNCH_GROUP, LaunchGroup: &executor.Event_LaunchGroup{TaskGroup: group}})
}

// runDefaultExecutor is the default executor's event loop; it ends when
// its queue is closed (the executor exited or the agent stops).
func (a *Agent) runDefaultExecutor(r *executorRun, box *mailbox.Box[*executor.Event]) {
	defer a.wg.Done()
	for {
		e, ok := box.Pop(a.runCtx)
		if !ok {
			return
		}
		a.mu.Lock()
		a.defaultExecutorEventLocked(r, e)
		a.mu.Unlock()
	}
}

func (a *Agent) defaultExecutorEventLocked(r *executorRun, e *executor.Event) {
	fw := a.frameworks[r.fwID]
	if fw == nil || r.exited {
		return
	}
	switch e.Type {
	case executor.Event_LAUNCH_GROUP:
		a.runTaskGroupLocked(fw, r, e.LaunchGroup.TaskGroup)
	case executor.Event_LAUNCH:
		a.agentUpdateSourceLocked(r, e.Launch.Task.TaskID, mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR, nil, "The default executor only launches task groups")
	case executor.Event_KILL:
		if c := r.children[e.Kill.TaskID.Value]; c != nil {
			a.killGroupLocked(fw, c.group, e.Kill.KillPolicy)
		}
	case executor.Event_SHUTDOWN:
		// shutdownExecutorLocked already terminates the tasks
		// (terminateLocked of a builtin run).
	default:
		// ACKNOWLEDGED, MESSAGE: nothing to do.
	}
}

// runTaskGroupLocked starts every task of a group. A task that cannot start
// fails, and then the group is killed as after any failure.
func (a *Agent) runTaskGroupLocked(fw *frameworkState, r *executorRun, group mesos.TaskGroupInfo) {
	g := &taskGroup{}
	for _, ti := range group.Tasks {
		t := r.tasks[ti.TaskID.Value]
		if t == nil {
			continue
		}
		c := &executorRun{fwID: r.fwID, info: r.info, command: true, parent: r, group: g, tasks: map[string]*agentTask{ti.TaskID.Value: t}, done: make(chan struct{})}
		r.children[ti.TaskID.Value] = c
		g.runs = append(g.runs, c)
	}
	var failed []*executorRun
	for _, c := range g.runs {
		for _, t := range c.tasks {
			if !a.runCommandLocked(fw, c, t.info) {
				failed = append(failed, c)
			}
		}
	}
	for _, c := range failed {
		a.groupTaskExitedLocked(c)
	}
}

// killGroupLocked kills every running task of g.
func (a *Agent) killGroupLocked(fw *frameworkState, g *taskGroup, kp *mesos.KillPolicy) {
	for _, c := range g.runs {
		if c.exited {
			continue
		}
		for _, t := range c.tasks {
			a.killCommandTaskLocked(fw, c, t, kp)
		}
	}
}

// groupTaskExitedLocked runs after the process of task run c of a group
// ended (its update is queued): a task that did not finish takes its group
// down, and the executor exits once all its tasks have ended.
func (a *Agent) groupTaskExitedLocked(c *executorRun) {
	r := c.parent
	fw := a.frameworks[r.fwID]
	if fw == nil || r.exited {
		return
	}
	for _, t := range c.tasks {
		if t.state != mesos.TASK_FINISHED {
			a.killGroupLocked(fw, c.group, nil)
		}
	}
	for _, other := range r.children {
		if !other.exited {
			return
		}
	}
	r.exited = true
	close(r.done)
	r.closeStream()
	if fw.executors[r.info.ExecutorID.Value] == r {
		delete(fw.executors, r.info.ExecutorID.Value)
	}
	klog.InfoS("Default executor exited: all its tasks ended", "framework", r.fwID, "executor", r.info.ExecutorID.Value)
	if !fw.removed {
		a.reportExecutorExited(a.id, r, 0)
	}
}

// processes returns the runs with a process of r: r itself, or the tasks
// of a default executor.
func (r *executorRun) processes() []*executorRun {
	if !r.builtin {
		return []*executorRun{r}
	}
	out := make([]*executorRun, 0, len(r.children))
	for _, c := range r.children {
		out = append(out, c)
	}
	return out
}
