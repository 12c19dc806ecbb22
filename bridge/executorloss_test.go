package bridge

import (
	"fmt"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"pgregory.net/rapid"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// executorTerminated is what an agent reports for a task whose executor
// ended under it (the reference capture of Mesos 1.12).
func executorTerminated(taskID, agentID string) mesos.TaskStatus {
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: agentID},
		State: mesos.TASK_FAILED.Enum(), Source: mesos.SOURCE_AGENT.Enum(), Reason: mesos.REASON_EXECUTOR_TERMINATED.Enum(),
		Message: proto("Executor terminated"), UUID: []byte("u1")}
}

// boundPod is a Running pod bound to node.
func boundPod(name, node string) *corev1.Pod {
	p := testPod(name)
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	return p
}

func TestRelaunchAction(t *testing.T) {
	bound := boundPod("web", "a1")
	deleting := bound.DeepCopy()
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	nodeFailed := executorTerminated("pod.u", "a1")
	nodeFailed.Source = mesos.SOURCE_EXECUTOR.Enum()
	launchFailed := executorTerminated("pod.u", "a1")
	launchFailed.Reason = mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum()
	podFailed := executorTerminated("pod.u", "a1")
	podFailed.Source, podFailed.Reason = mesos.SOURCE_EXECUTOR.Enum(), nil
	gone := executorTerminated("pod.u", "a1")
	gone.State, gone.Source, gone.Reason = mesos.TASK_GONE.Enum(), mesos.SOURCE_MASTER.Enum(), mesos.REASON_AGENT_REMOVED.Enum()
	reconciled := executorTerminated("pod.u", "a1")
	reconciled.State, reconciled.Source, reconciled.Reason = mesos.TASK_GONE.Enum(), mesos.SOURCE_MASTER.Enum(), mesos.REASON_RECONCILIATION.Enum()
	dropped := executorTerminated("pod.u", "a1")
	dropped.State, dropped.Source, dropped.Reason = mesos.TASK_DROPPED.Enum(), mesos.SOURCE_MASTER.Enum(), nil
	for _, tc := range []struct {
		name    string
		st      mesos.TaskStatus
		pod     *corev1.Pod
		waiting bool
		want    PodAction
	}{
		{"the agent says the executor ended", executorTerminated("pod.u", "a1"), bound, false, RelaunchPod},
		{"again, for a pod already waiting", executorTerminated("pod.u", "a1"), bound, true, RelaunchPod},
		{"the new executor's node could not start, pod waiting", nodeFailed, bound, true, RelaunchPod},
		{"the new executor could not be launched, pod waiting", launchFailed, bound, true, RelaunchPod},
		{"a node that could not start under a pod not waiting", nodeFailed, bound, false, LeavePod},
		{"an executor that could not be launched under a pod not waiting", launchFailed, bound, false, FailPod},
		{"the pod itself failed", podFailed, bound, true, LeavePod},
		{"a relaunch the master never saw, pod waiting", reconciled, bound, true, RelaunchPod},
		{"a relaunch dropped, pod waiting", dropped, bound, true, RelaunchPod},
		{"a task the master never saw, pod not waiting", reconciled, bound, false, DeletePod},
		{"the agent is gone", gone, bound, true, DeletePod},
		{"the pod is being deleted", executorTerminated("pod.u", "a1"), deleting, false, LeavePod},
		{"the pod no longer exists", executorTerminated("pod.u", "a1"), nil, true, LeavePod},
	} {
		if got := relaunchAction(tc.st, tc.pod, tc.waiting); got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

// placementOffer is an offer as placement sees it.
func placementOffer(id, agent string, cpu, mem int64, ports ...offermatcher.PortRange) offermatcher.Offer {
	return offermatcher.Offer{ID: id, AgentID: agent, NodeName: agent,
		Resources: offermatcher.Resources{MilliCPU: cpu, MemoryMB: mem, Ports: ports},
		Taints:    []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}}
}

func TestPlanRelaunches(t *testing.T) {
	now := time.Unix(1000, 0)
	pods := map[types.UID]*corev1.Pod{}
	lost := map[types.UID]*lostPod{}
	add := func(p *corev1.Pod, agent string, deadline time.Time) {
		pods[p.UID] = p
		lost[p.UID] = &lostPod{Pod: podtask.RefOf(p), AgentID: agent, Node: p.Spec.NodeName, Deadline: deadline}
	}
	a, b := boundPod("a", "a1"), boundPod("b", "a1") // 100m, 64Mi each
	web := boundPod("web", "a1")
	web.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	add(a, "a1", now.Add(time.Minute))
	add(b, "a1", now.Add(time.Minute))
	add(web, "a1", now.Add(time.Minute))
	late := boundPod("late", "a1")
	add(late, "a1", now)
	onHeld := boundPod("held", "a2")
	add(onHeld, "a2", now.Add(time.Minute))
	sent := boundPod("sent", "a1")
	add(sent, "a1", now.Add(time.Minute))
	lost[sent.UID].TaskID = "pod.uid-sent.1.2"
	gone := boundPod("gone", "a1")
	add(gone, "a1", now.Add(time.Minute))
	delete(pods, gone.UID)
	moved := boundPod("moved", "a3")
	add(moved, "a1", now.Add(time.Minute))
	lost[moved.UID].Node = "a1" // it was on a1's node

	offers := []offermatcher.Offer{
		placementOffer("o-a1", "a1", 150, 1000), // room for one of a and b, no port 8080
		placementOffer("o-a2", "a2", 4000, 4000),
		placementOffer("o-a3", "a3", 4000, 4000),
	}
	get := func(uid types.UID) (*corev1.Pod, bool) { p, ok := pods[uid]; return p, ok }
	plan := planRelaunches(lost, get, offers, DefaultPolicy.MinPod, func(agent string) bool { return agent == "a2" }, now)
	if got := assigned(plan); got != "o-a1:uid-a" {
		t.Errorf("launches %s, want o-a1:uid-a (the first pod in UID order that fits its own agent's offer, despite its taints)", got)
	}
	if len(plan.Evict) != 1 || plan.Evict[0].Pod.UID != late.UID {
		t.Errorf("evicted %v, want the pod whose window ended", plan.Evict)
	}
	if want := []types.UID{gone.UID, moved.UID}; fmt.Sprint(plan.Drop) != fmt.Sprint(want) {
		t.Errorf("dropped %v, want %v (deleted, bound elsewhere)", plan.Drop, want)
	}

	// With the port and room for all, every waiting pod of a1 goes.
	offers[0] = placementOffer("o-a1", "a1", 1000, 1000, offermatcher.PortRange{Begin: 8000, End: 9000})
	plan = planRelaunches(lost, get, offers, DefaultPolicy.MinPod, func(string) bool { return false }, now)
	if got := assigned(plan); got != "o-a1:uid-a,uid-b,uid-web o-a2:uid-held" {
		t.Errorf("launches %s", got)
	}
	for _, as := range plan.Launch {
		for _, a := range as {
			if a.Pod.UID == string(web.UID) && fmt.Sprint(a.Ports) != "[8080]" {
				t.Errorf("web relaunched with host ports %v, want [8080]", a.Ports)
			}
		}
	}
}

// assigned renders a plan's launches as "offer:uid,uid offer:uid", sorted by offer.
func assigned(p relaunchPlan) string {
	var out []string
	for _, id := range []string{"o-a1", "o-a2", "o-a3"} {
		var uids []string
		for _, a := range p.Launch[id] {
			uids = append(uids, a.Pod.UID)
		}
		if len(uids) > 0 {
			out = append(out, id+":"+strings.Join(uids, ","))
		}
	}
	return strings.Join(out, " ")
}

// TestPropertyRelaunchesStayOnTheirAgent: whatever the lost pods, their
// windows and the offers, a relaunch goes only to an offer of the pod's own
// agent and node, before its window ends, never for a pod already sent,
// deleted or held back; no offer is promised more than it has; and each
// pod gets at most one of launch, evict, drop.
func TestPropertyRelaunchesStayOnTheirAgent(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := time.Unix(1000, 0)
		agents := []string{"a1", "a2", "a3"}
		pods := map[types.UID]*corev1.Pod{}
		lost := map[types.UID]*lostPod{}
		for i := range rapid.IntRange(0, 12).Draw(rt, "pods") {
			p := boundPod(fmt.Sprint("p", i), rapid.SampledFrom(agents).Draw(rt, "node"))
			agent := p.Spec.NodeName
			if rapid.IntRange(0, 9).Draw(rt, "moved") == 0 {
				agent = rapid.SampledFrom(agents).Draw(rt, "agent")
			}
			lp := &lostPod{Pod: podtask.RefOf(p), AgentID: agent, Node: p.Spec.NodeName,
				Deadline: now.Add(time.Duration(rapid.IntRange(-5, 60).Draw(rt, "window")) * time.Second)}
			if rapid.IntRange(0, 5).Draw(rt, "sent") == 0 {
				lp.TaskID = "pod.x.1.1"
			}
			lost[p.UID] = lp
			if rapid.IntRange(0, 7).Draw(rt, "deleted") != 0 {
				pods[p.UID] = p
			}
		}
		var offers []offermatcher.Offer
		for i := range rapid.IntRange(0, 5).Draw(rt, "offers") {
			agent := rapid.SampledFrom(agents).Draw(rt, "offer agent")
			offers = append(offers, placementOffer(fmt.Sprint("o", i), agent,
				rapid.Int64Range(0, 500).Draw(rt, "cpu"), rapid.Int64Range(0, 300).Draw(rt, "mem")))
		}
		heldAgent := rapid.SampledFrom(append(agents, "")).Draw(rt, "held")
		get := func(uid types.UID) (*corev1.Pod, bool) { p, ok := pods[uid]; return p, ok }
		plan := planRelaunches(lost, get, offers, DefaultPolicy.MinPod, func(a string) bool { return a == heldAgent }, now)

		seen := map[types.UID]string{}
		mark := func(uid types.UID, what string) {
			if prev, ok := seen[uid]; ok {
				rt.Fatalf("pod %s both %s and %s", uid, prev, what)
			}
			seen[uid] = what
		}
		for _, lp := range plan.Evict {
			mark(lp.Pod.UID, "evicted")
			if now.Before(lp.Deadline) {
				rt.Fatalf("pod %s evicted before its window ended", lp.Pod.UID)
			}
		}
		for _, uid := range plan.Drop {
			mark(uid, "dropped")
		}
		for _, o := range offers {
			var cpu, mem int64
			for _, a := range plan.Launch[o.ID] {
				uid := types.UID(a.Pod.UID)
				mark(uid, "launched")
				lp, p := lost[uid], pods[uid]
				switch {
				case p == nil:
					rt.Fatalf("deleted pod %s launched", uid)
				case lp.AgentID != o.AgentID || lp.Node != o.NodeName || p.Spec.NodeName != o.NodeName:
					rt.Fatalf("pod %s of agent %s, node %s launched on %s of agent %s", uid, lp.AgentID, lp.Node, o.ID, o.AgentID)
				case !now.Before(lp.Deadline), lp.TaskID != "", lp.AgentID == heldAgent:
					rt.Fatalf("pod %s launched past its window, twice or on a held agent: %+v", uid, lp)
				}
				cpu += a.Pod.Resources.MilliCPU
				mem += a.Pod.Resources.MemoryMB
			}
			if cpu > o.Resources.MilliCPU || mem > o.Resources.MemoryMB {
				rt.Fatalf("offer %s promised %dm/%dMB of %dm/%dMB", o.ID, cpu, mem, o.Resources.MilliCPU, o.Resources.MemoryMB)
			}
		}
	})
}

// lossTest is a loop test of pods bound to agent a1 whose executor dies.
type lossTest struct {
	*loopTest
	pod *corev1.Pod
	// task is the pod's running task.
	task string
}

func newLossTest(t *testing.T, window time.Duration) *lossTest {
	t.Helper()
	pod := boundPod("web", "a1")
	l := newLoopTest(t, pod)
	l.s.policy.AdoptWindow = window
	task := podtask.TaskID(pod.UID, podtask.Attempt{Epoch: 1, Seq: 1})
	l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: task}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum()}) // adopted: launched before
	if l.taskOf(pod.UID) != task {
		t.Fatalf("running task not adopted")
	}
	l.master.take(0)
	return &lossTest{loopTest: l, pod: pod, task: task}
}

// offerOf hands the scheduler an offer of agent with cpu and mem, running executors.
func (l *loopTest) offerOf(t *testing.T, agent string, cpu, mem int64, executors ...string) string {
	t.Helper()
	l.offers++
	id := fmt.Sprintf("o-%d", l.offers)
	o := mesos.Offer{
		ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: agent,
		FrameworkID: mesos.FrameworkID{Value: "fw-1"},
		Resources:   toMesos(offermatcher.Resources{MilliCPU: cpu, MemoryMB: mem}, nil, "kubernetes"),
	}
	for _, e := range executors {
		o.ExecutorIDs = append(o.ExecutorIDs, mesos.ExecutorID{Value: e})
	}
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestExecutorKilledPodLaunchedAgainOnItsAgent: the agent reports a bound
// pod's task TASK_FAILED / REASON_EXECUTOR_TERMINATED. The pod is not marked
// Failed; an offer of another agent is not used for it, nor one of its agent
// too small for it and the new executor; the next one that fits launches
// the same pod there as a new task, with the same resources and the
// executor's, and its task's RUNNING from the new executor ends the wait.
func TestExecutorKilledPodLaunchedAgainOnItsAgent(t *testing.T) {
	l := newLossTest(t, time.Minute)
	l.s.executor.Resources = offermatcher.Resources{MilliCPU: 100, MemoryMB: 128}
	l.update(t, executorTerminated(l.task, "a1"))
	if len(l.report.failed) != 0 {
		t.Fatalf("pod marked Failed: %v", l.report.failed)
	}
	if _, ok := l.s.tasks.Get(l.pod.UID); ok {
		t.Fatal("the ended task is still in the registry")
	}
	if acks := l.master.take(scheduler.Call_ACKNOWLEDGE); len(acks) != 1 {
		t.Fatalf("want the update acknowledged, got %d", len(acks))
	}

	l.offerOf(t, "a2", 4000, 4000)
	l.offerOf(t, "a1", 150, 150) // the pod (100m, 64Mi) fits, not with the executor (100m, 128MB)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("launched %v: not on another agent, not without room for the executor", got)
	}

	l.offerOf(t, "a1", 200, 192)
	l.cycle(t)
	accepts := l.master.take(scheduler.Call_ACCEPT)
	got := launchedTasks(accepts)
	if len(got) != 1 || podOf(got[0]) != l.pod.UID || got[0] == l.task {
		t.Fatalf("want one new task of the pod, got %v (old %s)", got, l.task)
	}
	ti := accepts[0].GetAccept().GetOperations()[0].GetLaunch().GetTaskInfos()[0]
	if ti.AgentID.Value != "a1" || ti.Executor.ExecutorID.Value != l.s.executor.ID() {
		t.Errorf("relaunch on %s with executor %s, want a1 and %s", ti.AgentID.Value, ti.Executor.ExecutorID.Value, l.s.executor.ID())
	}
	if r := fromMesos(ti.Resources); r.MilliCPU != 100 || r.MemoryMB != 64 {
		t.Errorf("relaunch charged %+v, want the pod's 100m/64Mi", r)
	}
	ref, err := podtask.DecodePodRef(ti.Data)
	if err != nil || ref != podtask.RefOf(l.pod) {
		t.Errorf("task data %v %v", ref, err)
	}

	// The old task's end again (an update resent, a reconciliation answer):
	// no second relaunch while the first is on its way.
	l.update(t, executorTerminated(l.task, "a1"))
	l.offerOf(t, "a1", 4000, 4000)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("launched %v while the relaunch %s is on its way", got, ti.TaskID.Value)
	}

	l.update(t, mesos.TaskStatus{TaskID: ti.TaskID, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum()})
	if len(l.s.lost) != 0 {
		t.Errorf("adopted pod still waits: %+v", l.s.lost)
	}
	l.offerOf(t, "a1", 4000, 4000, l.s.executor.ID())
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Errorf("launched again after adoption: %v", got)
	}
	if len(l.report.failed) != 0 {
		t.Errorf("pod marked Failed: %v", l.report.failed)
	}
}

// TestExecutorLostPodEvictedAfterTheWindow: no offer of its agent fits the
// pod within the window (another framework took the resources): the pod is
// marked Failed with ReasonExecutorLost; a relaunch whose new executor could
// not start counts against the same window.
func TestExecutorLostPodEvictedAfterTheWindow(t *testing.T) {
	l := newLossTest(t, time.Minute)
	start := time.Now()
	l.s.now = func() time.Time { return start }
	l.update(t, executorTerminated(l.task, "a1"))

	// A relaunch whose new executor fails to start its node: wait again.
	l.offerOf(t, "a1", 4000, 4000)
	l.cycle(t)
	got := launchedTasks(l.master.take(scheduler.Call_ACCEPT))
	if len(got) != 1 {
		t.Fatalf("want a relaunch, got %v", got)
	}
	failed := executorTerminated(got[0], "a1")
	failed.Source, failed.Message = mesos.SOURCE_EXECUTOR.Enum(), proto("node could not start: no cgroup")
	l.update(t, failed)
	if len(l.report.failed) != 0 {
		t.Fatalf("pod marked Failed within the window: %v", l.report.failed)
	}

	l.s.now = func() time.Time { return start.Add(59 * time.Second) }
	l.offerOf(t, "a1", 50, 50) // too small
	l.cycle(t)
	if len(l.report.failed) != 0 {
		t.Fatalf("pod marked Failed within the window: %v", l.report.failed)
	}
	l.s.now = func() time.Time { return start.Add(time.Minute) }
	l.cycle(t)
	if len(l.report.failed) != 1 || l.report.failed[0] != "web: "+ReasonExecutorLost {
		t.Fatalf("want the pod evicted with %s once the window ended, got %v", ReasonExecutorLost, l.report.failed)
	}
	l.offerOf(t, "a1", 4000, 4000)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Errorf("evicted pod launched: %v", got)
	}
}

// TestNoAdoptWindowFailsThePod: with AdoptWindow 0 the pod is marked Failed
// at once, as before the hot update.
func TestNoAdoptWindowFailsThePod(t *testing.T) {
	l := newLossTest(t, 0)
	l.update(t, executorTerminated(l.task, "a1"))
	if len(l.report.failed) != 1 || l.report.failed[0] != "web: MesosTaskFailed" {
		t.Fatalf("got %v", l.report.failed)
	}
}

// TestStaleExecutorAskedToRetire: the bridge runs a new executor
// configuration; an agent whose offer shows a kubelet-executor of another
// configuration gets no launch (no second executor for its node), its
// offer is declined, and the old executor is asked to retire, at most every
// retireEvery; its tasks' TASK_FAILED / REASON_EXECUTOR_TERMINATED then
// brings the pod to the new executor.
func TestStaleExecutorAskedToRetire(t *testing.T) {
	l := newLossTest(t, time.Minute)
	pending := testPod("new")
	l.pods.pods[pending.UID] = pending
	old := podtask.ExecutorIDOf(ExecutorSpec{Command: "old executor"}.commandInfo(), nil)
	start := time.Now()
	l.s.now = func() time.Time { return start }
	offer := l.offerOf(t, "a1", 4000, 4000, old)
	l.cycle(t)
	calls := l.master.calls
	l.master.calls = nil
	var msgs, declined, launched []string
	for _, c := range calls {
		switch c.GetType() {
		case scheduler.Call_MESSAGE:
			m := c.GetMessage()
			msgs = append(msgs, m.AgentID.Value+"/"+m.ExecutorID.Value+"/"+string(m.Data))
		case scheduler.Call_DECLINE:
			for _, id := range c.GetDecline().OfferIDs {
				declined = append(declined, id.Value)
			}
		case scheduler.Call_ACCEPT:
			launched = append(launched, launchedTasks([]*scheduler.Call{c})...)
		}
	}
	if want := "a1/" + old + "/" + podtask.MessageRetire; len(msgs) != 1 || msgs[0] != want {
		t.Errorf("messages %v, want %s", msgs, want)
	}
	if len(declined) != 1 || declined[0] != offer || len(launched) != 0 {
		t.Errorf("declined %v (want %s), launched %v (want none)", declined, offer, launched)
	}
	l.offerOf(t, "a1", 4000, 4000, old)
	l.cycle(t)
	if got := l.master.take(scheduler.Call_MESSAGE); len(got) != 0 {
		t.Errorf("asked again within %v: %d messages", retireEvery, len(got))
	}
	l.s.now = func() time.Time { return start.Add(retireEvery) }
	l.offerOf(t, "a1", 4000, 4000, old)
	l.cycle(t)
	if got := l.master.take(scheduler.Call_MESSAGE); len(got) != 1 {
		t.Errorf("want the old executor asked again after %v, got %d messages", retireEvery, len(got))
	}

	// The old executor retired: its task ended, the pod goes to the new one.
	l.update(t, executorTerminated(l.task, "a1"))
	l.offerOf(t, "a1", 4000, 4000)
	l.cycle(t)
	got := launchedTasks(l.master.take(scheduler.Call_ACCEPT))
	var relaunched bool
	for _, id := range got {
		relaunched = relaunched || podOf(id) == l.pod.UID
	}
	if !relaunched || len(l.report.failed) != 0 {
		t.Errorf("after the retirement want the pod launched again, got %v, failed %v", got, l.report.failed)
	}
}
