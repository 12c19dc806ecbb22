package kubeletexecutor

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// Messages of statuses that are not derived from a pod.
const (
	MessageTaskGroupsUnsupported = "the kubelet-executor runs one pod per task; task groups are not supported"
	MessageUnknownTask           = "task is not known to this executor"
	MessageShutdown              = "executor shut down"
	// MessageNodeFailed starts the message of the tasks of an executor
	// whose node could not start; the cause follows.
	MessageNodeFailed = "node could not start"
)

// ReasonNodeFailed is the reason of the TASK_FAILED of every task of an
// executor whose node could not start. The executor terminates because of
// it, and REASON_EXECUTOR_TERMINATED is what Mesos' agent itself reports for
// the tasks of an executor that ends abnormally, so frameworks treat both
// alike: this agent's executor cannot run the task (docs/decisions.md).
var ReasonNodeFailed = mesos.REASON_EXECUTOR_TERMINATED

// Executor is one kubelet-executor: the Mesos side (subscription, events,
// status updates) and the Kubernetes side (bind, watch, delete) of the pods
// launched on its agent. Create it with New and run it with Run.
type Executor struct {
	// AdoptWindow is how long after SUBSCRIBED the pods an earlier executor
	// left on the node wait for their tasks to be launched again (adopted)
	// before they are deleted; zero deletes them before the node starts.
	// Set it before Run.
	AdoptWindow time.Duration
	// Revocable makes it a revocable executor (revocable.go): the node is
	// another executor's, so it neither sweeps the node's orphans nor
	// cordons or uncordons it. Set it before Run.
	Revocable bool

	mesos  config.Config
	client kubernetes.Interface
	node   Node

	agentCalls calls.Sender // UPDATE and MESSAGE
	subscriber calls.Sender // SUBSCRIBE (a streaming response)

	// nodeReady is closed once the Node is Ready and the pod informer synced;
	// nodeDown instead when the node could not start.
	nodeReady, nodeDown chan struct{}
	// shutdownCh is closed when the agent asks to shut down (or the subscription is lost for good).
	shutdownCh   chan struct{}
	shutdownOnce sync.Once
	// retireCh is closed when the framework asks this executor to retire
	// (podtask.MessageRetire): it exits without draining.
	retireCh   chan struct{}
	retireOnce sync.Once
	fatal      chan error

	mu           sync.Mutex
	nodeName     string
	framework    mesos.FrameworkInfo
	executorInfo mesos.ExecutorInfo
	subscribed   bool
	startedNode  bool
	// nodeStarting is closed once bring-up has returned from Node.Start (or
	// decided not to start because the executor is shutting down), so the
	// shutdown never races a node that is still starting.
	nodeStarting chan struct{}
	shuttingDown bool
	// nodeErr is why the node could not start; every task fails with it.
	nodeErr error
	tasks   map[string]*podTask
	// podTasks are the same tasks by pod UID: the pod informer finds a
	// pod's task there, whatever its task ID (addTaskLocked, removeTaskLocked).
	podTasks map[types.UID]*podTask
	// nodeTasks are the live node tasks (nodetask.go).
	nodeTasks map[string]bool
	// workDir is the agent's work_dir, derived from MESOS_DIRECTORY
	// (podtask.WorkDirOfSandbox); "" when the sandbox is not laid out as
	// Mesos' (then node task statuses carry none). Node task statuses
	// report it.
	workDir string
	// ended remembers the tasks whose terminal update was sent, so none
	// gets a second one: Mesos refuses a status for a terminal task, and a
	// KILL may still arrive for a task that just ended (the framework sends
	// it when it sees the pod gone).
	ended          endedTasks
	unackedTasks   map[string]mesos.TaskInfo
	unackedUpdates []mesosexec.Call_Update
	outbox         []mesosexec.Call_Update
	// sending: an update taken from the outbox is on its way to the agent.
	sending      bool
	outboxSignal chan struct{}
	podLister    listersv1.PodLister
	// admissions counts running admit calls; none starts once shuttingDown is set.
	admissions sync.WaitGroup
}

// podTask is one launched task and its pod.
type podTask struct {
	info  mesos.TaskInfo
	ref   podtask.PodRef
	state *taskstate.Task
	kill  chan struct{} // closed on KILL
	grace *time.Duration
}

// New returns an executor for the agent described by mc, using client for
// the API server and node for the kubelet.
func New(mc config.Config, client kubernetes.Interface, node Node) *Executor {
	u := url.URL{Scheme: "http", Host: mc.AgentEndpoint, Path: agentAPIPath}
	cli := httpcli.New(
		httpcli.Endpoint(u.String()),
		// Protobuf, not JSON: mesos-go's JSON enums reject newer agents' events.
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	opts := mesosexec.CallOptions{calls.Framework(mc.FrameworkID), calls.Executor(mc.ExecutorID)}
	workDir, _ := podtask.WorkDirOfSandbox(mc.Directory) // none: volumes cannot be placed here
	return &Executor{
		mesos:        mc,
		workDir:      workDir,
		client:       client,
		node:         node,
		agentCalls:   calls.SenderWith(httpexec.NewSender(cli.Send), opts...),
		subscriber:   calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...),
		nodeReady:    make(chan struct{}),
		nodeDown:     make(chan struct{}),
		shutdownCh:   make(chan struct{}),
		retireCh:     make(chan struct{}),
		fatal:        make(chan error, 1),
		tasks:        map[string]*podTask{},
		podTasks:     map[types.UID]*podTask{},
		nodeTasks:    map[string]bool{},
		ended:        endedTasks{states: map[string]endedTask{}},
		unackedTasks: map[string]mesos.TaskInfo{},
		outboxSignal: make(chan struct{}, 1),
	}
}

// Run subscribes to the agent and serves it until the agent shuts the
// executor down, the subscription cannot be recovered, or ctx ends (SIGTERM).
// Each of these ends with the shutdown sequence: pods deleted, kubelet
// stopped, sandboxes and mounts removed. It returns nil after a clean
// shutdown, and ErrRetired, without any of it, when the framework asked it
// to retire (podtask.MessageRetire).
func (e *Executor) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.sendLoop(workCtx) }()
	go func() { defer wg.Done(); e.subscriptionLoop(subCtx, workCtx) }()

	var runErr error
	select {
	case <-e.retireCh:
		// Like a crash, on purpose: no drain, no update, no teardown. The
		// kubelet and kube-proxy end with this process (parent-death
		// signal), the pods' containers keep running, the agent ends the
		// tasks (REASON_EXECUTOR_TERMINATED) and the framework launches them
		// again on the new executor, which adopts the pods.
		stopSub()
		stopWork()
		wg.Wait()
		return ErrRetired
	case <-ctx.Done():
		logger.Info("Shutting down: signalled")
	case <-e.shutdownCh:
		logger.Info("Shutting down: asked by the agent or subscription lost")
	case runErr = <-e.fatal:
		logger.Error(runErr, "Shutting down: node bring-up failed")
	}
	e.shutdown(workCtx)
	stopSub()
	stopWork()
	wg.Wait()
	return runErr
}

// ErrRetired is what Run returns when the framework asked the executor to
// retire (podtask.MessageRetire): it ended without draining its node, for an
// executor of a new configuration to adopt the pods.
var ErrRetired = errors.New("kubelet-executor retired for an executor of a new configuration; its pods stay for the successor to adopt")

func (e *Executor) requestRetire() {
	e.retireOnce.Do(func() { close(e.retireCh) })
}

func (e *Executor) requestShutdown() {
	e.shutdownOnce.Do(func() { close(e.shutdownCh) })
}

func (e *Executor) isShuttingDown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shuttingDown
}

func (e *Executor) openTasks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

// addTaskLocked records a live pod task under its task ID and its pod's UID.
func (e *Executor) addTaskLocked(t *podTask) {
	e.tasks[t.info.TaskID.Value] = t
	e.podTasks[t.ref.UID] = t
}

// removeTaskLocked forgets a pod task that ended.
func (e *Executor) removeTaskLocked(t *podTask) {
	delete(e.tasks, t.info.TaskID.Value)
	if e.podTasks[t.ref.UID] == t {
		delete(e.podTasks, t.ref.UID)
	}
}
