package master

import (
	"fmt"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mesosid"
)

// launchGroupLocked runs a LAUNCH_GROUP operation of an ACCEPT. The group is
// validated as a whole, as Mesos' master does: on any error every task of
// the group gets TASK_ERROR (REASON_TASK_GROUP_INVALID) and nothing else
// changes. A valid group takes its tasks' resources, and the executor's when
// the executor is new, out of pool, and becomes one CmdLaunchGroup for the
// agent (nil when the group was invalid). launching holds the executors
// started by earlier operations of the same ACCEPT.
func (m *Master) launchGroupLocked(fw *framework, a *agent, role string, pool *mesos.Resources, lg *mesos.Offer_Operation_LaunchGroup, launching map[string]*link.Command) *link.Command {
	tasks := lg.TaskGroup.Tasks
	for i := range tasks {
		upgradeTaskInfo(&tasks[i])
	}
	ei := lg.Executor
	ei.Resources = upgradeResources(ei.Resources)
	needed, err := m.validateTaskGroupLocked(fw, a, &ei, tasks, *pool, launching)
	if err != nil {
		klog.InfoS("Invalid task group", "framework", fw.id, "executor", ei.ExecutorID.Value, "err", err)
		for _, ti := range tasks {
			m.masterUpdateLocked(fw, ti.TaskID, a.id, mesos.TASK_ERROR, mesos.REASON_TASK_GROUP_INVALID, err.Error())
		}
		return nil
	}
	pool.Subtract(needed...)
	ei.FrameworkID = &mesos.FrameworkID{Value: fw.id}
	cmd := &link.Command{Type: link.CmdLaunchGroup, FrameworkID: fw.id, Framework: link.Marshal(&fw.info), Executor: link.Marshal(&ei)}
	for _, ti := range tasks {
		// The master's record names the group's executor; the TaskInfo sent
		// to the agent stays as the framework gave it (no executor).
		withExecutor := ti
		withExecutor.Executor = &ei
		m.addTaskLocked(fw, a, withExecutor, role)
		cmd.Tasks = append(cmd.Tasks, link.Marshal(&ti))
	}
	m.addExecutorLocked(a, fw.id, ei)
	klog.V(2).InfoS("Launching task group", "framework", fw.id, "executor", ei.ExecutorID.Value, "tasks", taskGroupIDs(tasks))
	if _, ok := launching[ei.ExecutorID.Value]; !ok {
		launching[ei.ExecutorID.Value] = cmd
	}
	return cmd
}

// validateTaskGroupLocked checks a task group and its executor as Mesos'
// master validation does and returns the resources the group consumes.
func (m *Master) validateTaskGroupLocked(fw *framework, a *agent, ei *mesos.ExecutorInfo, tasks []mesos.TaskInfo, pool mesos.Resources, launching map[string]*link.Command) (mesos.Resources, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("Task group is empty")
	}
	// The executor.
	if err := mesosid.Validate(ei.ExecutorID.Value); err != nil {
		return nil, fmt.Errorf("Executor ID '%s' is invalid: %w", ei.ExecutorID.Value, err)
	}
	if ei.GetType() != mesos.ExecutorInfo_DEFAULT {
		return nil, fmt.Errorf("'ExecutorInfo.type' must be 'DEFAULT' for a task group, not '%s'", ei.GetType())
	}
	if ei.Command != nil {
		return nil, fmt.Errorf("'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
	}
	if ei.GetFrameworkID() != nil && ei.GetFrameworkID().GetValue() != fw.id {
		return nil, fmt.Errorf("ExecutorInfo has an invalid FrameworkID (Actual: %s vs Expected: %s)", ei.GetFrameworkID().GetValue(), fw.id)
	}
	if err := validateResources(ei.Resources); err != nil {
		return nil, fmt.Errorf("Executor uses invalid resources: %v", err)
	}
	running, isRunning := a.executors[fw.id][ei.ExecutorID.Value]
	if isRunning && running.info.GetType() != mesos.ExecutorInfo_DEFAULT {
		return nil, fmt.Errorf("Executor %s is running and is not of type 'DEFAULT'", ei.ExecutorID.Value)
	}
	if cmd, ok := launching[ei.ExecutorID.Value]; ok && cmd.Type != link.CmdLaunchGroup {
		return nil, fmt.Errorf("Executor %s is launched by this ACCEPT and is not of type 'DEFAULT'", ei.ExecutorID.Value)
	}

	// The tasks.
	var needed mesos.Resources
	ids := map[string]bool{}
	for i := range tasks {
		ti := &tasks[i]
		id := ti.TaskID.Value
		switch {
		case mesosid.Validate(id) != nil:
			return nil, fmt.Errorf("Task ID '%s' is invalid: %w", id, mesosid.Validate(id))
		case ids[id]:
			return nil, fmt.Errorf("Task group has duplicate task ID: %s", id)
		case ti.Executor != nil:
			return nil, fmt.Errorf("'TaskInfo.executor' must not be set for task '%s' of a task group", id)
		case ti.AgentID.Value != a.id:
			return nil, fmt.Errorf("Task '%s' uses invalid agent: %s", id, ti.AgentID.Value)
		case ti.Command == nil || (ti.Command.GetValue() == "" && len(ti.Command.Arguments) == 0):
			// Mesos could run a container image's entrypoint; mesoslocal
			// runs no images, so each task needs a command.
			return nil, fmt.Errorf("Task '%s' has no 'CommandInfo' to run", id)
		case len(ti.Resources) == 0:
			return nil, fmt.Errorf("Task '%s' uses no resources", id)
		}
		if t := fw.tasks[id]; t != nil && !t.terminal {
			return nil, fmt.Errorf("Task has duplicate ID: %s", id)
		}
		if err := validateResources(ti.Resources); err != nil {
			return nil, fmt.Errorf("Task '%s' uses invalid resources: %v", id, err)
		}
		ids[id] = true
		needed.Add(resourcesSum(ti.Resources)...)
	}
	if _, pending := launching[ei.ExecutorID.Value]; !isRunning && !pending {
		needed.Add(resourcesSum(ei.Resources)...)
	}
	if !resourcesContain(pool, needed) {
		return nil, fmt.Errorf("Total resources %s required by task group and its executor is more than available %s", needed, pool)
	}
	return needed, nil
}

// taskGroupIDs names a group's tasks for logs.
func taskGroupIDs(tasks []mesos.TaskInfo) string {
	ids := make([]string, 0, len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.TaskID.Value)
	}
	return strings.Join(ids, ",")
}
