package mesostest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// Environment variables that select the test executor's behaviour.
const (
	// ExecutorEnv set to "1" makes RunExecutorIfRequested run the test
	// executor instead of returning.
	ExecutorEnv = "MESOSTEST_EXECUTOR"
	// RecoverEnv set to "1" makes a checkpointing executor subscribe again
	// after losing its agent, until MESOS_RECOVERY_TIMEOUT.
	RecoverEnv = "MESOSTEST_EXECUTOR_RECOVER"
)

// Task data the test executor acts on.
const (
	// TaskDataCrash: after TASK_RUNNING the executor exits with
	// CrashExitCode, leaving the agent to fail its tasks.
	TaskDataCrash = "crash"
	// TaskDataFinish: the task is reported TASK_RUNNING, then TASK_FINISHED.
	TaskDataFinish = "finish"
	// TaskDataStatusData: the task's TASK_RUNNING carries this as its
	// status data (TaskStatus.data), and the label status=data.
	TaskDataStatusData = "status-data"
	// CrashExitCode is the exit status of a crashing executor.
	CrashExitCode = 3
)

// Files the test executor writes in its sandbox.
const (
	// ExecutorEnvFile holds its environment, one sorted NAME=value a line.
	ExecutorEnvFile = "env.txt"
	// ExecutorSubscribedFile is a JSON object with hostname, agent_id,
	// attributes and resources (counts), container_id and framework (name)
	// from the SUBSCRIBED event.
	ExecutorSubscribedFile = "subscribed.json"
	// ExecutorAcksFile gets the task ID of every ACKNOWLEDGED event, a line each.
	ExecutorAcksFile = "acks.txt"
)

// ExecutorOptions select the test executor's behaviour for a task's executor
// or for every executor of an agent.
type ExecutorOptions struct {
	// Recover sets RecoverEnv.
	Recover bool
}

// Environment is the environment that makes the test binary run as the test
// executor with these options (for agent.Config.ExecutorEnvironment).
func (o ExecutorOptions) Environment() map[string]string {
	env := map[string]string{ExecutorEnv: "1"}
	if o.Recover {
		env[RecoverEnv] = "1"
	}
	return env
}

// ExecutorCommand is the command of an ExecutorInfo that runs the test binary
// as the test executor with these options, running no tests.
func ExecutorCommand(o ExecutorOptions) *mesos.CommandInfo {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	env := o.Environment()
	var vars []mesos.Environment_Variable
	for _, name := range slices.Sorted(maps.Keys(env)) {
		vars = append(vars, mesos.Environment_Variable{Name: name, Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(env[name])})
	}
	return &mesos.CommandInfo{
		Shell:       ptr(false),
		Value:       ptr(exe),
		Arguments:   []string{exe, "-test.run=^$"},
		Environment: &mesos.Environment{Variables: vars},
	}
}

// LaunchFunc is what a test package's executor does with a launched task
// (other than TaskDataCrash and TaskDataFinish) before it reports the task
// TASK_RUNNING; an error reports TASK_FAILED with the error's text instead.
// agent is the AgentInfo of the executor's SUBSCRIBED event.
type LaunchFunc func(ctx context.Context, agent mesos.AgentInfo, task mesos.TaskInfo) error

// RunExecutorIfRequested returns at once unless ExecutorEnv is "1"; then it
// runs the test executor and exits the process: status 0 after SHUTDOWN,
// CrashExitCode on TaskDataCrash, 1 on any error (printed to stderr). Call it
// first in TestMain. onLaunch, if not nil, acts on every other launched task.
func RunExecutorIfRequested(onLaunch LaunchFunc) {
	if os.Getenv(ExecutorEnv) != "1" {
		return
	}
	if err := runExecutor(context.Background(), onLaunch); err != nil {
		fmt.Fprintln(os.Stderr, "test executor:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// errShutdown ends the executor after a SHUTDOWN event.
var errShutdown = errors.New("shutdown")

// testExecutor is the state of a running test executor.
type testExecutor struct {
	cfg        config.Config
	execID     mesos.ExecutorID
	subscriber execcalls.Sender
	sender     execcalls.Sender
	onLaunch   LaunchFunc // may be nil
	acks       *os.File
	agent      mesos.AgentInfo // from SUBSCRIBED

	tasks   map[string]mesos.TaskInfo
	unacked map[string]executor.Call_Update
}

func runExecutor(ctx context.Context, onLaunch LaunchFunc) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("executor config: %w", err)
	}
	env := os.Environ()
	sort.Strings(env)
	if err := os.WriteFile(filepath.Join(cfg.Sandbox, ExecutorEnvFile), []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write environment: %w", err)
	}
	cli := httpcli.New(
		httpcli.Endpoint("http://"+cfg.AgentEndpoint+"/api/v1/executor"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
	)
	opts := executor.CallOptions{execcalls.Framework(cfg.FrameworkID), execcalls.Executor(cfg.ExecutorID)}
	x := &testExecutor{
		cfg:        cfg,
		execID:     mesos.ExecutorID{Value: cfg.ExecutorID},
		subscriber: execcalls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...),
		sender:     execcalls.SenderWith(httpexec.NewSender(cli.Send), opts...),
		onLaunch:   onLaunch,
		tasks:      map[string]mesos.TaskInfo{},
		unacked:    map[string]executor.Call_Update{},
	}
	if x.acks, err = os.OpenFile(filepath.Join(cfg.Sandbox, ExecutorAcksFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return fmt.Errorf("acks file: %w", err)
	}
	defer x.acks.Close()

	recoverAgent := os.Getenv(RecoverEnv) == "1" && cfg.Checkpoint
	var lost time.Time
	for {
		err := x.subscribe(ctx, func() { lost = time.Time{} })
		if errors.Is(err, errShutdown) {
			return nil
		}
		if !recoverAgent {
			return fmt.Errorf("agent connection lost: %w", err)
		}
		if lost.IsZero() {
			lost = time.Now()
		}
		if time.Since(lost) > cfg.RecoveryTimeout {
			return fmt.Errorf("agent did not come back within the recovery timeout %s: %w", cfg.RecoveryTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subscribe subscribes with the tasks and updates not yet acknowledged,
// calls connected once the agent answers, and handles events until the
// stream ends (errShutdown after SHUTDOWN).
func (x *testExecutor) subscribe(ctx context.Context, connected func()) error {
	var tasks []mesos.TaskInfo
	for _, t := range x.tasks {
		tasks = append(tasks, t)
	}
	var updates []executor.Call_Update
	for _, u := range x.unacked {
		updates = append(updates, u)
	}
	resp, err := x.subscriber.Send(ctx, execcalls.NonStreaming(execcalls.Subscribe(tasks, updates)))
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer resp.Close()
	connected()
	for {
		var e executor.Event
		if err := resp.Decode(&e); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if err := x.handle(ctx, &e); err != nil {
			return err
		}
	}
}

func (x *testExecutor) handle(ctx context.Context, e *executor.Event) error {
	switch e.GetType() {
	case executor.Event_SUBSCRIBED:
		sub := e.GetSubscribed()
		x.agent = sub.AgentInfo
		b, err := json.Marshal(map[string]any{
			"hostname":     sub.AgentInfo.Hostname,
			"agent_id":     sub.AgentInfo.GetID().GetValue(),
			"attributes":   len(sub.AgentInfo.Attributes),
			"resources":    len(sub.AgentInfo.Resources),
			"container_id": sub.GetContainerID().GetValue(),
			"framework":    sub.FrameworkInfo.GetName(),
		})
		if err != nil {
			return fmt.Errorf("encode SUBSCRIBED: %w", err)
		}
		if err := os.WriteFile(filepath.Join(x.cfg.Sandbox, ExecutorSubscribedFile), b, 0o644); err != nil {
			return fmt.Errorf("write SUBSCRIBED: %w", err)
		}
	case executor.Event_LAUNCH:
		return x.launch(ctx, e.GetLaunch().Task)
	case executor.Event_KILL:
		return x.update(ctx, e.GetKill().TaskID, mesos.TASK_KILLED, "")
	case executor.Event_ACKNOWLEDGED:
		ack := e.GetAcknowledged()
		delete(x.unacked, string(ack.UUID))
		if _, err := fmt.Fprintf(x.acks, "%s\n", ack.TaskID.Value); err != nil {
			return fmt.Errorf("record ACKNOWLEDGED: %w", err)
		}
	case executor.Event_SHUTDOWN:
		return errShutdown
	}
	return nil
}

func (x *testExecutor) launch(ctx context.Context, task mesos.TaskInfo) error {
	x.tasks[task.TaskID.Value] = task
	switch data := string(task.Data); {
	case data == TaskDataCrash:
		if err := x.update(ctx, task.TaskID, mesos.TASK_RUNNING, ""); err != nil {
			return err
		}
		// Give the agent time to forward TASK_RUNNING before the crash.
		time.Sleep(200 * time.Millisecond)
		os.Exit(CrashExitCode)
	case data == TaskDataFinish:
		if err := x.update(ctx, task.TaskID, mesos.TASK_RUNNING, ""); err != nil {
			return err
		}
		return x.update(ctx, task.TaskID, mesos.TASK_FINISHED, "")
	case data == TaskDataStatusData:
		return x.send(ctx, mesos.TaskStatus{TaskID: task.TaskID, State: mesos.TASK_RUNNING.Enum(), Data: task.Data,
			Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "status", Value: ptr("data")}}}})
	case x.onLaunch != nil:
		if err := x.onLaunch(ctx, x.agent, task); err != nil {
			return x.update(ctx, task.TaskID, mesos.TASK_FAILED, err.Error())
		}
	}
	return x.update(ctx, task.TaskID, mesos.TASK_RUNNING, "")
}

// update sends a status update, kept until it is acknowledged.
func (x *testExecutor) update(ctx context.Context, id mesos.TaskID, state mesos.TaskState, message string) error {
	st := mesos.TaskStatus{TaskID: id, State: state.Enum()}
	if message != "" {
		st.Message = &message
	}
	return x.send(ctx, st)
}

// send sends st as an update of this executor, kept until it is acknowledged.
func (x *testExecutor) send(ctx context.Context, st mesos.TaskStatus) error {
	id, state := st.TaskID, st.GetState()
	st.Source, st.ExecutorID, st.UUID = mesos.SOURCE_EXECUTOR.Enum(), &x.execID, newUUID()
	x.unacked[string(st.UUID)] = executor.Call_Update{Status: st}
	resp, err := x.sender.Send(ctx, execcalls.NonStreaming(execcalls.Update(st)))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		return fmt.Errorf("update %s %s: %w", id.Value, state, err)
	}
	return nil
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

func ptr[T any](v T) *T { return &v }
