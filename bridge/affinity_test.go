package bridge_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
)

// webPod is a replica labelled app=<app>.
func webPod(name, app string) *corev1.Pod {
	p := pod(name, "200m", "64Mi")
	p.Labels = map[string]string{"app": app}
	return p
}

// nodesOf waits until the pods named are bound and returns each one's node.
func (c *testCluster) nodesOf(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	eventually(t, 20*time.Second, fmt.Sprint(names, " bound"), func() (bool, string) {
		for _, n := range names {
			p, err := c.client.CoreV1().Pods("default").Get(t.Context(), n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if p.Spec.NodeName == "" {
				return false, n + " not bound"
			}
			out[n] = p.Spec.NodeName
		}
		return true, ""
	})
	return out
}

// TestRequiredAntiAffinitySpreadsReplicas: three replicas that repel each
// other on kubernetes.io/hostname, on two agents: two run, one per agent,
// and the third stays pending with the reason in its FailedScheduling event.
func TestRequiredAntiAffinitySpreadsReplicas(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048", "cpus:2;mem:2048")
	var names []string
	for i := range 3 {
		p := webPod(fmt.Sprintf("web-%d", i), "web")
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}},
		}}
		if _, err := c.client.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Name)
	}
	eventually(t, 20*time.Second, "2 replicas bound", func() (bool, string) {
		list, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		nodes := map[string]string{}
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				nodes[p.Name] = p.Spec.NodeName
			}
		}
		return len(nodes) == 2, fmt.Sprint(nodes)
	})
	list, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	var pending *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == "" {
			pending = p
			continue
		}
		if other, dup := seen[p.Spec.NodeName]; dup {
			t.Fatalf("%s and %s both on %s", other, p.Name, p.Spec.NodeName)
		}
		seen[p.Spec.NodeName] = p.Name
	}
	if pending == nil {
		t.Fatal("all three replicas bound on two agents")
	}
	c.waitFailedScheduling(t, pending.Name, string(offermatcher.PodAntiAffinityMismatch))
	time.Sleep(2 * time.Second) // offers of both agents come and go meanwhile
	if _, launched := c.tasks(t)[string(pending.UID)]; launched {
		t.Fatalf("%s was launched next to a replica", pending.Name)
	}
}

// TestTopologySpreadKeepsReplicasEven: four replicas with maxSkew 1 over
// kubernetes.io/hostname on two agents run two and two, although the larger
// agent, which least-allocated scoring prefers, could hold them all.
func TestTopologySpreadKeepsReplicasEven(t *testing.T) {
	c := startCluster(t, "cpus:8;mem:8192", "cpus:2;mem:2048")
	var names []string
	for i := range 4 {
		p := webPod(fmt.Sprintf("spread-%d", i), "spread")
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
		if _, err := c.client.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, p.Name)
		if i == 1 {
			// Half now, half in a later cycle: both ways must count.
			c.nodesOf(t, names...)
		}
	}
	perNode := map[string]int{}
	for _, n := range c.nodesOf(t, names...) {
		perNode[n]++
	}
	if len(perNode) != 2 || perNode["agent-1"] != 2 || perNode["agent-2"] != 2 {
		t.Fatalf("replicas per node %v, want 2 and 2", perNode)
	}
}
