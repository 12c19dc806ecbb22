package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readyAt is when pod p last became Ready (zero if it is not).
func readyAt(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// TestStatefulSetKeepsOrderAndIdentity: a StatefulSet of 3 (no volumes)
// starts web-0, web-1, web-2 in order, each only once the one before is
// Ready; each pod's hostname is its name. A deleted web-1 comes back under
// the same name as a new pod and a new task, the old task ended first (never
// two web-1 at once); scaled to 1, web-2 and web-1 go, web-0 stays.
func TestStatefulSetKeepsOrderAndIdentity(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: ordered}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: %[1]s}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: ordered}}
  template:
    metadata: {labels: {app: ordered}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo "I am $(hostname)"; touch /tmp/ready; exec sleep 3600']
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
        resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	pods := cluster.client.CoreV1().Pods(ns)
	byName := map[string]*corev1.Pod{}
	eventually(t, 3*time.Minute, "web-0..2 Running and Ready", func() (bool, string) {
		ready, states := readyPods(t, ns, "app=ordered")
		for i := range ready {
			byName[ready[i].Name] = &ready[i]
		}
		return len(ready) == 3, states
	})
	tasks := frameworkTasks(t)
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		p := byName[name]
		if p == nil {
			t.Fatalf("no %s among the ready pods", name)
		}
		if st := tasks[p.UID]; st != "TASK_RUNNING" {
			t.Errorf("%s: task %q, want TASK_RUNNING", name, st)
		}
		if i > 0 {
			prev := byName[fmt.Sprintf("web-%d", i-1)]
			// Both are whole seconds: created in the second the previous
			// became Ready at the earliest.
			if p.CreationTimestamp.Time.Before(readyAt(prev)) {
				t.Errorf("%s created at %v, before %s was Ready at %v", name, p.CreationTimestamp, prev.Name, readyAt(prev))
			}
		}
		logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(t.Context())
		if err != nil || !strings.Contains(string(logs), "I am "+name) {
			t.Errorf("%s says %q (%v), want its own name as hostname", name, logs, err)
		}
	}

	old := byName["web-1"]
	if err := pods.Delete(t.Context(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var fresh *corev1.Pod
	eventually(t, 2*time.Minute, "web-1 back as a new pod with a running task, the old task ended", func() (bool, string) {
		p, err := pods.Get(t.Context(), "web-1", metav1.GetOptions{})
		tasks := frameworkTasks(t)
		oldState := tasks[old.UID]
		if err != nil {
			return false, err.Error()
		}
		if p.UID != old.UID && tasks[p.UID] == "TASK_RUNNING" && oldState == "TASK_RUNNING" {
			t.Fatalf("two web-1 run at once: the tasks of the old pod %s and the new %s both TASK_RUNNING", old.UID, p.UID)
		}
		fresh = p
		return p.UID != old.UID && podReady(p) && tasks[p.UID] == "TASK_RUNNING" && oldState != "TASK_RUNNING",
			fmt.Sprintf("uid %s (old %s) ready %v, old task %q", p.UID, old.UID, podReady(p), oldState)
	})
	if fresh.CreationTimestamp.Time.Before(old.CreationTimestamp.Time) {
		t.Errorf("the new web-1 is older than the one it replaced")
	}

	kubectl(t, "-n", ns, "scale", "statefulset/web", "--replicas=1")
	eventually(t, 2*time.Minute, "only web-0 left", func() (bool, string) {
		list, err := pods.List(t.Context(), metav1.ListOptions{LabelSelector: "app=ordered"})
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		return len(names) == 1 && names[0] == "web-0" && list.Items[0].UID == byName["web-0"].UID, fmt.Sprint(names)
	})
	tasks = frameworkTasks(t)
	for _, p := range []*corev1.Pod{fresh, byName["web-2"]} {
		if st := tasks[p.UID]; st == "TASK_RUNNING" || st == "" {
			t.Errorf("%s scaled away: task %q, want it ended", p.Name, st)
		}
	}
}
