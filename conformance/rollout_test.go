package conformance

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// webDeployment is a Deployment of busybox httpd replicas serving
// "<VERSION> <pod name>" behind the ClusterIP Service web, rolled one pod at
// a time (maxSurge 1, maxUnavailable 0); a replica is Ready when it answers
// and, on deletion, keeps serving 3 s (preStop) while kube-proxy takes it
// out of the Service.
func webDeployment(ns string, replicas int, version string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: httpd
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        env: [{name: VERSION, value: %[3]s}]
        command: [sh, -c, 'mkdir -p /www && echo "$VERSION $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 50m, memory: 16Mi}}
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        lifecycle: {preStop: {sleep: {seconds: 3}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`, ns, replicas, version)
}

// sampler is a pod on node that requests http://<ip>/ every 100 ms (each
// request bounded to 2 s) and prints "ok <body>" or "FAIL" per request.
func sampler(ns, name, node, ip string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  nodeSelector: {kubernetes.io/hostname: %[3]s}
  containers:
  - name: c
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'while true; do if out=$(timeout 2 wget -q -O- http://%[4]s/ 2>&1); then echo "ok $out"; else echo "FAIL $out"; fi; sleep 0.1; done']
    resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns, name, node, ip)
}

// samples counts the sampler's answers so far: by version, and failures.
type samples struct {
	byVersion map[string]int
	failed    []string
	total     int
}

var sampleLine = regexp.MustCompile(`^ok (v\d+) \S+$`)

func readSamples(t *testing.T, ns, pod string) samples {
	t.Helper()
	logs, err := cluster.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s: %v", pod, err)
	}
	s := samples{byVersion: map[string]int{}}
	for _, l := range strings.Split(strings.TrimSpace(string(logs)), "\n") {
		if l == "" {
			continue
		}
		s.total++
		if m := sampleLine.FindStringSubmatch(l); m != nil {
			s.byVersion[m[1]]++
		} else {
			s.failed = append(s.failed, l)
		}
	}
	return s
}

// webVersions are the versions the Running, Ready web pods serve, from
// their environment.
func webVersions(t *testing.T, ns string) map[string]int {
	t.Helper()
	pods, _ := readyPods(t, ns, "app=web")
	out := map[string]int{}
	for _, p := range pods {
		for _, e := range p.Spec.Containers[0].Env {
			if e.Name == "VERSION" {
				out[e.Value]++
			}
		}
	}
	return out
}

// TestDeploymentScaleRollingUpdateAndRollbackWithoutFailedRequests: a web
// Deployment behind a Service, sampled every 100 ms from a pod on each
// node through the ClusterIP while it is scaled 2 → 4 → 2, rolled from v1
// to v2 and rolled back (kubectl rollout undo). No sampled request fails,
// every version is seen while it runs, each replica is one TASK_RUNNING
// task and the pods scaled away are killed tasks.
func TestDeploymentScaleRollingUpdateAndRollbackWithoutFailedRequests(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, webDeployment(ns, 2, "v1"))
	kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=3m")
	waitEndpoints(t, ns, "web", 2)
	svc, err := cluster.client.CoreV1().Services(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := readyNodes(t)
	var samplers []string
	for i, n := range nodes {
		name := fmt.Sprintf("sampler-%d", i)
		kubectlApply(t, sampler(ns, name, n, svc.Spec.ClusterIP))
		waitRunning(t, ns, name)
		samplers = append(samplers, name)
	}
	// The samplers start only once the Service answers from every node.
	eventually(t, 2*time.Minute, "every sampler answered by v1", func() (bool, string) {
		for _, s := range samplers {
			if readSamples(t, ns, s).byVersion["v1"] == 0 {
				return false, s + " no v1 answer yet"
			}
		}
		return true, ""
	})
	failedBefore := map[string]int{}
	for _, s := range samplers {
		failedBefore[s] = len(readSamples(t, ns, s).failed)
	}

	step := func(what string, args ...string) {
		t.Helper()
		start := time.Now()
		kubectl(t, append([]string{"-n", ns}, args...)...)
		kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=3m")
		time.Sleep(5 * time.Second) // a few samples after the last pod left
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
	}
	step("scale to 4", "scale", "deployment/web", "--replicas=4")
	if v := webVersions(t, ns); v["v1"] != 4 {
		t.Errorf("after scaling to 4: versions %v", v)
	}
	scaledUp, _ := readyPods(t, ns, "app=web")
	step("scale to 2", "scale", "deployment/web", "--replicas=2")
	step("roll to v2", "set", "env", "deployment/web", "VERSION=v2")
	if v := webVersions(t, ns); v["v2"] != 2 || len(v) != 1 {
		t.Errorf("after the rolling update: versions %v, want 2 × v2", v)
	}
	mid := map[string]samples{}
	for _, s := range samplers {
		mid[s] = readSamples(t, ns, s)
	}
	step("roll back", "rollout", "undo", "deployment/web")
	if v := webVersions(t, ns); v["v1"] != 2 || len(v) != 1 {
		t.Errorf("after the rollback: versions %v, want 2 × v1", v)
	}
	if out := kubectl(t, "-n", ns, "rollout", "history", "deployment/web"); !strings.Contains(out, "3") {
		t.Errorf("rollout history without revision 3 (the rollback):\n%s", out)
	}

	for _, s := range samplers {
		got := readSamples(t, ns, s)
		t.Logf("%s: %d requests, by version %v, %d failed", s, got.total, got.byVersion, len(got.failed))
		if n := len(got.failed) - failedBefore[s]; n > 0 {
			t.Errorf("%s: %d requests failed during scale, rollout and rollback: %v", s, n, got.failed[failedBefore[s]:])
		}
		if mid[s].byVersion["v2"] == 0 {
			t.Errorf("%s never reached v2 during the rollout: %v", s, mid[s].byVersion)
		}
		if got.byVersion["v1"] <= mid[s].byVersion["v1"] {
			t.Errorf("%s saw no v1 answer after the rollback: %v then %v", s, mid[s].byVersion, got.byVersion)
		}
		if got.total < 100 {
			t.Errorf("%s made only %d requests: a sampler that hangs hides failures", s, got.total)
		}
	}
	final, _ := readyPods(t, ns, "app=web")
	tasks := frameworkTasks(t)
	live := map[string]bool{}
	for _, p := range final {
		live[string(p.UID)] = true
		if st := tasks[p.UID]; st != "TASK_RUNNING" {
			t.Errorf("replica %s: task %q, want TASK_RUNNING", p.Name, st)
		}
	}
	for _, p := range scaledUp {
		if !live[string(p.UID)] {
			if st := tasks[p.UID]; st == "TASK_RUNNING" || st == "" {
				t.Errorf("replaced replica %s: task %q, want it ended", p.Name, st)
			}
		}
	}
}
