package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDrainWaitsForPodDisruptionBudget: two replicas on one node under a
// PodDisruptionBudget of minAvailable 2: `kubectl drain` of that node
// cordons it but evicts nothing, and gives up naming the budget. With the
// budget lowered to 1 the drain evicts one replica at a time — the next
// only once the replacement runs on the other node — and completes: both
// replicas run elsewhere, the evicted pods' tasks ended.
func TestDrainWaitsForPodDisruptionBudget(t *testing.T) {
	ns := namespace(t)
	nodes := readyNodes(t)
	if len(nodes) < 2 {
		t.Skip("needs two nodes")
	}
	victim := nodes[0]
	// Both replicas on the victim: every other node cordoned while they start.
	for _, n := range nodes[1:] {
		kubectl(t, "cordon", n)
	}
	kubectlApply(t, fmt.Sprintf(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded, namespace: %s}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
`, ns))
	before := steady(t, ns, "guarded", 2, nil)
	for _, n := range nodes[1:] {
		kubectl(t, "uncordon", n)
	}
	t.Cleanup(func() { undo(t, "uncordon", victim) })
	for _, p := range before {
		if p.Spec.NodeName != victim {
			t.Fatalf("%s runs on %s, want %s", p.Name, p.Spec.NodeName, victim)
		}
	}
	eventually(t, time.Minute, "the budget allowing no disruption", func() (bool, string) {
		out := kubectl(t, "-n", ns, "get", "pdb", "guarded", "-o", "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}")
		return out == "2/0", out
	})

	drain := []string{"drain", victim, "--ignore-daemonsets", "--pod-selector=app=guarded"}
	out, err := kubectlOut(t.Context(), append(drain, "--timeout=20s")...)
	if err == nil {
		t.Fatalf("drain succeeded though the budget allows no eviction:\n%s", out)
	}
	if !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("the failed drain does not name the disruption budget: %v\n%s", err, out)
	}
	now, states := readyPods(t, ns, "app=guarded")
	if len(now) != 2 {
		t.Fatalf("a replica went while the budget forbade it: %s", states)
	}
	if !strings.Contains(kubectl(t, "get", "node", victim, "-o", "jsonpath={.spec.unschedulable}"), "true") {
		t.Errorf("the failed drain left %s schedulable", victim)
	}

	kubectl(t, "-n", ns, "patch", "pdb", "guarded", "--type=merge", "-p", `{"spec":{"minAvailable":1}}`)
	start := time.Now()
	kubectl(t, append(drain, "--timeout=3m")...)
	t.Logf("drain with minAvailable 1 took %v", time.Since(start).Round(time.Millisecond))
	after, states := readyPods(t, ns, "app=guarded")
	if len(after) < 1 {
		t.Fatalf("the drain left no replica running: %s", states)
	}
	eventually(t, 2*time.Minute, "2 replicas off "+victim, func() (bool, string) {
		ready, states := readyPods(t, ns, "app=guarded")
		for _, p := range ready {
			if p.Spec.NodeName == victim {
				return false, states
			}
		}
		return len(ready) == 2, states
	})
	tasks := frameworkTasks(t)
	for _, p := range before {
		if st := tasks[p.UID]; st == "TASK_RUNNING" || st == "" {
			t.Errorf("evicted %s: task %q, want it ended", p.Name, st)
		}
	}
}
