package conformance

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// sleepers is a Deployment of busybox pods labelled app=name that sleep.
func sleepers(name string, replicas int32, spec func(*corev1.PodSpec)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "kubemesos.local/busybox:latest", Command: []string{"sleep", "3600"},
					ImagePullPolicy: corev1.PullIfNotPresent,
					Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}},
				}}},
			},
		},
	}
	spec(&d.Spec.Template.Spec)
	return d
}

// agentHostnames are the node names of the cluster's active Mesos agents.
func agentHostnames(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, a := range mesosAgents(t) {
		if a.GetActive() {
			out = append(out, podtask.NodeName(a.GetAgentInfo().Hostname))
		}
	}
	sort.Strings(out)
	return out
}

// podsOf lists the pods of app in ns: node per Running pod, and the pods
// not bound to a node.
func podsOf(t *testing.T, ns, app string) (running map[string]string, unbound []corev1.Pod, states string) {
	t.Helper()
	list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	running = map[string]string{}
	var s []string
	for _, p := range list.Items {
		s = append(s, fmt.Sprintf("%s:%s:%s", p.Name, p.Status.Phase, p.Spec.NodeName))
		switch {
		case p.Spec.NodeName == "":
			unbound = append(unbound, p)
		case p.Status.Phase == corev1.PodRunning:
			running[p.Name] = p.Spec.NodeName
		}
	}
	return running, unbound, strings.Join(s, " ")
}

// TestRequiredAntiAffinitySpreadsReplicasOverAgents: a Deployment whose pods
// repel each other on kubernetes.io/hostname, with one replica more than
// there are agents, runs one pod on each agent; the last stays Pending, its
// FailedScheduling event names pod anti-affinity, it has no Mesos task, and
// (on the suite's own cluster) `kubemesos why` names the reason per agent.
func TestRequiredAntiAffinitySpreadsReplicasOverAgents(t *testing.T) {
	ns := namespace(t)
	agents := agentHostnames(t)
	d := sleepers("anti", int32(len(agents)+1), func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
			}},
		}}
	})
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var unbound []corev1.Pod
	eventually(t, 3*time.Minute, fmt.Sprintf("%d replicas Running, 1 unbound", len(agents)), func() (bool, string) {
		running, u, states := podsOf(t, ns, "anti")
		unbound = u
		return len(running) == len(agents) && len(u) == 1, states
	})
	running, _, states := podsOf(t, ns, "anti")
	perNode := map[string]int{}
	for _, n := range running {
		perNode[n]++
	}
	for _, a := range agents {
		if perNode[a] != 1 {
			t.Fatalf("agent %s runs %d replicas, want 1 (%s)", a, perNode[a], states)
		}
	}
	last := unbound[0]
	waitFailedScheduling(t, ns, last.Name, string(offermatcher.PodAntiAffinityMismatch))
	if _, launched := frameworkTasks(t)[last.UID]; launched {
		t.Fatalf("%s got a task next to a replica", last.Name)
	}
	if !cluster.local {
		return // the bridge's debug listener is on its own host
	}
	why := filepath.Join(cluster.repo, "bin", "kubemesos")
	eventually(t, 30*time.Second, "kubemesos why naming pod anti-affinity", func() (bool, string) {
		out, err := exec.CommandContext(t.Context(), why, "why", "--bridge", cluster.bridgeDebug, "-n", ns, last.Name).CombinedOutput()
		return err == nil && strings.Contains(string(out), string(offermatcher.PodAntiAffinityMismatch)), fmt.Sprintf("%v: %s", err, out)
	})
}

// TestTopologySpreadKeepsReplicasEven: four replicas with a DoNotSchedule
// spread of maxSkew 1 over kubernetes.io/hostname run with at most one
// replica more on any agent than on another (2+2 on two agents).
func TestTopologySpreadKeepsReplicasEven(t *testing.T) {
	ns := namespace(t)
	agents := agentHostnames(t)
	d := sleepers("spread", 4, func(s *corev1.PodSpec) {
		s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
	})
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running map[string]string
	eventually(t, 3*time.Minute, "4 replicas Running", func() (bool, string) {
		r, _, states := podsOf(t, ns, "spread")
		running = r
		return len(r) == 4, states
	})
	perNode := map[string]int{}
	for _, n := range running {
		perNode[n]++
	}
	lo, hi := 4, 0
	for _, a := range agents {
		lo, hi = min(lo, perNode[a]), max(hi, perNode[a])
	}
	if hi-lo > 1 {
		t.Fatalf("replicas per agent %v over %v: skew %d > 1", perNode, agents, hi-lo)
	}
	if len(agents) == 2 && (perNode[agents[0]] != 2 || perNode[agents[1]] != 2) {
		t.Fatalf("replicas per agent %v, want 2+2", perNode)
	}
}
