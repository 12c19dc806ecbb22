package conformance

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// TestHostPortConflictNeverSharesAnAgent: one replica more than agents,
// each wanting host port 31555: one Running replica per agent (its task
// holds port 31555 of that agent's Mesos ports), the last Pending with
// FailedScheduling naming the host port and no task.
func TestHostPortConflictNeverSharesAnAgent(t *testing.T) {
	ns := namespace(t)
	agents := agentHostnames(t)
	d := sleepers("hostport", int32(len(agents)+1), func(s *corev1.PodSpec) {
		s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 31555, Protocol: corev1.ProtocolTCP}}
	})
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var unbound []corev1.Pod
	eventually(t, 3*time.Minute, fmt.Sprintf("%d replicas Running, 1 unbound", len(agents)), func() (bool, string) {
		running, u, states := podsOf(t, ns, "hostport")
		unbound = u
		return len(running) == len(agents) && len(u) == 1, states
	})
	running, _, states := podsOf(t, ns, "hostport")
	perNode := map[string]int{}
	for _, n := range running {
		perNode[n]++
	}
	for _, a := range agents {
		if perNode[a] != 1 {
			t.Fatalf("agent %s runs %d replicas wanting host port 31555, want 1 (%s)", a, perNode[a], states)
		}
	}
	waitFailedScheduling(t, ns, unbound[0].Name, string(offermatcher.HostPortConflict))
	if _, launched := frameworkTasks(t)[unbound[0].UID]; launched {
		t.Fatalf("%s got a task though every agent's port 31555 is taken", unbound[0].Name)
	}
	// The Mesos side: each running replica's task holds port 31555.
	list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=hostport"})
	if err != nil {
		t.Fatal(err)
	}
	ports := taskPorts(t)
	for _, p := range list.Items {
		if p.Spec.NodeName == "" {
			continue
		}
		if got := ports[p.UID]; !containsPort(got, 31555) {
			t.Errorf("%s's task holds ports %v, want 31555", p.Name, got)
		}
	}
}

// taskPorts are the port ranges of the bridge's running pod tasks
// (operator API GET_TASKS), by pod UID.
func taskPorts(t *testing.T) map[types.UID][][2]uint64 {
	t.Helper()
	resp := operatorCall(t, &opv1.Call{Type: opv1.Call_GET_TASKS})
	out := map[types.UID][][2]uint64{}
	for _, tk := range resp.GetGetTasks().GetTasks() {
		for _, r := range tk.GetResources() {
			if r.GetName() != "ports" {
				continue
			}
			for _, rg := range r.GetRanges().GetRange() {
				uid, _ := podtask.UIDFromTaskID(tk.GetTaskID().Value)
				out[uid] = append(out[uid], [2]uint64{rg.GetBegin(), rg.GetEnd()})
			}
		}
	}
	return out
}

func containsPort(ranges [][2]uint64, port uint64) bool {
	for _, r := range ranges {
		if r[0] <= port && port <= r[1] {
			return true
		}
	}
	return false
}

// TestNodeSelectorOnAgentAttribute: the agents' Mesos attribute rack
// (rack:r<i> on the local cluster) is a node label: a pod selecting the
// rack of one agent runs there; a pod selecting a rack no agent has stays
// Pending with FailedScheduling naming the node selector, and gets no task.
func TestNodeSelectorOnAgentAttribute(t *testing.T) {
	ns := namespace(t)
	racks := map[string]string{}
	for _, a := range mesosAgents(t) {
		info := a.GetAgentInfo()
		for _, attr := range info.GetAttributes() {
			if attr.GetName() == "rack" && attr.GetText() != nil {
				racks[podtask.NodeName(info.GetHostname())] = attr.GetText().GetValue()
			}
		}
	}
	if len(racks) == 0 {
		t.Skip("no agent has a rack attribute")
	}
	var node, rack string
	for n, r := range racks {
		if n > node {
			node, rack = n, r
		}
	}
	pods := cluster.client.CoreV1().Pods(ns)
	in := sleeper("in-rack")
	in.Spec.NodeSelector = map[string]string{"rack": rack}
	nowhere := sleeper("no-such-rack")
	nowhere.Spec.NodeSelector = map[string]string{"rack": "no-such-rack"}
	for _, p := range []*corev1.Pod{in, nowhere} {
		if _, err := pods.Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got := waitRunning(t, ns, "in-rack")
	if got.Spec.NodeName != node {
		t.Errorf("pod selecting rack %s runs on %s, want %s (racks %v)", rack, got.Spec.NodeName, node, racks)
	}
	if st := frameworkTasks(t)[got.UID]; st != "TASK_RUNNING" {
		t.Errorf("in-rack task %q, want TASK_RUNNING", st)
	}
	waitFailedScheduling(t, ns, "no-such-rack", string(offermatcher.NodeSelectorMismatch))
	p, err := pods.Get(t.Context(), "no-such-rack", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
		t.Errorf("no-such-rack is %s on %q, want Pending and unbound", p.Status.Phase, p.Spec.NodeName)
	}
	if _, launched := frameworkTasks(t)[p.UID]; launched {
		t.Errorf("no-such-rack got a task")
	}
}
