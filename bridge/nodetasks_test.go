package bridge_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/podtask"
)

// nodeTasks returns the framework's node tasks by agent ID: the states of
// every node task ID seen there, sorted by task ID.
func (c *testCluster) nodeTasks(t *testing.T) map[string][]string {
	out := map[string][]string{}
	ids := map[string][]string{}
	tasks := c.allTasks(t)
	for id := range tasks {
		if agent, ok := podtask.AgentOfNodeTask(id); ok {
			ids[agent] = append(ids[agent], id)
		}
	}
	for agent, list := range ids {
		sort.Strings(list)
		for _, id := range list {
			out[agent] = append(out[agent], tasks[id])
		}
	}
	return out
}

// TestEveryAgentGetsOneNodeTask: with no pod at all, every agent that
// offers resources gets one node task, which runs; none gets a second
// while it runs; an agent whose executor dies gets a new one.
func TestEveryAgentGetsOneNodeTask(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048", "cpus:2;mem:2048")
	eventually(t, 20*time.Second, "a running node task on each agent", func() (bool, string) {
		nt := c.nodeTasks(t)
		running := 0
		for _, states := range nt {
			if len(states) == 1 && states[0] == "TASK_RUNNING" {
				running++
			}
		}
		return running == 2 && len(nt) == 2, fmt.Sprint(nt)
	})
	// Offers keep coming (node tasks never suppress): still one per agent.
	time.Sleep(3 * time.Second)
	nt := c.nodeTasks(t)
	for agent, states := range nt {
		if len(states) != 1 || states[0] != "TASK_RUNNING" {
			t.Fatalf("agent %s has node tasks %v, want one running", agent, states)
		}
	}

	var victim string
	for agent := range nt {
		victim = agent
		break
	}
	killExecutor(t, victim)
	eventually(t, 30*time.Second, "a new node task on the agent whose executor died", func() (bool, string) {
		states := c.nodeTasks(t)[victim]
		return len(states) == 2 && states[1] == "TASK_RUNNING", fmt.Sprint(states)
	})
}

// TestOnDemandLaunchesNoNodeTask: without node tasks, an idle bridge
// launches nothing.
func TestOnDemandLaunchesNoNodeTask(t *testing.T) {
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) { p.NodeTasks = false }, "cpus:2;mem:2048")
	time.Sleep(3 * time.Second)
	if tasks := c.allTasks(t); len(tasks) != 0 {
		t.Fatalf("tasks %v without any pod in on-demand mode", tasks)
	}
}

// TestNodeTaskOfABrokenNode: the real kubelet-executor on an agent whose
// node cannot start fails its node task (TASK_FAILED,
// REASON_EXECUTOR_TERMINATED, the cause in the message); the agent is held
// back, no pod is launched there, and a pending pod's FailedScheduling names
// the agent and the cause. A working agent then gets a node task and the pod.
func TestNodeTaskOfABrokenNode(t *testing.T) {
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) {
		p.AgentBackoff, p.MaxAgentBackoff = 5*time.Second, time.Minute
	})
	broken := c.startAgent("cpus:2;mem:2048", c.brokenNodeEnv(t))
	eventually(t, 30*time.Second, "the broken agent's node task failed", func() (bool, string) {
		states := c.nodeTasks(t)[broken.ID()]
		return len(states) >= 1 && states[0] == "TASK_FAILED", fmt.Sprint(states)
	})
	ctx := t.Context()
	p, err := c.client.CoreV1().Pods("default").Create(ctx, pod("waits", "250m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a FailedScheduling naming the held agent and the cause", func() (bool, string) {
		return c.failedSchedulingWith(t, "waits", "agent-1", "held back", "node IP 127.0.0.1 cannot be a loopback")
	})
	if a := c.attempts(t, p.UID); len(a) != 0 {
		t.Fatalf("the pod was launched on the broken agent: %v", a)
	}
	c.startAgent("cpus:2;mem:2048", c.execEnv)
	eventually(t, 30*time.Second, "the pod running on agent-2", func() (bool, string) {
		got, err := c.client.CoreV1().Pods("default").Get(ctx, "waits", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Spec.NodeName == "agent-2", fmt.Sprintf("node %q", got.Spec.NodeName)
	})
	// Within the hold (5 s, then 10 s) the broken agent had at most 2 node tasks.
	if states := c.nodeTasks(t)[broken.ID()]; len(states) > 2 {
		t.Errorf("node tasks on the broken agent: %v", states)
	}
}

// TestAgentGoneRemovesItsNode: an operator marks an agent gone; its node
// task becomes TASK_GONE_BY_OPERATOR and the bridge deletes the agent's Node
// (which the kubelet registered; here the test creates it).
func TestAgentGoneRemovesItsNode(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048")
	ctx := t.Context()
	if _, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var agentID string
	eventually(t, 20*time.Second, "the node task running", func() (bool, string) {
		for agent, states := range c.nodeTasks(t) {
			if len(states) == 1 && states[0] == "TASK_RUNNING" {
				agentID = agent
				return true, ""
			}
		}
		return false, fmt.Sprint(c.nodeTasks(t))
	})
	body := fmt.Sprintf(`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":%q}}}`, agentID)
	resp, err := http.Post("http://"+c.masters[0].addr+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %s", resp.Status)
	}
	eventually(t, 20*time.Second, "the Node removed", func() (bool, string) {
		_, err := c.client.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err, c.nodeTasks(t))
	})
}
