package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/duration"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
)

// Mesos' messages and defaults for executor termination.
const (
	MessageExecutorTerminated = "Executor terminated"
	recoveryTimeout           = "15mins"
	subscriptionBackoffMax    = "2secs"
)

type frameworkState struct {
	info      mesos.FrameworkInfo
	executors map[string]*executorRun // by executor ID (task ID for command tasks)
	removed   bool
}

func (fw *frameworkState) partitionAware() bool {
	for _, c := range fw.info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_PARTITION_AWARE {
			return true
		}
	}
	return false
}

// executorRun is one run (container) of an executor, or of a command task.
type executorRun struct {
	fwID        string
	info        mesos.ExecutorInfo
	command     bool // a command task run directly by the agent
	containerID string
	dir         string
	pid         int
	done        chan struct{} // closed when the process was reaped
	exited      bool
	stream      *mailbox.Box[*executor.Event] // nil until SUBSCRIBE
	pending     []mesos.TaskInfo              // launches waiting for SUBSCRIBE
	tasks       map[string]*agentTask
	shutdown    bool // SHUTDOWN was requested
	killTimer   *time.Timer
	// startTime of the process (/proc/<pid>/stat), against PID reuse.
	startTime uint64
	// recovered: adopted from the checkpoint after an agent restart.
	recovered      bool
	subscribedOnce bool
	// builtin: the built-in default executor, which has no process of its
	// own; its tasks run as children (defaultexecutor.go).
	builtin  bool
	children map[string]*executorRun // builtin: task ID → the task's run
	// parent is the default executor that runs this task of a group; group
	// holds the runs of the group's tasks.
	parent *executorRun
	group  *taskGroup
	// termination, when set, is how the run's tasks end because the agent
	// destroyed it on purpose (a QoS correction).
	termination *termination
}

type agentTask struct {
	info  mesos.TaskInfo
	state mesos.TaskState
	// killed is set when a command task was asked to stop.
	killed bool
}

func (t *agentTask) taskRecord(fwID, agentID string, r *executorRun) mesos.Task {
	mt := mesos.Task{
		Name:        t.info.Name,
		TaskID:      t.info.TaskID,
		FrameworkID: mesos.FrameworkID{Value: fwID},
		AgentID:     mesos.AgentID{Value: agentID},
		State:       t.state.Enum(),
		Resources:   t.info.Resources,
		Labels:      t.info.Labels,
	}
	if !r.command {
		eid := r.info.ExecutorID
		mt.ExecutorID = &eid
	}
	return mt
}

func (r *executorRun) send(e *executor.Event) {
	if r.stream != nil {
		r.stream.Push(e)
	}
}

func (r *executorRun) closeStream() {
	if r.stream != nil {
		r.stream.Close()
		r.stream = nil
	}
}

func (a *Agent) frameworkLocked(id string, info *mesos.FrameworkInfo) *frameworkState {
	fw := a.frameworks[id]
	if fw == nil {
		fw = &frameworkState{executors: map[string]*executorRun{}}
		a.frameworks[id] = fw
	}
	if info != nil {
		fw.info = *info
		fw.removed = false
	}
	return fw
}

// launch handles a LAUNCH command: tasks for one executor (started if not
// running) or one command task.
func (a *Agent) launch(c link.Command) {
	var fi mesos.FrameworkInfo
	if err := link.Unmarshal(c.Framework, &fi); err != nil {
		klog.ErrorS(err, "Bad launch command")
		return
	}
	var tasks []mesos.TaskInfo
	for _, b := range c.Tasks {
		var ti mesos.TaskInfo
		if err := link.Unmarshal(b, &ti); err != nil {
			klog.ErrorS(err, "Bad task in launch command")
			continue
		}
		tasks = append(tasks, ti)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := a.frameworkLocked(c.FrameworkID, &fi)
	if len(c.Executor) == 0 {
		for _, ti := range tasks {
			a.launchCommandTaskLocked(fw, c.FrameworkID, ti)
		}
		return
	}
	var ei mesos.ExecutorInfo
	if err := link.Unmarshal(c.Executor, &ei); err != nil {
		klog.ErrorS(err, "Bad executor in launch command")
		return
	}
	r := fw.executors[ei.ExecutorID.Value]
	if r == nil || r.exited {
		r = &executorRun{fwID: c.FrameworkID, info: ei, tasks: map[string]*agentTask{}, done: make(chan struct{})}
		for _, ti := range tasks {
			r.tasks[ti.TaskID.Value] = &agentTask{info: ti, state: mesos.TASK_STAGING}
		}
		fw.executors[ei.ExecutorID.Value] = r
		r.pending = append(r.pending, tasks...)
		if err := a.startLocked(fw, r, ei.GetCommand()); err != nil {
			klog.ErrorS(err, "Executor launch failed", "framework", c.FrameworkID, "executor", ei.ExecutorID.Value)
			a.launchFailedLocked(fw, r, r.pending, err)
			r.pending = nil
			r.exited = true
			close(r.done)
			if fw.executors[ei.ExecutorID.Value] == r {
				delete(fw.executors, ei.ExecutorID.Value)
			}
		}
		return
	}
	for _, ti := range tasks {
		r.tasks[ti.TaskID.Value] = &agentTask{info: ti, state: mesos.TASK_STAGING}
		if r.stream != nil {
			r.send(&executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: ti}})
		} else {
			r.pending = append(r.pending, ti)
		}
	}
}

// errLaunchCancelled: the executor or its tasks were killed, or the agent
// stopped or was removed, while its URIs were fetched.
var errLaunchCancelled = errors.New("launch cancelled while fetching")

// allKilled reports whether every task of r was asked to stop.
func (r *executorRun) allKilled() bool {
	for _, t := range r.tasks {
		if !t.killed {
			return false
		}
	}
	return len(r.tasks) > 0
}

// startLocked prepares the sandbox, fetches URIs and starts the process of r
// in its own process group.
func (a *Agent) startLocked(fw *frameworkState, r *executorRun, cmd *mesos.CommandInfo) error {
	if cmd == nil || (cmd.GetValue() == "" && len(cmd.Arguments) == 0) {
		return errors.New("no command")
	}
	if err := a.prepareSandboxLocked(r); err != nil {
		return err
	}
	if len(cmd.URIs) > 0 {
		// A download may take minutes: the agent's lock is released
		// meanwhile (r has no process yet, so kills and shutdowns only
		// mark it) and the fetch ends with the agent.
		ctx := a.runCtx
		a.mu.Unlock()
		err := a.fetchURIs(ctx, r.dir, cmd.URIs)
		a.mu.Lock()
		if a.stopped || r.shutdown || r.exited || a.frameworks[r.fwID] != fw || fw.removed || r.allKilled() {
			return errLaunchCancelled
		}
		if err != nil {
			return err
		}
	}
	var c *exec.Cmd
	if cmd.GetShell() {
		c = exec.Command("/bin/sh", "-c", cmd.GetValue())
	} else {
		path := cmd.GetValue()
		if !strings.Contains(path, "/") {
			if lp, err := exec.LookPath(path); err == nil {
				path = lp
			}
		}
		args := cmd.Arguments
		if len(args) == 0 {
			args = []string{cmd.GetValue()}
		}
		c = &exec.Cmd{Path: path, Args: args}
	}
	c.Dir = r.dir
	c.Env = a.executorEnvLocked(fw, r, cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := os.Create(filepath.Join(r.dir, "stdout"))
	if err != nil {
		return fmt.Errorf("create stdout: %w", err)
	}
	stderr, err := os.Create(filepath.Join(r.dir, "stderr"))
	if err != nil {
		stdout.Close()
		return fmt.Errorf("create stderr: %w", err)
	}
	c.Stdout, c.Stderr = stdout, stderr
	if err := c.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return fmt.Errorf("start %q: %w", cmd.GetValue(), err)
	}
	r.pid = c.Process.Pid
	r.startTime = processStartTime(r.pid)
	klog.InfoS("Launched executor", "framework", r.fwID, "executor", r.info.ExecutorID.Value, "pid", r.pid, "sandbox", r.dir)
	// Not counted in a.wg: executors of checkpointing frameworks outlive
	// the agent.
	go func() {
		err := c.Wait()
		stdout.Close()
		stderr.Close()
		status := 0
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok {
			status = int(ws)
		}
		a.executorExited(r, status, err)
	}()
	return nil
}

// prepareSandboxLocked gives r a container ID and creates its sandbox:
// <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>
// with a runs/latest link, or for a task of a group (r.parent set) the
// task's directory tasks/<task> in the default executor's sandbox, as
// Mesos' nested containers have.
func (a *Agent) prepareSandboxLocked(r *executorRun) error {
	r.containerID = newUUID()
	if r.parent != nil {
		for id := range r.tasks {
			r.dir = filepath.Join(r.parent.dir, "tasks", id)
		}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return fmt.Errorf("create task sandbox: %w", err)
		}
		return a.linkVolumesLocked(r)
	}
	execDir := filepath.Join(a.cfg.WorkDir, "slaves", a.id, "frameworks", r.fwID, "executors", r.info.ExecutorID.Value)
	r.dir = filepath.Join(execDir, "runs", r.containerID)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("create sandbox: %w", err)
	}
	latest := filepath.Join(execDir, "runs", "latest")
	_ = os.Remove(latest)
	_ = os.Symlink(r.containerID, latest)
	return a.linkVolumesLocked(r)
}

// linkVolumesLocked links the persistent volumes of r's executor and tasks
// into its sandbox (volumes.go).
func (a *Agent) linkVolumesLocked(r *executorRun) error {
	var rs mesos.Resources
	if r.parent == nil {
		// A task of a group sees its own volumes, not the executor's.
		rs = append(rs, r.info.Resources...)
	}
	for _, t := range r.tasks {
		rs = append(rs, t.info.Resources...)
	}
	if err := linkVolumes(a.cfg.WorkDir, r.dir, rs); err != nil {
		return fmt.Errorf("mount persistent volumes: %w", err)
	}
	return nil
}

// executorEnvLocked is the environment of a Mesos 1.12 custom executor:
// the agent's --executor_environment_variables (or its own environment),
// then the MESOS_* variables, then the CommandInfo's environment.
func (a *Agent) executorEnvLocked(fw *frameworkState, r *executorRun, cmd *mesos.CommandInfo) []string {
	env := map[string]string{}
	if a.cfg.ExecutorEnvironment != nil {
		for k, v := range a.cfg.ExecutorEnvironment {
			env[k] = v
		}
	} else {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	checkpoint := "0"
	if fw.info.GetCheckpoint() {
		checkpoint = "1"
		env["MESOS_RECOVERY_TIMEOUT"] = recoveryTimeout
		env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = subscriptionBackoffMax
	}
	env["LIBPROCESS_IP"] = a.cfg.IP
	env["LIBPROCESS_PORT"] = "0"
	env["MESOS_AGENT_ENDPOINT"] = a.endpoint()
	env["MESOS_CHECKPOINT"] = checkpoint
	env["MESOS_DIRECTORY"] = r.dir
	env["MESOS_SANDBOX"] = r.dir
	env["MESOS_EXECUTOR_ID"] = r.info.ExecutorID.Value
	env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = duration.Format(a.cfg.ExecutorShutdownGracePeriod)
	env["MESOS_FRAMEWORK_ID"] = r.fwID
	env["MESOS_HTTP_COMMAND_EXECUTOR"] = "0"
	env["MESOS_SLAVE_ID"] = a.id
	env["MESOS_SLAVE_PID"] = "slave(1)@" + a.endpoint()
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() == mesos.Environment_Variable_VALUE || v.Type == nil {
			env[v.Name] = v.GetValue()
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// executorExited runs when an executor process ends: its non-terminal tasks
// fail (TASK_FAILED, REASON_EXECUTOR_TERMINATED, "Executor terminated") and
// the master is told, which sends FAILURE to the scheduler. A negative
// status is unknown (a process adopted after an agent restart).
func (a *Agent) executorExited(r *executorRun, status int, waitErr error) {
	a.mu.Lock()
	if r.exited {
		a.mu.Unlock()
		return
	}
	r.exited = true
	close(r.done)
	if a.stopped {
		// A stopped agent reports nothing: the next one recovers the state.
		a.mu.Unlock()
		return
	}
	r.closeStream()
	if r.killTimer != nil {
		r.killTimer.Stop()
	}
	fw := a.frameworks[r.fwID]
	removed := fw == nil || fw.removed
	klog.InfoS("Executor exited", "framework", r.fwID, "executor", r.info.ExecutorID.Value, "status", status, "err", waitErr)
	ids := make([]string, 0, len(r.tasks))
	for id := range r.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := r.tasks[id]
		if isTerminal(t.state) || removed {
			continue
		}
		switch {
		case r.termination != nil:
			a.agentUpdateLocked(r, t.info.TaskID, r.termination.state, r.termination.reason, r.termination.message)
		case r.command && t.killed:
			a.agentUpdateSourceLocked(r, t.info.TaskID, mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR, nil, "Command terminated with signal")
		case r.command && status < 0:
			a.agentUpdateLocked(r, t.info.TaskID, mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED, "Command ended while the agent was recovering; its exit status is unknown")
		case r.command && status == 0:
			a.agentUpdateSourceLocked(r, t.info.TaskID, mesos.TASK_FINISHED, mesos.SOURCE_EXECUTOR, nil, "Command exited with status 0")
		case r.command:
			a.agentUpdateSourceLocked(r, t.info.TaskID, mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR, nil, fmt.Sprintf("Command exited with status %d", syscall.WaitStatus(status).ExitStatus()))
		default:
			a.agentUpdateLocked(r, t.info.TaskID, mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED, MessageExecutorTerminated)
		}
	}
	if fw != nil && fw.executors[r.info.ExecutorID.Value] == r {
		delete(fw.executors, r.info.ExecutorID.Value)
	}
	if r.parent != nil {
		a.groupTaskExitedLocked(r)
	}
	if fw != nil && fw.removed && len(fw.executors) == 0 {
		delete(a.frameworks, r.fwID)
	}
	agentID := a.id
	a.mu.Unlock()
	if removed || r.command {
		return
	}
	a.reportExecutorExited(agentID, r, status)
}

// reportExecutorExited tells the master an executor ended (it sends FAILURE
// to the scheduler), retrying while the master cannot be reached. It does
// not take a.mu.
func (a *Agent) reportExecutorExited(agentID string, r *executorRun, status int) {
	msg := link.ExecutorExited{AgentID: agentID, FrameworkID: r.fwID, ExecutorID: r.info.ExecutorID.Value, Status: int32(status), StatusUnknown: status < 0}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for attempt := 0; attempt < 30; attempt++ {
			err := a.post(a.runCtx, link.PathExecutorExited, msg)
			if err == nil || errors.Is(err, errFrameworkGone) {
				return
			}
			select {
			case <-a.runCtx.Done():
				return
			case <-time.After(a.cfg.RegistrationBackoff):
			}
		}
	}()
}

// killTask handles a KILL from the scheduler.
func (a *Agent) killTask(fwID, taskID string, kp *mesos.KillPolicy) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := a.frameworks[fwID]
	if fw != nil {
		for _, r := range fw.executors {
			t := r.tasks[taskID]
			if t == nil || r.exited {
				continue
			}
			if r.command {
				a.killCommandTaskLocked(fw, r, t, kp)
				return
			}
			for i, p := range r.pending {
				if p.TaskID.Value == taskID {
					r.pending = append(r.pending[:i], r.pending[i+1:]...)
					a.agentUpdateLocked(r, t.info.TaskID, mesos.TASK_KILLED, mesos.REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor")
					return
				}
			}
			r.send(&executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: taskID}, KillPolicy: kp}})
			return
		}
	}
	state := mesos.TASK_LOST
	if fw != nil && fw.partitionAware() {
		state = mesos.TASK_DROPPED
	}
	st := mesos.TaskStatus{
		TaskID:    mesos.TaskID{Value: taskID},
		State:     state.Enum(),
		Source:    mesos.SOURCE_AGENT.Enum(),
		Reason:    mesos.REASON_TASK_UNKNOWN.Enum(),
		Message:   ptr("Cannot find task"),
		AgentID:   &mesos.AgentID{Value: a.id},
		Timestamp: ptr(nowSeconds()),
		UUID:      newUUIDBytes(),
	}
	a.updates.add(fwID, st, nil)
}

// shutdownExecutorLocked sends SHUTDOWN and kills the process group after
// the grace period (at once if the executor never subscribed).
func (a *Agent) shutdownExecutorLocked(r *executorRun) {
	if r.exited || r.shutdown {
		return
	}
	r.shutdown = true
	if r.stream == nil || r.command {
		a.terminateLocked(r, 0)
		return
	}
	r.send(&executor.Event{Type: executor.Event_SHUTDOWN})
	a.terminateLocked(r, a.cfg.ExecutorShutdownGracePeriod)
}

// terminateLocked sends SIGTERM to r's process group (for command tasks) and
// SIGKILL after grace.
func (a *Agent) terminateLocked(r *executorRun, grace time.Duration) {
	if r.builtin {
		// The default executor kills its tasks: they end TASK_KILLED.
		for _, c := range r.children {
			if !c.exited {
				for _, t := range c.tasks {
					t.killed = true
				}
				a.terminateLocked(c, grace)
			}
		}
		return
	}
	if r.pid <= 0 {
		return
	}
	pid := r.pid
	if r.command && grace > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	if grace <= 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return
	}
	if r.killTimer == nil {
		r.killTimer = time.AfterFunc(grace, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	}
}

// shutdownFramework shuts down all executors of a removed framework and
// drops its pending status updates.
func (a *Agent) shutdownFramework(fwID string) {
	a.mu.Lock()
	fw := a.frameworks[fwID]
	if fw != nil {
		fw.removed = true
		for _, r := range fw.executors {
			a.shutdownExecutorLocked(r)
		}
		if len(fw.executors) == 0 {
			delete(a.frameworks, fwID)
		}
	}
	a.mu.Unlock()
	a.updates.dropFramework(fwID)
}

// statusLocked builds a status update for a task of r.
func (a *Agent) statusLocked(r *executorRun, id mesos.TaskID, state mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	st := mesos.TaskStatus{
		TaskID:    id,
		State:     state.Enum(),
		Source:    source.Enum(),
		Reason:    reason,
		AgentID:   &mesos.AgentID{Value: a.id},
		Timestamp: ptr(nowSeconds()),
		UUID:      newUUIDBytes(),
	}
	if !r.command || r.parent != nil {
		eid := r.info.ExecutorID
		st.ExecutorID = &eid
	}
	if msg != "" {
		st.Message = &msg
	}
	return st
}

// agentUpdateLocked records and queues an update generated by the agent.
func (a *Agent) agentUpdateLocked(r *executorRun, id mesos.TaskID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	a.agentUpdateSourceLocked(r, id, state, mesos.SOURCE_AGENT, reason.Enum(), msg)
}

func (a *Agent) agentUpdateSourceLocked(r *executorRun, id mesos.TaskID, state mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string) {
	if t := r.tasks[id.Value]; t != nil {
		t.state = state
	}
	a.updates.add(r.fwID, a.statusLocked(r, id, state, source, reason, msg), nil)
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }
