package bridge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosalloc "github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// operator makes a Mesos operator API call and returns the answer, failing
// the test if the master refuses it.
func (c *testCluster) operator(t *testing.T, call *opv1.Call) *opv1.Response {
	t.Helper()
	r, err := mesostest.OperatorCall(t.Context(), c.master, call)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// machine is the Mesos machine of test agent host (all listen on 127.0.0.1).
func machine(host string) mesos.MachineID {
	ip := "127.0.0.1"
	return mesos.MachineID{Hostname: &host, IP: &ip}
}

func (c *testCluster) scheduleMaintenance(t *testing.T, start time.Time, hosts ...string) {
	t.Helper()
	var ids []mesos.MachineID
	for _, h := range hosts {
		ids = append(ids, machine(h))
	}
	call := &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{
		Schedule: maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: ids, Unavailability: mesos.Unavailability{
			Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)},
		}}}},
	}}
	c.operator(t, call)
}

// inverseOfferAnswer is the bridge's last answer to an inverse offer for
// host's machine in GET_MAINTENANCE_STATUS ("" if none).
func (c *testCluster) inverseOfferAnswer(t *testing.T, host string) string {
	t.Helper()
	r := c.operator(t, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_STATUS})
	for _, m := range r.GetGetMaintenanceStatus().Status.DrainingMachines {
		if m.ID.GetHostname() != host {
			continue
		}
		for _, s := range m.Statuses {
			return s.GetStatus().String()
		}
	}
	return ""
}

// liveTasksOn are the kubemesos framework's live tasks on the agents of
// host (node tasks included), by ID.
func (c *testCluster) liveTasksOn(t *testing.T, host string) []string {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]bool{}
	for _, a := range st.Agents {
		if a.Hostname == host {
			agents[a.ID] = true
		}
	}
	var out []string
	if fw, ok := st.Framework("kubemesos"); ok {
		for _, tk := range fw.Tasks {
			if agents[tk.AgentID] && !strings.HasPrefix(tk.State, "TASK_KILLED") && tk.State != "TASK_FINISHED" {
				out = append(out, tk.ID+" "+tk.State)
			}
		}
	}
	return out
}

func hasMaintenanceTaint(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&podtask.MaintenanceTaint) })
}

// pinned is a pod on host that an eviction deletes at once (no kubelet
// runs here to end it).
func pinned(name, host string, labels map[string]string) *corev1.Pod {
	p := pod(name, "100m", "64Mi")
	zero := int64(0)
	p.Labels, p.Spec.TerminationGracePeriodSeconds = labels, &zero
	if host != "" {
		p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: host}
	}
	return p
}

// TestMaintenanceDrainsAgentBeforeAcceptingInverseOffer: Mesos maintenance
// scheduled for agent-1's machine through the operator API makes the
// bridge taint Node agent-1 and evict its pods: the unguarded ones go,
// the one a PodDisruptionBudget guards stays (the API server refuses its
// eviction), the inverse offer is declined (GET_MAINTENANCE_STATUS),
// /debug/maintenance and a Node event say why, and a new pod goes to
// agent-2. Once the budget is gone the last pod is evicted, the node task
// killed, and the inverse offer accepted, never while a kubemesos task
// runs on the agent (sampled every 100 ms). START_MAINTENANCE succeeds;
// STOP_MAINTENANCE brings the agent back under a new ID, its Node
// untainted and a node task running there.
func TestMaintenanceDrainsAgentBeforeAcceptingInverseOffer(t *testing.T) {
	c := newCluster(t, 1, func(p *bridge.Policy) { p.DrainRetry = time.Second }, "cpus:2;mem:2048", "cpus:2;mem:2048")
	ctx := t.Context()
	for _, n := range []string{"agent-1", "agent-2"} {
		node, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No kubelet makes it Ready: drop the not-ready taint the API
		// server puts on a new Node (no controller puts it back here).
		node.Spec.Taints = nil
		if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.startBridge()
	one := intstr.FromInt32(1)
	if _, err := c.client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range []*corev1.Pod{
		pinned("guarded", "agent-1", map[string]string{"app": "guarded"}),
		pinned("free-0", "agent-1", nil), pinned("free-1", "agent-1", nil),
	} {
		created, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(created.UID))
	}
	eventually(t, 20*time.Second, "3 tasks RUNNING", c.allRunning(t, &uids))
	// No kubelet reports them Running: an eviction ignores the budgets of
	// Pending pods.
	for _, name := range []string{"guarded", "free-0", "free-1"} {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
		if _, err := c.client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	c.scheduleMaintenance(t, time.Now(), "agent-1")
	eventually(t, 20*time.Second, "Node agent-1 tainted, the free pods evicted, the inverse offer declined", func() (bool, string) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		answer := c.inverseOfferAnswer(t, "agent-1")
		return hasMaintenanceTaint(n) && slices.Equal(names, []string{"guarded"}) && answer == mesosalloc.InverseOfferStatus_DECLINE.String(),
			fmt.Sprintf("tainted %v, pods %v, answer %q, bridge %+v", hasMaintenanceTaint(n), names, answer, c.maintenance.Report().Agents)
	})
	var blocked bridge.MaintainedAgent
	eventually(t, 10*time.Second, "/debug/maintenance: agent-1 blocked by the budget", func() (bool, string) {
		r := c.maintenance.Report()
		if len(r.Agents) != 1 {
			return false, fmt.Sprintf("%+v", r)
		}
		blocked = r.Agents[0]
		return blocked.Phase == bridge.PhaseBlocked && strings.Contains(blocked.Reason, "default/guarded"), fmt.Sprintf("%+v", blocked)
	})
	if blocked.Node != "agent-1" || blocked.Answer != "DECLINE" {
		t.Errorf("report %+v", blocked)
	}
	eventually(t, 10*time.Second, "a MaintenanceDrainBlocked event on Node agent-1", func() (bool, string) {
		evs, err := c.client.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Regarding.Kind == "Node" && e.Regarding.Name == "agent-1" {
				seen = append(seen, e.Reason)
				if e.Reason == k8sapi.ReasonDrainBlocked && strings.Contains(e.Note, "guarded") {
					return true, ""
				}
			}
		}
		return false, fmt.Sprint(seen)
	})
	late, err := c.client.CoreV1().Pods("default").Create(ctx, pinned("late", "", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the late pod bound", func() (bool, string) {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, late.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName != "", ""
	})
	if p, _ := c.client.CoreV1().Pods("default").Get(ctx, late.Name, metav1.GetOptions{}); p.Spec.NodeName != "agent-2" {
		t.Fatalf("a new pod went to %q while agent-1 drains", p.Spec.NodeName)
	}

	if err := c.client.PolicyV1().PodDisruptionBudgets("default").Delete(ctx, "guarded", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		live := c.liveTasksOn(t, "agent-1")
		answer := c.inverseOfferAnswer(t, "agent-1")
		if answer == mesosalloc.InverseOfferStatus_ACCEPT.String() {
			// Sampled after the answer: a task still live then was live when it was accepted.
			if len(live) > 0 {
				t.Fatalf("inverse offer accepted while tasks run on agent-1: %v", live)
			}
			if now := c.liveTasksOn(t, "agent-1"); len(now) > 0 {
				t.Fatalf("tasks on agent-1 after the ACCEPT: %v", now)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ACCEPT after the budget went: answer %q, live tasks %v", answer, live)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.client.CoreV1().Pods("default").Get(ctx, "guarded", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the guarded pod is still there after the ACCEPT: %v", err)
	}

	oldAgent := ""
	if st, err := bridge.FetchMasterState(ctx, c.master); err == nil {
		for _, a := range st.Agents {
			if a.Hostname == "agent-1" {
				oldAgent = a.ID
			}
		}
	}
	start := &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{machine("agent-1")}}}
	c.operator(t, start)
	stop := &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{machine("agent-1")}}}
	c.operator(t, stop)
	eventually(t, 30*time.Second, "agent-1 back: Node untainted, a node task running on a new agent", func() (bool, string) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err.Error()
		}
		tainted := err == nil && hasMaintenanceTaint(n)
		live := c.liveTasksOn(t, "agent-1")
		running := slices.ContainsFunc(live, func(s string) bool {
			return strings.HasPrefix(s, podtask.NodeTaskPrefix) && strings.HasSuffix(s, "TASK_RUNNING")
		})
		return !tainted && running, fmt.Sprintf("tainted %v, tasks %v", tainted, live)
	})
	for _, tk := range c.liveTasksOn(t, "agent-1") {
		if oldAgent != "" && strings.Contains(tk, oldAgent) {
			t.Errorf("task %s of the agent from before the maintenance", tk)
		}
	}
	if r := c.maintenance.Report(); len(r.Agents) != 0 {
		t.Errorf("agents still in maintenance: %+v", r.Agents)
	}
}

// TestMachineDownWithoutDrainIsAgentLoss: a machine taken DOWN while the
// window is still far (beyond --drain-ahead, so nothing was drained) is the
// loss of its agent: the pod there is force-deleted (TASK_GONE_BY_OPERATOR),
// as for an agent marked gone.
func TestMachineDownWithoutDrainIsAgentLoss(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048")
	p, _ := c.boundPod(t, "on-maintained-agent")
	c.scheduleMaintenance(t, time.Now().Add(time.Hour), "agent-1")
	start := &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{machine("agent-1")}}}
	c.operator(t, start)
	c.waitGoneByOperator(t, p)
}

// TestCancelledMaintenanceUntaintsNode: maintenance scheduled for the only
// agent drains it (tainted, node task killed, inverse offer accepted);
// once the operator posts an empty schedule the Node is untainted, the
// agent gets a node task again and a new pod runs there.
func TestCancelledMaintenanceUntaintsNode(t *testing.T) {
	c := newCluster(t, 1, func(p *bridge.Policy) { p.DrainRetry = time.Second }, "cpus:2;mem:2048")
	ctx := t.Context()
	node, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = nil // no kubelet: drop the API server's not-ready taint
	if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.startBridge()
	eventually(t, 20*time.Second, "a node task on agent-1", func() (bool, string) {
		live := c.liveTasksOn(t, "agent-1")
		return len(live) == 1, fmt.Sprint(live)
	})
	c.scheduleMaintenance(t, time.Now(), "agent-1")
	eventually(t, 20*time.Second, "agent-1 drained: tainted, no task, ACCEPT", func() (bool, string) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		live, answer := c.liveTasksOn(t, "agent-1"), c.inverseOfferAnswer(t, "agent-1")
		return hasMaintenanceTaint(n) && len(live) == 0 && answer == mesosalloc.InverseOfferStatus_ACCEPT.String(),
			fmt.Sprintf("tainted %v, tasks %v, answer %q", hasMaintenanceTaint(n), live, answer)
	})
	c.operator(t, &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{}})
	eventually(t, 20*time.Second, "agent-1 untainted, a node task again", func() (bool, string) {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		live := c.liveTasksOn(t, "agent-1")
		return !hasMaintenanceTaint(n) && len(live) == 1, fmt.Sprintf("tainted %v, tasks %v", hasMaintenanceTaint(n), live)
	})
	p, err := c.client.CoreV1().Pods("default").Create(ctx, pinned("after", "agent-1", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := []string{string(p.UID)}
	eventually(t, 20*time.Second, "the new pod RUNNING on agent-1", c.allRunning(t, &uids))
}
