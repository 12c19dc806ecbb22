package kubeletexecutor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// runExecutor runs ex until the test ends; the returned channel is closed
// when Run has returned, and *runErr holds its result then.
func runExecutor(t *testing.T, a *testAgent, ex *Executor) (done <-chan struct{}, runErr *error) {
	ctx, cancel := context.WithCancel(t.Context())
	finished := make(chan struct{})
	var err error
	go func() { defer close(finished); err = ex.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(15 * time.Second):
			t.Error("executor did not stop")
		}
	})
	select {
	case <-a.subscribes:
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not subscribe")
	}
	return finished, &err
}

func launch(id string, data []byte) mesosexec.Event {
	return mesosexec.Event{Type: mesosexec.Event_LAUNCH, Launch: &mesosexec.Event_Launch{Task: mesos.TaskInfo{
		Name: "t", TaskID: mesos.TaskID{Value: id}, AgentID: mesos.AgentID{Value: "S0"}, Data: data}}}
}

// TestBadTaskDataFails: a LAUNCH whose data is not a pod reference ends in
// TASK_FAILED (REASON_TASK_INVALID) with a clear message, and the executor
// touches no pod for it and keeps serving.
func TestBadTaskDataFails(t *testing.T) {
	tests := []struct {
		name, taskID string
		data         []byte
		msg          string
	}{
		{"not JSON", "pod.u1", []byte("\x00garbage"), podtask.ErrBadTaskData.Error()},
		{"no data", "pod.u2", nil, podtask.ErrBadTaskData.Error()},
		{"missing uid", "pod.u3", []byte(`{"namespace":"ns","name":"p"}`), "uid are required"},
		{"task ID of another pod", "pod.other", podtask.PodRef{Namespace: "ns", Name: "p", UID: "u4"}.Encode(),
			podtask.ErrTaskIDMismatch.Error()},
	}
	a := newTestAgent(t)
	client := fake.NewClientset()
	node := &readyNode{}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.events <- launch(tc.taskID, tc.data)
			u := a.nextUpdate(t)
			if u.TaskID.Value != tc.taskID || u.GetState() != mesos.TASK_FAILED {
				t.Fatalf("update = %s %v, want %s TASK_FAILED", u.TaskID.Value, u.GetState(), tc.taskID)
			}
			if u.GetReason() != mesos.REASON_TASK_INVALID {
				t.Errorf("reason = %v, want REASON_TASK_INVALID", u.GetReason())
			}
			if !strings.Contains(u.GetMessage(), tc.msg) {
				t.Errorf("message %q does not contain %q", u.GetMessage(), tc.msg)
			}
			if u.GetSource() != mesos.SOURCE_EXECUTOR || len(u.UUID) != 16 {
				t.Errorf("source %v uuid %x: want an executor update with a UUID", u.GetSource(), u.UUID)
			}
		})
	}
	for _, act := range client.Actions() {
		// The node's pod informer lists and watches; nothing may read, bind or delete a pod.
		if act.GetVerb() != "list" && act.GetVerb() != "watch" {
			t.Errorf("bad task data reached the API server: %s %s", act.GetVerb(), act.GetResource().Resource)
		}
	}
}

// TestUnknownKillIsKilled: KILL of a task the executor never launched is
// answered with TASK_KILLED, so the framework's view converges.
func TestUnknownKillIsKilled(t *testing.T) {
	a := newTestAgent(t)
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: "pod.nope"}}}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED || u.GetMessage() != MessageUnknownTask {
		t.Fatalf("update = %v %q, want TASK_KILLED %q", u.GetState(), u.GetMessage(), MessageUnknownTask)
	}
}

// TestShutdownStopsNode: SHUTDOWN makes Run return nil after stopping the node once.
func TestShutdownStopsNode(t *testing.T) {
	a := newTestAgent(t)
	node := &readyNode{}
	done, runErr := runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), node))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		node.mu.Lock()
		started := node.started
		node.mu.Unlock()
		if started == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node not started after SUBSCRIBED")
		}
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	select {
	case <-done:
		if *runErr != nil {
			t.Fatalf("Run = %v, want nil", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.started != 1 || node.stopped != 1 {
		t.Errorf("node started %d stopped %d times, want 1 and 1", node.started, node.stopped)
	}
}

// TestResubscribeCarriesUnacknowledged: after the stream drops, the executor
// subscribes again and hands back the tasks and updates the agent has not
// acknowledged.
func TestResubscribeCarriesUnacknowledged(t *testing.T) {
	a := newTestAgent(t)
	a.noAck = true
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	a.events <- launch("pod.bad", []byte("nope"))
	failed := a.nextUpdate(t)
	a.drop <- struct{}{}
	select {
	case sub := <-a.subscribes:
		if len(sub.UnacknowledgedTasks) != 1 || sub.UnacknowledgedTasks[0].TaskID.Value != "pod.bad" {
			t.Errorf("unacknowledged tasks = %v, want pod.bad", sub.UnacknowledgedTasks)
		}
		if len(sub.UnacknowledgedUpdates) != 1 || string(sub.UnacknowledgedUpdates[0].Status.UUID) != string(failed.UUID) {
			t.Errorf("unacknowledged updates = %v, want the TASK_FAILED update", sub.UnacknowledgedUpdates)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not resubscribe")
	}
}

// TestMalformedEventsAreIgnored: events whose body is missing (garbage from
// the agent) are logged and skipped; the executor keeps serving.
func TestMalformedEventsAreIgnored(t *testing.T) {
	a := newTestAgent(t)
	runExecutor(t, a, New(a.mesosConfig(), fake.NewClientset(), &readyNode{}))
	for _, typ := range []mesosexec.Event_Type{mesosexec.Event_SUBSCRIBED, mesosexec.Event_LAUNCH,
		mesosexec.Event_LAUNCH_GROUP, mesosexec.Event_KILL, mesosexec.Event_ACKNOWLEDGED, mesosexec.Event_MESSAGE,
		mesosexec.Event_ERROR} {
		a.events <- mesosexec.Event{Type: typ}
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: "pod.after"}}}
	if u := a.nextUpdate(t); u.TaskID.Value != "pod.after" || u.GetState() != mesos.TASK_KILLED {
		t.Fatalf("update = %s %v, want pod.after TASK_KILLED", u.TaskID.Value, u.GetState())
	}
}

// boundPodClient is a fake API server holding pod ns/p (UID u1) bound to
// node-a, with pods/binding support.
func boundPodClient(node string) *fake.Clientset {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	client := fake.NewClientset(pod)
	client.PrependReactor("create", "pods", func(act k8stesting.Action) (bool, runtime.Object, error) {
		if act.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := act.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		p.Spec.NodeName = b.Target.Name
		return true, b, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p, b.Namespace)
	})
	return client
}

var podU1 = podtask.PodRef{Namespace: "ns", Name: "p", UID: "u1"}

// bindAfterBringUp binds pod ns/p of client (made by boundPodClient("")) to
// node-a once node has started. A pod bound to the node before then is one
// the bring-up deletes as left by an earlier executor, if its LAUNCH has not
// arrived yet: binding it afterwards lets a test launch an already bound pod
// without that race.
func bindAfterBringUp(t *testing.T, client *fake.Clientset, node *readyNode) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		node.mu.Lock()
		started := node.started
		node.mu.Unlock()
		if started > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node not started")
		}
	}
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	obj, err := client.Tracker().Get(pods, "ns", "p")
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*corev1.Pod).DeepCopy()
	p.Spec.NodeName = "node-a"
	if err := client.Tracker().Update(pods, p, "ns"); err != nil {
		t.Fatal(err)
	}
}

// TestKillRetriesDeleteUntilTheAPIServerAnswers: a KILL while the API server
// fails deletes still ends in TASK_KILLED once it answers again.
func TestKillRetriesDeleteUntilTheAPIServerAnswers(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("")
	var failures atomic.Int32
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures.Add(1) <= 3 {
			return true, nil, apierrors.NewServiceUnavailable("API server down")
		}
		return false, nil, nil
	})
	node := &readyNode{}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	bindAfterBringUp(t, client, node)
	a.events <- launch(podtask.TaskID(podU1.UID), podU1.Encode())
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: podtask.TaskID(podU1.UID)}}}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED {
		t.Fatalf("update = %v %q, want TASK_KILLED", u.GetState(), u.GetMessage())
	}
	if n := failures.Load(); n < 4 {
		t.Errorf("%d delete calls, want the 3 failed ones and a successful one", n)
	}
}

// startOrderNode is a readyNode that records which pods existed when Start ran.
type startOrderNode struct {
	readyNode
	client      *fake.Clientset
	podsAtStart []string
	startedCh   chan struct{}
	startOnce   sync.Once
}

func (n *startOrderNode) Start(ctx context.Context, agent mesos.AgentInfo) (string, error) {
	list, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	for _, p := range list.Items {
		n.podsAtStart = append(n.podsAtStart, p.Name)
	}
	n.mu.Unlock()
	defer n.startOnce.Do(func() { close(n.startedCh) })
	return n.readyNode.Start(ctx, agent)
}

// TestOrphanPodsDeletedBeforeKubeletStarts: pods a previous executor bound to
// this node (its tasks ended with it) are deleted before the new executor
// starts its kubelet, so the kubelet never runs a pod without a task. Pods
// of other nodes and pods that already terminated are left alone.
func TestOrphanPodsDeletedBeforeKubeletStarts(t *testing.T) {
	pod := func(name, uid, node string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	client := fake.NewClientset(
		pod("orphan", "o1", "node-a", corev1.PodRunning),
		pod("orphan-pending", "o2", "node-a", corev1.PodPending),
		pod("done", "d1", "node-a", corev1.PodFailed),
		pod("elsewhere", "e1", "node-b", corev1.PodRunning),
		pod("unbound", "x1", "", corev1.PodPending),
	)
	a := newTestAgent(t)
	node := &startOrderNode{client: client, startedCh: make(chan struct{})}
	runExecutor(t, a, New(a.mesosConfig(), client, node))
	select {
	case <-node.startedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("node not started")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	got := strings.Join(node.podsAtStart, " ")
	if want := "done elsewhere unbound"; got != want {
		t.Errorf("pods when the kubelet started: %q, want %q", got, want)
	}
}

// TestPodReplacedUnderSameNameEndsTask: when the informer sees the pod's name
// now held by a pod with another UID (as a relist after a missed delete and
// re-create delivers it: one update), the task of the old UID ends KILLED.
func TestPodReplacedUnderSameNameEndsTask(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("node-a")
	// The start-up sweep of pods left on the node may run before the LAUNCH
	// is handled: it must not delete the pod then (it retries, and spares it
	// once the task is known). Nothing else here deletes a pod.
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("no deletes in this test")
	})
	runExecutor(t, a, New(a.mesosConfig(), client, &readyNode{}))
	a.events <- launch(podtask.TaskID(podU1.UID), podU1.Encode())
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
	}
	replacement := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u2"},
		Spec: corev1.PodSpec{NodeName: "node-a"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), replacement, "ns"); err != nil {
		t.Fatal(err)
	}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED || !strings.Contains(u.GetMessage(), "replaced") {
		t.Fatalf("update = %v %q, want TASK_KILLED (replaced)", u.GetState(), u.GetMessage())
	}
}

// stopCheckNode is a readyNode that records, when Stop runs, the pods still bound to it.
type stopCheckNode struct {
	readyNode
	client     *fake.Clientset
	podsAtStop []string
	// actionsAtStop is how many API calls were made before Stop.
	actionsAtStop int
}

func (n *stopCheckNode) Stop(ctx context.Context) error {
	list, _ := n.client.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"),
		corev1.SchemeGroupVersion.WithKind("Pod"), "ns")
	n.mu.Lock()
	n.actionsAtStop = len(n.client.Actions())
	for _, p := range list.(*corev1.PodList).Items {
		if p.Spec.NodeName == "node-a" {
			n.podsAtStop = append(n.podsAtStop, p.Name)
		}
	}
	n.mu.Unlock()
	return n.readyNode.Stop(ctx)
}

// TestShutdownDuringAdmissionLeavesNoBoundPod: SHUTDOWN while a LAUNCH is
// between reading and binding its pod waits for the admission, so the pod it
// binds is deleted before the node stops.
func TestShutdownDuringAdmissionLeavesNoBoundPod(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("")
	inGet, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		once.Do(func() { close(inGet); <-release })
		return false, nil, nil
	})
	node := &stopCheckNode{client: client}
	done, _ := runExecutor(t, a, New(a.mesosConfig(), client, node))
	a.events <- launch(podtask.TaskID(podU1.UID), podU1.Encode())
	select {
	case <-inGet:
	case <-time.After(10 * time.Second):
		t.Fatal("admission did not read the pod")
	}
	a.events <- mesosexec.Event{Type: mesosexec.Event_SHUTDOWN}
	time.Sleep(300 * time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.stopped != 1 || len(node.podsAtStop) != 0 {
		t.Errorf("node stopped %d times with pods %v still bound to it, want once with none", node.stopped, node.podsAtStop)
	}
	time.Sleep(200 * time.Millisecond)
	for _, act := range client.Actions()[node.actionsAtStop:] {
		if act.GetSubresource() == "binding" {
			t.Errorf("pod bound after the node was stopped")
		}
	}
}

// TestEndedTaskGetsOneTerminalUpdate: a KILL that arrives after the task has
// ended (the framework kills the task of a pod it saw deleted, while the
// executor already reported it) gets no second terminal update: Mesos' agent
// refuses a status for a terminal task. Whether the pod went first or the
// KILL did, each task reports exactly one TASK_KILLED.
func TestEndedTaskGetsOneTerminalUpdate(t *testing.T) {
	kill := func(id string) mesosexec.Event {
		return mesosexec.Event{Type: mesosexec.Event_KILL, Kill: &mesosexec.Event_Kill{TaskID: mesos.TaskID{Value: id}}}
	}
	// nextEnd skips TASK_STARTING (the fake API server's informer ignores
	// the node field selector, so the pod is seen before and after binding).
	nextEnd := func(t *testing.T, a *testAgent) mesos.TaskStatus {
		t.Helper()
		for {
			if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
				return u
			}
		}
	}
	for _, killFirst := range []bool{false, true} {
		name := "pod deleted, then KILL"
		if killFirst {
			name = "KILL, then KILL again"
		}
		t.Run(name, func(t *testing.T) {
			a := newTestAgent(t)
			// Pending, not bound yet: a pod already bound to the node before
			// its LAUNCH is an orphan the executor's bring-up may delete.
			client := boundPodClient("")
			runExecutor(t, a, New(a.mesosConfig(), client, &readyNode{}))
			id := podtask.TaskID(podU1.UID)
			a.events <- launch(id, podU1.Encode())
			if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
				t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
			}
			if killFirst {
				a.events <- kill(id)
			} else if err := client.CoreV1().Pods("ns").Delete(t.Context(), "p", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if u := nextEnd(t, a); u.GetState() != mesos.TASK_KILLED {
				t.Fatalf("update = %v %q, want TASK_KILLED", u.GetState(), u.GetMessage())
			}
			a.events <- kill(id)
			select {
			case u := <-a.updates:
				t.Fatalf("update %v %q after the task ended, want none", u.GetState(), u.GetMessage())
			case <-time.After(time.Second):
			}
			// A task the executor never had is still answered.
			a.events <- kill("pod.never")
			if u := a.nextUpdate(t); u.TaskID.Value != "pod.never" || u.GetState() != mesos.TASK_KILLED {
				t.Fatalf("update = %s %v, want pod.never TASK_KILLED", u.TaskID.Value, u.GetState())
			}
		})
	}
}

// failingNode is a Node whose Start fails with err once release is closed.
type failingNode struct {
	readyNode
	release chan struct{}
	err     error
}

func (n *failingNode) Start(ctx context.Context, _ mesos.AgentInfo) (string, error) {
	select {
	case <-n.release:
	case <-ctx.Done():
	}
	return "", n.err
}

// TestNodeFailureFailsTasks: when the node cannot start, every task fails
// with the cause in its message and REASON_EXECUTOR_TERMINATED (not
// TASK_KILLED "killed before its pod was bound"), once, and Run returns the
// error.
func TestNodeFailureFailsTasks(t *testing.T) {
	a := newTestAgent(t)
	cause := errors.New("cgroup root /kubemesos/node-a: no cgroup hierarchy is mounted")
	node := &failingNode{release: make(chan struct{}), err: cause}
	ex := New(a.mesosConfig(), boundPodClient(""), node)
	done, runErr := runExecutor(t, a, ex)
	a.events <- launch(podtask.TaskID(podU1.UID), podU1.Encode())
	for deadline := time.Now().Add(10 * time.Second); ex.openTasks() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("LAUNCH not taken")
		}
	}
	close(node.release) // the task waits for the node
	u := a.nextUpdate(t)
	if u.GetState() != mesos.TASK_FAILED || u.Reason == nil || u.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Fatalf("update = %v (reason %v) %q, want TASK_FAILED REASON_EXECUTOR_TERMINATED", u.GetState(), u.Reason, u.GetMessage())
	}
	if msg := u.GetMessage(); !strings.HasPrefix(msg, MessageNodeFailed) || !strings.Contains(msg, cause.Error()) {
		t.Errorf("message %q: want %q and the cause %q", msg, MessageNodeFailed, cause)
	}
	select {
	case <-done:
		if !errors.Is(*runErr, cause) {
			t.Errorf("Run = %v, want the node's error", *runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not stop after the node failed")
	}
	select {
	case u := <-a.updates:
		t.Errorf("second update %v %q after TASK_FAILED", u.GetState(), u.GetMessage())
	default:
	}
}
