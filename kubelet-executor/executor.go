package kubeletexecutor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/executor/events"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

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

// agentAPIPath is the agent's executor API.
const agentAPIPath = "/api/v1/executor"

// Executor is one kubelet-executor: the Mesos side (subscription, events,
// status updates) and the Kubernetes side (bind, watch, delete) of the pods
// launched on its agent. Create it with New and run it with Run.
type Executor struct {
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
	fatal        chan error

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
	// nodeTasks are the live node tasks (nodetask.go).
	nodeTasks map[string]bool
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
	return &Executor{
		mesos:        mc,
		client:       client,
		node:         node,
		agentCalls:   calls.SenderWith(httpexec.NewSender(cli.Send), opts...),
		subscriber:   calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...),
		nodeReady:    make(chan struct{}),
		nodeDown:     make(chan struct{}),
		shutdownCh:   make(chan struct{}),
		fatal:        make(chan error, 1),
		tasks:        map[string]*podTask{},
		nodeTasks:    map[string]bool{},
		ended:        endedTasks{states: map[string]endedTask{}},
		unackedTasks: map[string]mesos.TaskInfo{},
		outboxSignal: make(chan struct{}, 1),
	}
}

// Run subscribes to the agent and serves it until the agent shuts the
// executor down, the subscription cannot be recovered, or ctx ends (SIGTERM).
// Each of these ends with the shutdown sequence: pods deleted, kubelet
// stopped, sandboxes and mounts removed. It returns nil after a clean shutdown.
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

// subscriptionLoop subscribes, serves events, and resubscribes with the
// unacknowledged tasks and updates after a disconnect, within the recovery
// timeout and with a backoff capped at MESOS_SUBSCRIPTION_BACKOFF_MAX.
func (e *Executor) subscriptionLoop(ctx, workCtx context.Context) {
	logger := klog.FromContext(ctx)
	handler := e.handler(workCtx)
	backoff, maxBackoff := 250*time.Millisecond, e.mesos.SubscriptionBackoffMax
	if maxBackoff <= 0 {
		maxBackoff = 2 * time.Second
	}
	disconnected := time.Now()
	for ctx.Err() == nil {
		e.mu.Lock()
		sub := calls.Subscribe(e.unackedTaskList(), append([]mesosexec.Call_Update(nil), e.unackedUpdates...))
		// Every queued update is unacknowledged and so part of this SUBSCRIBE.
		e.outbox = nil
		e.mu.Unlock()
		resp, err := e.subscriber.Send(ctx, calls.NonStreaming(sub))
		if err == nil {
			backoff = 250 * time.Millisecond
			err = e.eventLoop(ctx, resp, handler)
			disconnected = time.Now()
			e.mu.Lock()
			e.subscribed = false
			e.mu.Unlock()
		}
		if resp != nil {
			resp.Close()
		}
		if ctx.Err() != nil || e.isShuttingDown() {
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			logger.Error(err, "Subscription to the agent ended")
		} else {
			logger.Info("Disconnected from the agent")
		}
		if !e.mesos.Checkpoint {
			logger.Info("Framework does not checkpoint: an executor without its agent shuts down")
			e.requestShutdown()
			return
		}
		if time.Since(disconnected) > e.mesos.RecoveryTimeout {
			logger.Info("Could not resubscribe within the recovery timeout", "timeout", e.mesos.RecoveryTimeout)
			e.requestShutdown()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (e *Executor) eventLoop(ctx context.Context, dec encoding.Decoder, h events.Handler) error {
	for ctx.Err() == nil {
		var ev mesosexec.Event
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		if !hasBody(&ev) {
			klog.FromContext(ctx).Info("Malformed executor event ignored: its body is missing", "type", ev.GetType())
			continue
		}
		if err := h.HandleEvent(ctx, &ev); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var errAgentError = errors.New("agent sent ERROR")

// hasBody reports whether an event carries the body its type requires.
func hasBody(ev *mesosexec.Event) bool {
	switch ev.GetType() {
	case mesosexec.Event_SUBSCRIBED:
		return ev.Subscribed != nil
	case mesosexec.Event_LAUNCH:
		return ev.Launch != nil
	case mesosexec.Event_LAUNCH_GROUP:
		return ev.LaunchGroup != nil
	case mesosexec.Event_KILL:
		return ev.Kill != nil
	case mesosexec.Event_ACKNOWLEDGED:
		return ev.Acknowledged != nil
	case mesosexec.Event_MESSAGE:
		return ev.Message != nil
	case mesosexec.Event_ERROR:
		return ev.Error != nil
	}
	return true
}

func (e *Executor) handler(ctx context.Context) events.Handler {
	logger := klog.FromContext(ctx)
	return events.HandlerFuncs{
		mesosexec.Event_SUBSCRIBED: func(_ context.Context, ev *mesosexec.Event) error {
			e.onSubscribed(ctx, ev.Subscribed)
			return nil
		},
		mesosexec.Event_LAUNCH: func(_ context.Context, ev *mesosexec.Event) error {
			e.onLaunch(ctx, ev.Launch.Task)
			return nil
		},
		mesosexec.Event_LAUNCH_GROUP: func(_ context.Context, ev *mesosexec.Event) error {
			for _, t := range ev.LaunchGroup.TaskGroup.Tasks {
				e.mu.Lock()
				e.sendStatusLocked(t.TaskID, taskstate.Report{State: mesos.TASK_FAILED, Message: MessageTaskGroupsUnsupported},
					mesos.REASON_TASK_GROUP_INVALID.Enum())
				e.mu.Unlock()
			}
			return nil
		},
		mesosexec.Event_KILL: func(_ context.Context, ev *mesosexec.Event) error {
			e.onKill(ctx, ev.Kill.TaskID, ev.Kill.KillPolicy)
			return nil
		},
		mesosexec.Event_ACKNOWLEDGED: func(_ context.Context, ev *mesosexec.Event) error {
			e.onAcknowledged(ev.Acknowledged.TaskID.Value, ev.Acknowledged.UUID)
			return nil
		},
		mesosexec.Event_MESSAGE: func(_ context.Context, ev *mesosexec.Event) error {
			logger.V(2).Info("Framework message ignored", "bytes", len(ev.Message.Data))
			return nil
		},
		mesosexec.Event_SHUTDOWN: func(_ context.Context, _ *mesosexec.Event) error {
			e.requestShutdown()
			return nil
		},
		mesosexec.Event_ERROR: func(_ context.Context, ev *mesosexec.Event) error {
			return fmt.Errorf("%w: %s", errAgentError, ev.Error.Message)
		},
	}.Otherwise(func(_ context.Context, ev *mesosexec.Event) error {
		logger.Info("Unknown executor event ignored", "type", ev.GetType())
		return nil
	})
}

func (e *Executor) requestShutdown() {
	e.shutdownOnce.Do(func() { close(e.shutdownCh) })
}

func (e *Executor) isShuttingDown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shuttingDown
}

func (e *Executor) onSubscribed(ctx context.Context, s *mesosexec.Event_Subscribed) {
	e.mu.Lock()
	e.framework, e.executorInfo, e.subscribed = s.FrameworkInfo, s.ExecutorInfo, true
	first := !e.startedNode
	e.startedNode = true
	if first {
		e.nodeStarting = make(chan struct{})
	}
	e.mu.Unlock()
	klog.FromContext(ctx).Info("Subscribed to the agent", "agent", s.AgentInfo.GetHostname(),
		"framework", s.FrameworkInfo.GetName(), "resubscribed", !first)
	e.kickSender()
	if first {
		go e.bringUp(ctx, s.AgentInfo)
	}
}

// bringUp starts the node, waits for it to be Ready and starts the pod
// informer; then launched tasks may bind their pods.
func (e *Executor) bringUp(ctx context.Context, agent mesos.AgentInfo) {
	if e.isShuttingDown() {
		close(e.nodeStarting)
		return
	}
	name, err := NodeName(agent)
	if err == nil {
		err = e.deleteOrphans(ctx, name)
	}
	if err == nil {
		name, err = e.node.Start(ctx, agent)
	}
	close(e.nodeStarting)
	if err != nil {
		e.nodeFailed(ctx, fmt.Errorf("start node: %w", err))
		return
	}
	e.mu.Lock()
	e.nodeName = name
	e.mu.Unlock()
	if err := e.node.WaitReady(ctx); err != nil {
		if ctx.Err() == nil {
			e.nodeFailed(ctx, fmt.Errorf("wait for node %s: %w", name, err))
		}
		return
	}
	factory := informers.NewSharedInformerFactoryWithOptions(e.client, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", name).String()
		}))
	inf := factory.Core().V1().Pods()
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.onPod(ctx, nil, obj) },
		UpdateFunc: func(old, obj any) { e.onPod(ctx, old, obj) },
		DeleteFunc: func(obj any) { e.onPodDeleted(ctx, obj) },
	})
	e.mu.Lock()
	e.podLister = inf.Lister()
	e.mu.Unlock()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	close(e.nodeReady)
	go e.resync(ctx)
}

// nodeFailed fails every task with the reason the node could not start
// (none of them was bound: binding waits for the node) and ends the
// executor. Tasks launched later fail the same way until it has stopped.
func (e *Executor) nodeFailed(ctx context.Context, err error) {
	klog.FromContext(ctx).Error(err, "Node bring-up failed; failing every task")
	e.mu.Lock()
	e.nodeErr = err
	for _, t := range e.tasks {
		e.failNodeLocked(t)
	}
	e.endNodeTasksLocked(taskstate.Report{State: mesos.TASK_FAILED, Message: MessageNodeFailed + ": " + err.Error()}, ReasonNodeFailed.Enum())
	e.mu.Unlock()
	close(e.nodeDown) // admissions waiting for the node return
	e.fatal <- err
}

// failNodeLocked ends a task with the node's failure (once).
func (e *Executor) failNodeLocked(t *podTask) {
	r := taskstate.Report{State: mesos.TASK_FAILED, Message: MessageNodeFailed + ": " + e.nodeErr.Error()}
	if t.state.End(r) {
		e.sendStatusLocked(t.info.TaskID, r, ReasonNodeFailed.Enum())
	}
	delete(e.tasks, t.info.TaskID.Value)
}

// deleteOrphans deletes the pods bound to node that this executor has no
// task for, before the kubelet starts. They are left by a previous executor
// on this agent that died (Mesos ended its tasks with it, and a new executor
// never gets them back): without a task they must not run, and their
// containers may still be running under the cgroup root. The kubelet that
// starts next stops them and completes the deletion. Pods that already
// terminated and mirror pods are left alone. It retries until the API server
// answers or ctx ends.
func (e *Executor) deleteOrphans(ctx context.Context, node string) error {
	logger := klog.FromContext(ctx)
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := e.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
		if err != nil {
			logger.Error(err, "List pods left on the node; retrying", "node", node)
			return false, nil
		}
		for _, p := range list.Items {
			if p.Spec.NodeName != node || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded ||
				p.Status.Phase == corev1.PodFailed || p.Annotations[corev1.MirrorPodAnnotationKey] != "" {
				continue
			}
			e.mu.Lock()
			_, launched := e.tasks[podtask.TaskID(p.UID)]
			e.mu.Unlock()
			if launched {
				continue
			}
			err := e.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name,
				metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				logger.Error(err, "Delete pod left on the node without a task; retrying", "pod", klog.KObj(&p))
				return false, nil
			}
			logger.Info("Deleted pod left on the node without a task", "pod", klog.KObj(&p), "uid", p.UID, "node", node)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("delete pods left on node %s: %w", node, err)
	}
	return nil
}

// onLaunch admits a task: bad data fails it at once; otherwise its pod is
// bound once the node is Ready.
func (e *Executor) onLaunch(ctx context.Context, info mesos.TaskInfo) {
	logger := klog.FromContext(ctx).WithValues("task", info.TaskID.Value)
	e.mu.Lock()
	defer e.mu.Unlock()
	id := info.TaskID.Value
	if _, dup := e.tasks[id]; dup {
		logger.Info("Duplicate LAUNCH ignored")
		return
	}
	// A task ID launched again is a new attempt (the framework reuses the
	// pod's task ID when it relaunches a pod).
	e.ended.forget(id)
	e.unackedTasks[id] = info
	if podtask.IsNodeTask(id) {
		if e.nodeTasks[id] {
			logger.Info("Duplicate LAUNCH ignored")
			return
		}
		e.launchNodeTaskLocked(ctx, info)
		return
	}
	ref, err := podtask.DecodeTask(info)
	if err != nil {
		logger.Info("Rejecting task with bad data", "err", err)
		e.sendStatusLocked(info.TaskID, taskstate.Report{State: mesos.TASK_FAILED, Message: err.Error()},
			mesos.REASON_TASK_INVALID.Enum())
		return
	}
	t := &podTask{info: info, ref: ref, state: taskstate.NewTask(ref.UID, e.killingCapableLocked()),
		kill: make(chan struct{})}
	if e.nodeErr != nil {
		e.failNodeLocked(t)
		return
	}
	if e.shuttingDown {
		e.sendStatusLocked(info.TaskID, taskstate.Report{State: mesos.TASK_DROPPED, Message: MessageShutdown}, nil)
		return
	}
	e.tasks[id] = t
	e.admissions.Add(1)
	go func() {
		defer e.admissions.Done()
		e.admit(klog.NewContext(ctx, logger.WithValues("pod", ref.String())), t)
	}()
}

func (e *Executor) killingCapableLocked() bool {
	for _, c := range e.framework.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_TASK_KILLING_STATE {
			return true
		}
	}
	return false
}

// admit waits for the node, reads the pod and binds it to this node.
func (e *Executor) admit(ctx context.Context, t *podTask) {
	logger := klog.FromContext(ctx)
	select {
	case <-e.nodeReady:
	case <-e.nodeDown:
	case <-t.kill:
	case <-ctx.Done():
		return
	}
	e.mu.Lock()
	if t.state.Done() {
		e.mu.Unlock() // failed with the node meanwhile
		return
	}
	if t.state.KillRequested() {
		e.observeLocked(t, nil)
		e.mu.Unlock()
		return
	}
	node := e.nodeName
	e.mu.Unlock()

	pods := e.client.CoreV1().Pods(t.ref.Namespace)
	pod, err := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		pod, err = nil, nil
	}
	if err != nil {
		e.reject(t, taskstate.Report{State: mesos.TASK_FAILED, Message: "read pod: " + err.Error()})
		return
	}
	decision, report := taskstate.Admit(t.ref.UID, pod, node)
	switch decision {
	case taskstate.Reject:
		e.reject(t, report)
		return
	case taskstate.Bind:
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ref.Namespace, Name: t.ref.Name, UID: t.ref.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}
		if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
			// Lost a race (deleted, replaced or bound meanwhile): decide again from the pod as it is now.
			again, gerr := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(gerr) {
				again = nil
			} else if gerr != nil {
				e.reject(t, taskstate.Report{State: mesos.TASK_FAILED, Message: "bind pod: " + err.Error()})
				return
			}
			if d, r := taskstate.Admit(t.ref.UID, again, node); d != taskstate.AlreadyBound {
				if d == taskstate.Bind {
					r = taskstate.Report{State: mesos.TASK_FAILED, Message: "bind pod: " + err.Error()}
				}
				e.reject(t, r)
				return
			}
			pod = again
		} else {
			logger.Info("Bound pod to node", "node", node)
			pod.Spec.NodeName = node
		}
	case taskstate.AlreadyBound:
		logger.Info("Pod already bound to this node", "node", node)
	}
	e.mu.Lock()
	t.state.Bound()
	killed := t.state.KillRequested()
	if cur := e.cachedPodLocked(t); cur != nil {
		pod = cur
	}
	e.observeLocked(t, pod)
	e.mu.Unlock()
	if killed {
		e.deletePod(ctx, t)
	}
}

func (e *Executor) reject(t *podTask, r taskstate.Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.state.KillRequested() && !t.state.IsBound() {
		e.observeLocked(t, nil)
		return
	}
	if t.state.End(r) {
		e.sendStatusLocked(t.info.TaskID, r, nil)
	}
	delete(e.tasks, t.info.TaskID.Value)
}

func (e *Executor) cachedPodLocked(t *podTask) *corev1.Pod {
	if e.podLister == nil {
		return nil
	}
	p, err := e.podLister.Pods(t.ref.Namespace).Get(t.ref.Name)
	if err != nil || p.UID != t.ref.UID {
		return nil
	}
	return p
}

// observeLocked feeds the pod to the task's state and sends what changed.
func (e *Executor) observeLocked(t *podTask, pod *corev1.Pod) {
	r, changed := t.state.Observe(pod)
	if !changed {
		return
	}
	e.sendStatusLocked(t.info.TaskID, r, nil)
	if r.Terminal() {
		delete(e.tasks, t.info.TaskID.Value)
	}
}

// onPod observes an added or updated pod. When its name now belongs to a
// pod with another UID (a relist after a missed delete and re-create), the
// old UID's task observes the replacement too.
func (e *Executor) onPod(ctx context.Context, oldObj, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	uids := []types.UID{pod.UID}
	if old, ok := oldObj.(*corev1.Pod); ok && old.UID != pod.UID {
		uids = append(uids, old.UID)
	}
	for _, uid := range uids {
		if t := e.tasks[podtask.TaskID(uid)]; t != nil && t.state.IsBound() {
			e.observeLocked(t, pod)
		}
	}
}

func (e *Executor) onPodDeleted(ctx context.Context, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tasks[podtask.TaskID(pod.UID)]; t != nil && t.state.IsBound() {
		e.observeLocked(t, nil)
	}
}

// resync re-reads bound pods missing from the informer's cache, so a pod
// deleted before the informer ever saw it still ends its task.
func (e *Executor) resync(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e.mu.Lock()
		var missing []*podTask
		for _, t := range e.tasks {
			if t.state.IsBound() && e.cachedPodLocked(t) == nil {
				missing = append(missing, t)
			}
		}
		e.mu.Unlock()
		for _, t := range missing {
			pod, err := e.client.CoreV1().Pods(t.ref.Namespace).Get(ctx, t.ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				pod, err = nil, nil
			}
			if err != nil {
				continue
			}
			e.mu.Lock()
			e.observeLocked(t, pod)
			e.mu.Unlock()
		}
	}
}

// onKill deletes the task's pod with the kill policy's grace period (or the
// pod's own); TASK_KILLED follows once the pod object is gone.
func (e *Executor) onKill(ctx context.Context, id mesos.TaskID, policy *mesos.KillPolicy) {
	e.mu.Lock()
	if e.killNodeTaskLocked(ctx, id) {
		e.mu.Unlock()
		return
	}
	t := e.tasks[id.Value]
	if t == nil {
		if state, ok := e.ended.get(id.Value); ok {
			// Its one terminal update is sent (the agent still holds it
			// unacknowledged, which is why it forwarded the KILL).
			klog.FromContext(ctx).V(1).Info("KILL of a task that already ended ignored", "task", id.Value, "state", state)
		} else {
			e.sendStatusLocked(id, taskstate.Report{State: mesos.TASK_KILLED, Message: MessageUnknownTask}, nil)
		}
		e.mu.Unlock()
		return
	}
	if gp := policy.GetGracePeriod(); gp != nil {
		d := time.Duration(gp.GetNanoseconds())
		t.grace = &d
	}
	already := t.state.KillRequested()
	t.state.Killed()
	if !already {
		close(t.kill)
	}
	bound := t.state.IsBound()
	e.mu.Unlock()
	if bound {
		go e.deletePod(ctx, t)
	}
}

// deletePod deletes the task's pod (only that UID) with the task's grace
// period, and observes the result. A failed delete (API server down) is
// retried with backoff until it succeeds, the task ends or ctx ends.
func (e *Executor) deletePod(ctx context.Context, t *podTask) {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &t.ref.UID}}
	e.mu.Lock()
	if t.grace != nil {
		opts.GracePeriodSeconds = ptr.To(int64((*t.grace + time.Second - 1) / time.Second))
	}
	e.mu.Unlock()
	pods := e.client.CoreV1().Pods(t.ref.Namespace)
	backoff := wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: math.MaxInt32, Cap: 10 * time.Second}
	var err error
	for {
		err = pods.Delete(ctx, t.ref.Name, opts)
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			break
		}
		klog.FromContext(ctx).Error(err, "Delete pod; retrying", "pod", t.ref.String())
		e.mu.Lock()
		done := t.state.Done()
		e.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff.Step()):
		}
	}
	var pod *corev1.Pod
	switch {
	case err != nil:
		// Gone, or replaced by a pod with another UID: ours is gone either way.
	default:
		p, gerr := pods.Get(ctx, t.ref.Name, metav1.GetOptions{})
		if gerr != nil && !apierrors.IsNotFound(gerr) {
			return
		}
		if gerr == nil {
			pod = p
		}
	}
	e.mu.Lock()
	e.observeLocked(t, pod)
	e.mu.Unlock()
}

func (e *Executor) onAcknowledged(taskID string, id []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.unackedTasks, taskID)
	for i, u := range e.unackedUpdates {
		if string(u.Status.UUID) == string(id) {
			e.unackedUpdates = append(e.unackedUpdates[:i], e.unackedUpdates[i+1:]...)
			break
		}
	}
}

func (e *Executor) unackedTaskList() []mesos.TaskInfo {
	out := make([]mesos.TaskInfo, 0, len(e.unackedTasks))
	for _, t := range e.unackedTasks {
		out = append(out, t)
	}
	return out
}

// sendStatusLocked records an update as unacknowledged and queues it for the
// agent. Updates are sent in order; one that fails to send is still part of
// the next SUBSCRIBE's unacknowledged updates.
func (e *Executor) sendStatusLocked(id mesos.TaskID, r taskstate.Report, reason *mesos.TaskStatus_Reason) {
	u := uuid.New()
	st := mesos.TaskStatus{
		TaskID:     id,
		State:      r.State.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &mesos.ExecutorID{Value: e.mesos.ExecutorID},
		UUID:       u[:],
		Timestamp:  ptr.To(float64(time.Now().UnixNano()) / 1e9),
		Reason:     reason,
	}
	if r.Message != "" {
		st.Message = ptr.To(r.Message)
	}
	if len(r.PodIPs) > 0 {
		st.Data = podtask.StatusDataOf(r.PodIPs).Encode()
		var addrs []mesos.NetworkInfo_IPAddress
		for _, ip := range r.PodIPs {
			addrs = append(addrs, mesos.NetworkInfo_IPAddress{IPAddress: ptr.To(ip)})
		}
		st.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{{IPAddresses: addrs}}}
	}
	if r.Terminal() {
		e.ended.add(id.Value, r.State)
	}
	upd := mesosexec.Call_Update{Status: st}
	e.unackedUpdates = append(e.unackedUpdates, upd)
	e.outbox = append(e.outbox, upd)
	e.kickSender()
}

func (e *Executor) kickSender() {
	select {
	case e.outboxSignal <- struct{}{}:
	default:
	}
}

// sendLoop sends queued updates to the agent while subscribed.
func (e *Executor) sendLoop(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.outboxSignal:
		}
		for {
			e.mu.Lock()
			if len(e.outbox) == 0 || !e.subscribed {
				e.mu.Unlock()
				break
			}
			upd := e.outbox[0]
			e.outbox = e.outbox[1:]
			e.sending = true
			e.mu.Unlock()
			resp, err := e.agentCalls.Send(ctx, calls.NonStreaming(calls.Update(upd.Status)))
			if resp != nil {
				resp.Close()
			}
			e.mu.Lock()
			e.sending = false
			e.mu.Unlock()
			if err != nil {
				// It stays unacknowledged and goes out with the next SUBSCRIBE.
				logger.Error(err, "Send status update", "task", upd.Status.TaskID.Value, "state", upd.Status.GetState())
				continue
			}
			logger.V(2).Info("Sent status update", "task", upd.Status.TaskID.Value, "state", upd.Status.GetState(),
				"message", upd.Status.GetMessage())
		}
	}
}

// shutdown deletes every pod, waits for them up to the shutdown grace period
// (force-deleting what is left), reports TASK_KILLED, stops the node and
// cleans it up.
func (e *Executor) shutdown(ctx context.Context) {
	logger := klog.FromContext(ctx)
	grace := e.mesos.ExecutorShutdownGracePeriod
	if grace <= 0 {
		grace = 5 * time.Second
	}
	// Pods get most of the grace period; the node's teardown the rest.
	podBudget := grace * 6 / 10
	deadline := time.Now().Add(podBudget)

	e.mu.Lock()
	e.shuttingDown = true
	for _, t := range e.tasks {
		if !t.state.KillRequested() {
			t.state.Killed()
			close(t.kill)
		}
		if t.grace == nil || *t.grace > podBudget {
			d := podBudget
			t.grace = &d
		}
	}
	e.mu.Unlock()
	// An admission between reading and binding its pod finishes first: the
	// pod it binds is then deleted with the others, not after the node stopped.
	admitted := make(chan struct{})
	go func() { e.admissions.Wait(); close(admitted) }()
	select {
	case <-admitted:
	case <-time.After(time.Until(deadline)):
		logger.Info("Pod admissions still running at the shutdown deadline")
	}
	e.mu.Lock()
	var bound []*podTask
	for _, t := range e.tasks {
		if t.state.IsBound() {
			bound = append(bound, t)
		} else {
			e.observeLocked(t, nil) // killed before binding
		}
	}
	e.mu.Unlock()
	delCtx, cancel := context.WithDeadline(ctx, deadline)
	var wg sync.WaitGroup
	for _, t := range bound {
		wg.Add(1)
		go func() { defer wg.Done(); e.deletePod(delCtx, t) }()
	}
	wg.Wait()
	for time.Now().Before(deadline) && e.openTasks() > 0 {
		select {
		case <-delCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	e.mu.Lock()
	var left []*podTask
	for _, t := range e.tasks {
		left = append(left, t)
	}
	e.mu.Unlock()
	for _, t := range left {
		zero := int64(0)
		err := e.client.CoreV1().Pods(t.ref.Namespace).Delete(ctx, t.ref.Name,
			metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &t.ref.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			logger.Error(err, "Force-delete pod on shutdown", "pod", t.ref.String())
		}
		e.mu.Lock()
		e.observeLocked(t, nil)
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.endNodeTasksLocked(taskstate.Report{State: mesos.TASK_KILLED, Message: MessageShutdown}, nil)
	e.mu.Unlock()
	e.flush(ctx, time.Second)
	stopCtx, stop := context.WithTimeout(ctx, max(grace-podBudget, 2*time.Second))
	defer stop()
	e.mu.Lock()
	starting := e.nodeStarting
	e.mu.Unlock()
	if starting != nil {
		select { // let a starting node finish starting, then stop it
		case <-starting:
		case <-stopCtx.Done():
		}
	}
	if err := e.node.Stop(stopCtx); err != nil {
		logger.Error(err, "Node teardown")
	}
	logger.Info("Executor shut down")
}

func (e *Executor) openTasks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

// flush waits up to d for queued updates (and the one being sent) to reach the agent.
func (e *Executor) flush(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		e.mu.Lock()
		n, sending := len(e.outbox), e.sending
		e.mu.Unlock()
		if n == 0 && !sending {
			return
		}
		e.kickSender()
		time.Sleep(20 * time.Millisecond)
	}
}

// maxEndedTasks bounds how many ended tasks an executor remembers. A KILL
// for an ended task comes within moments of its end (while the agent holds
// the terminal update unacknowledged); the bound only keeps a long-lived
// executor's memory flat.
const maxEndedTasks = 4096

// endedTasks are the tasks whose terminal update was sent, the oldest
// forgotten first past maxEndedTasks. Not safe for concurrent use.
type endedTasks struct {
	states map[string]endedTask
	order  []endedTask // oldest first; an entry whose seq no longer matches was forgotten or re-added
	seq    uint64
}

type endedTask struct {
	id    string
	state mesos.TaskState
	seq   uint64
}

func (m *endedTasks) add(id string, s mesos.TaskState) {
	m.seq++
	t := endedTask{id: id, state: s, seq: m.seq}
	m.states[id] = t
	m.order = append(m.order, t)
	for len(m.order) > maxEndedTasks {
		if old := m.order[0]; m.states[old.id].seq == old.seq {
			delete(m.states, old.id)
		}
		m.order = m.order[1:]
	}
}

func (m *endedTasks) get(id string) (mesos.TaskState, bool) {
	t, ok := m.states[id]
	return t.state, ok
}

// forget drops id (a new attempt under the same task ID).
func (m *endedTasks) forget(id string) { delete(m.states, id) }
