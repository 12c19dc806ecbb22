package conformance

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDaemonSetReachesEveryAgent: every agent is a Ready node before its
// first pod (the bridge's node tasks), so a DaemonSet, which creates pods
// only for existing Nodes, runs one pod on each agent, each a Mesos task.
func TestDaemonSetReachesEveryAgent(t *testing.T) {
	ns := namespace(t)
	if cluster.local {
		if nodes := readyNodes(t); len(nodes) != len(cluster.hosts) {
			t.Fatalf("Ready nodes %v, want one per agent (%d)", nodes, len(cluster.hosts))
		}
	}
	kubectlApply(t, fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere, namespace: %s}
spec:
  selector: {matchLabels: {app: everywhere}}
  template:
    metadata: {labels: {app: everywhere}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: c
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sleep, "3600"]
        resources: {requests: {cpu: 20m, memory: 16Mi}}
`, ns))
	nodes := readyNodes(t)
	var pods []corev1.Pod
	eventually(t, 2*time.Minute, "a Running DaemonSet pod on every node", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=everywhere"})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		on := map[string]bool{}
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				on[p.Spec.NodeName] = true
			}
		}
		for _, n := range nodes {
			if !on[n] {
				return false, fmt.Sprintf("running on %v, nodes %v", on, nodes)
			}
		}
		return true, ""
	})
	eventually(t, 30*time.Second, "their tasks TASK_RUNNING", func() (bool, string) {
		tasks := frameworkTasks(t)
		for _, p := range pods {
			if tasks[p.UID] != "TASK_RUNNING" {
				return false, fmt.Sprint(tasks)
			}
		}
		return true, ""
	})
}
