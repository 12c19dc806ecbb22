package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// defaultKillGracePeriod is the command executor's grace period between
// SIGTERM and SIGKILL when neither the KILL call nor the task's kill_policy
// sets one (Mesos' default is 3 seconds).
const defaultKillGracePeriod = 3 * time.Second

// launchCommandTaskLocked runs a task that carries a CommandInfo and no
// ExecutorInfo the way Mesos' built-in command executor does: the command
// runs as a process (its own process group) in a sandbox of its own, the
// task goes TASK_STARTING → TASK_RUNNING, then TASK_FINISHED (exit 0),
// TASK_FAILED ("Command exited with status N") or TASK_KILLED. The agent
// plays the executor itself, so there is no executor process between the
// agent and the command.
func (a *Agent) launchCommandTaskLocked(fw *frameworkState, fwID string, ti mesos.TaskInfo) {
	eid := ti.TaskID.Value
	ei := mesos.ExecutorInfo{
		ExecutorID:  mesos.ExecutorID{Value: eid},
		FrameworkID: &mesos.FrameworkID{Value: fwID},
		Type:        mesos.ExecutorInfo_DEFAULT,
		Name:        ptr("Command Executor (Task: " + eid + ") (Command: " + commandSummary(ti.GetCommand()) + ")"),
		Source:      ptr(eid),
	}
	r := &executorRun{fwID: fwID, info: ei, command: true, tasks: map[string]*agentTask{}, done: make(chan struct{})}
	r.tasks[eid] = &agentTask{info: ti, state: mesos.TASK_STAGING}
	fw.executors[eid] = r
	if !a.runCommandLocked(fw, r, ti) {
		delete(fw.executors, eid)
	}
}

// runCommandLocked starts the command of ti, the one task of the command
// run r, and reports TASK_STARTING and TASK_RUNNING; when the command cannot
// start the task fails (REASON_CONTAINER_LAUNCH_FAILED), r is marked exited
// and false is returned. Its exit is reported by executorExited.
func (a *Agent) runCommandLocked(fw *frameworkState, r *executorRun, ti mesos.TaskInfo) bool {
	if err := a.startLocked(fw, r, ti.GetCommand()); err != nil {
		r.exited = true
		close(r.done)
		a.launchFailedLocked(fw, r, []mesos.TaskInfo{ti}, err)
		return false
	}
	a.agentUpdateSourceLocked(r, ti.TaskID, mesos.TASK_STARTING, mesos.SOURCE_EXECUTOR, nil, "")
	a.agentUpdateSourceLocked(r, ti.TaskID, mesos.TASK_RUNNING, mesos.SOURCE_EXECUTOR, nil, "")
	return true
}

// launchFailedLocked reports the tasks of r, whose process could not start
// because of err: TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED), or
// TASK_KILLED when they were killed during the fetch; nothing when the
// agent stopped or dropped the framework meanwhile.
func (a *Agent) launchFailedLocked(fw *frameworkState, r *executorRun, tasks []mesos.TaskInfo, err error) {
	if !errors.Is(err, errLaunchCancelled) {
		for _, ti := range tasks {
			a.agentUpdateLocked(r, ti.TaskID, mesos.TASK_FAILED, mesos.REASON_CONTAINER_LAUNCH_FAILED, "Failed to launch container: "+err.Error())
		}
		return
	}
	if a.stopped || a.frameworks[r.fwID] != fw || fw.removed {
		return
	}
	for _, ti := range tasks {
		if t := r.tasks[ti.TaskID.Value]; t != nil && !isTerminal(t.state) {
			a.agentUpdateLocked(r, ti.TaskID, mesos.TASK_KILLED, mesos.REASON_TASK_KILLED_DURING_LAUNCH, "Killed while its URIs were fetched")
		}
	}
}

// killCommandTaskLocked kills a command task: TASK_KILLING first when the
// framework has the TASK_KILLING_STATE capability, then SIGTERM to the
// process group and SIGKILL after the grace period of the KILL call's
// kill_policy, else the task's, else 3 seconds.
func (a *Agent) killCommandTaskLocked(fw *frameworkState, r *executorRun, t *agentTask, kp *mesos.KillPolicy) {
	if t.killed {
		return
	}
	t.killed = true
	grace := defaultKillGracePeriod
	if kp != nil && kp.GracePeriod != nil {
		grace = time.Duration(kp.GracePeriod.Nanoseconds)
	} else if p := t.info.GetKillPolicy(); p != nil && p.GracePeriod != nil {
		grace = time.Duration(p.GracePeriod.Nanoseconds)
	}
	if fw != nil && hasCapability(&fw.info, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) && !isTerminal(t.state) {
		a.agentUpdateSourceLocked(r, t.info.TaskID, mesos.TASK_KILLING, mesos.SOURCE_EXECUTOR, nil, "")
	}
	if grace <= 0 {
		// SIGTERM first even without grace, as the command executor does.
		grace = time.Millisecond
	}
	a.terminateLocked(r, grace)
}

func hasCapability(info *mesos.FrameworkInfo, c mesos.FrameworkInfo_Capability_Type) bool {
	for _, x := range info.GetCapabilities() {
		if x.GetType() == c {
			return true
		}
	}
	return false
}

func commandSummary(c *mesos.CommandInfo) string {
	if c == nil {
		return ""
	}
	if c.GetShell() {
		return "'sh' '-c' '" + c.GetValue() + "'"
	}
	parts := make([]string, 0, len(c.Arguments))
	for _, arg := range c.Arguments {
		parts = append(parts, "'"+arg+"'")
	}
	if len(parts) == 0 {
		parts = append(parts, "'"+c.GetValue()+"'")
	}
	return strings.Join(parts, " ")
}

// ParseDomain parses Mesos' --domain JSON,
// {"fault_domain":{"region":{"name":"r1"},"zone":{"name":"z1"}}}; "" is no
// domain.
func ParseDomain(s string) (*mesos.DomainInfo, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var v struct {
		FaultDomain *struct {
			Region struct {
				Name string `json:"name"`
			} `json:"region"`
			Zone struct {
				Name string `json:"name"`
			} `json:"zone"`
		} `json:"fault_domain"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid domain JSON: %w", err)
	}
	if v.FaultDomain == nil {
		return &mesos.DomainInfo{}, nil
	}
	if v.FaultDomain.Region.Name == "" || v.FaultDomain.Zone.Name == "" {
		return nil, fmt.Errorf("fault_domain needs region.name and zone.name")
	}
	return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: v.FaultDomain.Region.Name},
		Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: v.FaultDomain.Zone.Name},
	}}, nil
}
