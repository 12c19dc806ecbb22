package conformance

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// undo runs kubectl from a cleanup (t.Context is over by then), reporting
// a failure without stopping the other cleanups.
func undo(t *testing.T, args ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cluster.kubectl, append([]string{"--kubeconfig", cluster.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Errorf("kubectl %v: %v\n%s", args, err, out)
	}
}

// sleeper is a busybox pod that sleeps, with the given tolerations.
func sleeper(name string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "sleeper"}},
		Spec: corev1.PodSpec{
			Tolerations: tolerations,
			Containers: []corev1.Container{{
				Name: "c", Image: "kubemesos.local/busybox:latest", Command: []string{"sleep", "3600"},
				ImagePullPolicy: corev1.PullIfNotPresent,
				Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}},
			}},
		},
	}
}

// TestTaintKeepsUntoleratingPodsOffANode: with a NoSchedule taint on one
// node (kubectl taint), pods that do not tolerate it all run elsewhere; one
// that tolerates it runs too. With every other node cordoned, a new pod
// stays Pending and its FailedScheduling event names the
// untolerated taint.
func TestTaintKeepsUntoleratingPodsOffANode(t *testing.T) {
	ns := namespace(t)
	if len(readyNodes(t)) < 2 {
		// Nodes exist once a pod ran on their agent: bring both up.
		kubectl(t, "apply", "-n", ns, "-f", filepath.Join(cluster.repo, "manifests", "examples", "hello.yaml"))
		eventually(t, 3*time.Minute, "2 Ready nodes", func() (bool, string) {
			nodes := readyNodes(t)
			return len(nodes) >= 2, fmt.Sprint(nodes)
		})
	}
	nodes := readyNodes(t)
	tainted := nodes[0]
	key := "kubemesos.io/e2e-" + ns
	kubectl(t, "taint", "nodes", tainted, key+"=yes:NoSchedule")
	t.Cleanup(func() { undo(t, "taint", "nodes", tainted, key+"-") })
	// The bridge reads taints from its node informer: let the taint reach it.
	time.Sleep(2 * time.Second)

	for i := range 3 {
		if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), sleeper(fmt.Sprintf("plain-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tol := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), sleeper("tolerating", tol), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "4 sleepers Running", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=sleeper"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		var states []string
		for _, p := range list.Items {
			states = append(states, fmt.Sprintf("%s:%s:%s", p.Name, p.Status.Phase, p.Spec.NodeName))
			if strings.HasPrefix(p.Name, "plain-") && p.Spec.NodeName == tainted {
				t.Fatalf("%s was placed on %s, whose taint it does not tolerate", p.Name, tainted)
			}
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 4, strings.Join(states, " ")
	})

	for _, n := range nodes[1:] {
		kubectl(t, "cordon", n)
		t.Cleanup(func() { undo(t, "uncordon", n) })
	}
	time.Sleep(2 * time.Second)
	late, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), sleeper("late"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFailedScheduling(t, ns, late.Name, "untolerated taint")
	p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), late.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" {
		t.Fatalf("late was placed on %s although every node is tainted or cordoned", p.Spec.NodeName)
	}
	if _, launched := frameworkTasks(t)[late.UID]; launched {
		t.Fatal("late got a task")
	}
}
