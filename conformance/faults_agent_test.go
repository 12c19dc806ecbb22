package conformance

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// Fault scenarios that take an agent away: its link cut (partition) or the
// agent with its executor and kubelet gone (loss).

// agentIDOf is the Mesos agent ID of the agent whose hostname is node.
func agentIDOf(t *testing.T, node string) string {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Agents {
		if podtask.NodeName(a.Hostname) == node {
			return a.ID
		}
	}
	t.Fatalf("no Mesos agent for node %s", node)
	return ""
}

// executorPIDs are the kubelet-executor processes Mesos started on agent,
// of any configuration (podtask.IsExecutorID; its kubelet and kube-proxy
// carry the same environment but are not the executor).
func executorPIDs(t *testing.T, agentID string) []int {
	t.Helper()
	var pids []int
	for _, pid := range mesostest.PIDsWithEnv(t, "MESOS_SLAVE_ID="+agentID) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "kubemesos" {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range strings.Split(string(env), "\x00") {
			if id, ok := strings.CutPrefix(kv, "MESOS_EXECUTOR_ID="); ok && podtask.IsExecutorID(id) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// fastEviction makes the pods leave a NotReady or unreachable node 5 s
// after the taint instead of the default 300 s.
func fastEviction(s *corev1.PodSpec) {
	secs := int64(5)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		s.Tolerations = append(s.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs})
	}
}

// TestAgentPartitionedPodsMoveAndNeverRunTwice: an agent's host is cut off
// the switch (master, API server and other hosts unreachable; its
// processes keep running). Its node goes NotReady and unreachable, its pods
// are replaced on the other agent; after the link is back the old pods'
// containers and tasks stop: no replica is lost, none runs twice.
func TestAgentPartitionedPodsMoveAndNeverRunTwice(t *testing.T) {
	requireFaults(t)
	agentLost(t, false)
}

// TestAgentLostPodsMoveAndNeverRunTwice: an agent dies — kill -9 of its
// Mesos agent and its kubelet-executor (the kubelet with it), the host cut
// off — and comes back later on the same work dir. Its pods are replaced
// on the other agent; when it comes back none of the old ones runs again.
func TestAgentLostPodsMoveAndNeverRunTwice(t *testing.T) {
	requireFaults(t)
	agentLost(t, true)
}

func agentLost(t *testing.T, kill bool) {
	ns := namespace(t)
	before := steady(t, ns, "steady", 3, fastEviction)
	w := watchedPods{}
	w.add(before...)
	victim := before[0].Spec.NodeName
	var onVictim []string
	for _, p := range before {
		if p.Spec.NodeName == victim {
			onVictim = append(onVictim, p.Name)
		}
	}
	agentID := agentIDOf(t, victim)
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		if err := cluster.dev.Heal(context.WithoutCancel(t.Context()), victim); err != nil {
			t.Errorf("heal %s: %v", victim, err)
		}
		if kill {
			if err := cluster.dev.Restart(victim); err != nil {
				t.Errorf("restart the Mesos agent %s: %v", victim, err)
			}
		}
		t.Logf("%s back", victim)
	}
	t.Cleanup(heal)
	if err := cluster.dev.Partition(t.Context(), victim); err != nil {
		t.Fatal(err)
	}
	if kill {
		pids := executorPIDs(t, agentID)
		t.Logf("kill -9 of Mesos agent %s and its executor %v", victim, pids)
		if err := cluster.dev.Kill(victim); err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	t.Logf("%s cut off; it ran %v", victim, onVictim)
	faultOutcome(t, outcome{ns: ns, selector: "app=steady", want: 3, avoidNode: victim, start: start, timeout: 5 * time.Minute, watched: w, afterRecovery: func() {
		// Mesos declares the agent unreachable (agent_ping_timeout ×
		// max_agent_ping_timeouts, 75 s here) and the bridge marks its Node.
		eventually(t, 3*time.Minute, victim+" marked unreachable by the bridge", func() (bool, string) {
			return markedUnreachable(t, victim)
		})
		heal()
		// Let the agent re-register and the node come back before counting
		// what still runs there.
		eventually(t, 3*time.Minute, victim+" Ready again", func() (bool, string) {
			nodes := readyNodes(t)
			for _, n := range nodes {
				if n == victim {
					return true, ""
				}
			}
			return false, fmt.Sprint(nodes)
		})
		eventually(t, time.Minute, victim+" without the unreachable taint", func() (bool, string) {
			n, err := cluster.client.CoreV1().Nodes().Get(t.Context(), victim, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			_, ours := n.Annotations[k8sapi.AnnotationUnreachableTaint]
			return !ours && !hasUnreachableTaint(n), fmt.Sprintf("taints %v, annotations %v", n.Spec.Taints, n.Annotations)
		})
	}})
}

func hasUnreachableTaint(n *corev1.Node) bool {
	for _, tn := range n.Spec.Taints {
		if tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// markedUnreachable reports whether the bridge marked the Node name as its
// agent unreachable: the node.kubernetes.io/unreachable:NoExecute taint,
// Ready not True, and the bridge's MesosAgentUnreachable event on the Node
// (the node lifecycle controller may have tainted it first; the event is
// the bridge's either way).
func markedUnreachable(t *testing.T, name string) (bool, string) {
	t.Helper()
	n, err := cluster.client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	ready := "none"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = string(c.Status) + "/" + c.Reason
		}
	}
	evs, err := cluster.client.CoreV1().Events(metav1.NamespaceAll).List(t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + name + ",reason=" + k8sapi.ReasonAgentUnreachable})
	if err != nil {
		return false, err.Error()
	}
	detail := fmt.Sprintf("taints %v, Ready %s, %d %s events", n.Spec.Taints, ready, len(evs.Items), k8sapi.ReasonAgentUnreachable)
	return hasUnreachableTaint(n) && !strings.HasPrefix(ready, "True") && len(evs.Items) > 0, detail
}
