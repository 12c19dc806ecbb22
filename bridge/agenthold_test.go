package bridge_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
)

// brokenNodeEnv runs the real kubelet-executor on an agent whose node cannot
// start: the agent listens on loopback, so the node IP would be 127.0.0.1,
// which the kubelet refuses; the executor finds that out before it touches
// the host.
func (c *testCluster) brokenNodeEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		kubeletExecutorEnv:                    "1",
		"PATH":                                os.Getenv("PATH"),
		kubeletexecutor.EnvKubeconfig:         c.execKubeconfig,
		kubeletexecutor.EnvExecutorKubeconfig: c.execKubeconfig,
		kubeletexecutor.EnvClientCA:           dir + "/ca.crt",
		kubeletexecutor.EnvPodCIDR:            "10.244.7.0/24",
		kubeletexecutor.EnvStateDir:           dir,
		kubeletexecutor.EnvCNIConfDir:         dir,
		kubeletexecutor.EnvBinDir:             dir,
	}
}

// attempts counts the tasks of the pod with this UID that the master knows
// (completed_tasks and tasks), by state. It fails the test if a task ID
// appears twice: every launch must have its own.
func (c *testCluster) attempts(t *testing.T, uid types.UID) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tk := range c.launchesOf(t, uid) {
		out[tk.State]++
	}
	return out
}

// launchesOf are the tasks of the pod with this UID that the master knows,
// completed first; the test fails if two share a task ID.
func (c *testCluster) launchesOf(t *testing.T, uid types.UID) []bridge.StateTask {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	out := fw.PodTasks()[uid]
	seen := map[string]bool{}
	for _, tk := range out {
		if seen[tk.ID] {
			t.Fatalf("task ID %s used twice by the framework", tk.ID)
		}
		seen[tk.ID] = true
	}
	return out
}

// failedSchedulingWith returns the FailedScheduling event messages of pod name
// and whether one contains all of want.
func (c *testCluster) failedSchedulingWith(t *testing.T, name string, want ...string) (bool, string) {
	evs, err := c.client.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, e := range evs.Items {
		if e.Reason != k8sapi.ReasonFailedScheduling || e.InvolvedObject.Name != name {
			continue
		}
		seen = append(seen, e.Message)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(e.Message, w)
		}
		if ok {
			return true, ""
		}
	}
	return false, fmt.Sprintf("events %q", seen)
}

// TestNodeThatCannotStartHoldsItsAgentBack: the real kubelet-executor on an
// agent whose node cannot start reports TASK_FAILED with the cause
// (REASON_EXECUTOR_TERMINATED), the user sees the cause in a FailedScheduling
// event, and the bridge launches there again only after a hold that doubles
// with every failure (a bounded number of attempts) while the pod goes to an
// agent that works once there is one.
func TestNodeThatCannotStartHoldsItsAgentBack(t *testing.T) {
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) {
		p.RelaunchBackoff, p.MaxRelaunchBackoff = 200*time.Millisecond, time.Second
		p.AgentBackoff, p.MaxAgentBackoff = 2*time.Second, time.Minute
		// Pod launches on the broken agent are the subject here; with node
		// tasks no pod would be launched there (TestNodeTaskOfABrokenNode).
		p.NodeTasks = false
	})
	c.startAgent("cpus:2;mem:2048", c.brokenNodeEnv(t))
	ctx := t.Context()
	p, err := c.client.CoreV1().Pods("default").Create(ctx, pod("stuck", "250m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cause := "node IP 127.0.0.1 cannot be a loopback"
	eventually(t, 30*time.Second, "the cause in a FailedScheduling event", func() (bool, string) {
		return c.failedSchedulingWith(t, "stuck", "TASK_FAILED", "REASON_EXECUTOR_TERMINATED", kubeletexecutor.MessageNodeFailed, cause)
	})
	first := time.Now()
	if a := c.attempts(t, p.UID); a["TASK_KILLED"] != 0 || a["TASK_FAILED"] == 0 {
		t.Fatalf("attempts by state %v: want TASK_FAILED, no TASK_KILLED", a)
	}
	// Holds of 2 s, 4 s, 8 s after the 1st, 2nd, 3rd failure: relaunches at
	// about +2 s and +6 s, the next not before +14 s.
	time.Sleep(time.Until(first.Add(9 * time.Second)))
	mid := c.attempts(t, p.UID)["TASK_FAILED"]
	time.Sleep(time.Until(first.Add(13 * time.Second)))
	end := c.attempts(t, p.UID)["TASK_FAILED"]
	if end > 3 || end != mid {
		t.Fatalf("%d failed launches on the broken agent within 13 s of the first (%d at 9 s): want at most 3, none after 9 s", end, mid)
	}
	if ok, msg := c.failedSchedulingWith(t, "stuck", "agent-1", "held back"); !ok {
		t.Errorf("no FailedScheduling event names the held-back agent: %s", msg)
	}

	// An agent that works gets the pod.
	c.startAgent("cpus:2;mem:2048", c.execEnv)
	eventually(t, 30*time.Second, "the pod running on agent-2", func() (bool, string) {
		got, err := c.client.CoreV1().Pods("default").Get(ctx, "stuck", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := c.attempts(t, p.UID)["TASK_RUNNING"]
		return got.Spec.NodeName == "agent-2" && running == 1, fmt.Sprintf("node %q, phase %s, attempts %v", got.Spec.NodeName, got.Status.Phase, c.attempts(t, p.UID))
	})
	// Every launch had its own task ID (launchesOf checks that none
	// repeats): the failed ones, then the one that runs.
	if launches := c.launchesOf(t, p.UID); len(launches) < 3 {
		t.Fatalf("tasks of the pod %+v: want its failed launches (at least 2) and the running one, each with its own ID", launches)
	}
}
