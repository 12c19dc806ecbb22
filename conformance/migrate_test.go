package conformance

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// migrateApply runs bin/kubemesos migrate SOURCE FILE --apply against the
// cluster, with extra flags.
func migrateApply(t *testing.T, source, file string, flags ...string) {
	t.Helper()
	args := append([]string{"migrate", source, file, "--apply", "--kubeconfig", cluster.kubeconfig}, flags...)
	out, err := exec.CommandContext(t.Context(), filepath.Join(cluster.repo, "bin", "kubemesos"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubemesos %v: %v\n%s", args, err, out)
	}
	t.Logf("kubemesos %s:\n%s", strings.Join(args[:3], " "), out)
}

// TestMigratedMarathonGroupAndMetronomeJob: a Marathon group with a web app
// (2 instances, UNIQUE hostname, an HTTP health check, a servicePort) and a
// Metronome job running every minute, migrated with `kubemesos migrate
// --apply`: the app's 2 pods run on different nodes and answer, its
// Service answers from every node, and the CronJob starts a Job whose pod
// succeeds.
func TestMigratedMarathonGroupAndMetronomeJob(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	group := fmt.Sprintf(`{
  "id": "/%s",
  "apps": [{
    "id": "web",
    "instances": 2,
    "cpus": 0.05,
    "mem": 32,
    "cmd": "mkdir -p /www && echo \"hello from $HOSTNAME\" > /www/index.html && exec httpd -f -p 8080 -h /www",
    "container": {
      "type": "DOCKER",
      "docker": {"image": "kubemesos.local/busybox:latest"},
      "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": 10080, "name": "http"}]
    },
    "networks": [{"mode": "container/bridge"}],
    "constraints": [["hostname", "UNIQUE"]],
    "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30, "intervalSeconds": 5, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]
  }]
}`, ns)
	job := `{
  "id": "tick",
  "run": {
    "cmd": "echo tick from $HOSTNAME",
    "cpus": 0.05,
    "mem": 16,
    "docker": {"image": "kubemesos.local/busybox:latest"},
    "restart": {"policy": "NEVER"}
  },
  "schedules": [{"id": "every-minute", "cron": "* * * * *", "concurrencyPolicy": "FORBID", "enabled": true}]
}`
	groupFile, jobFile := filepath.Join(dir, "group.json"), filepath.Join(dir, "job.json")
	for f, data := range map[string]string{groupFile: group, jobFile: job} {
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	migrateApply(t, "marathon", groupFile, "--namespace-from-group")
	migrateApply(t, "metronome", jobFile, "--namespace", ns)

	// The app: 2 Ready pods, on two different nodes (UNIQUE hostname).
	var pods []corev1.Pod
	eventually(t, 3*time.Minute, "2 Running and Ready web pods", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=web"})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		ready := 0
		var states []string
		for _, p := range pods {
			states = append(states, fmt.Sprintf("%s:%s:%s:ready=%v", p.Name, p.Status.Phase, p.Spec.NodeName, podReady(&p)))
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				ready++
			}
		}
		return ready == 2 && len(pods) == 2, strings.Join(states, " ")
	})
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("both web pods on %s: the UNIQUE hostname constraint did not hold", pods[0].Spec.NodeName)
	}
	t.Logf("web pods Ready on %s and %s %v after the migration", pods[0].Spec.NodeName, pods[1].Spec.NodeName, time.Since(start).Round(time.Millisecond))
	for _, p := range pods {
		c := p.Spec.Containers[0]
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.PeriodSeconds != 5 {
			t.Fatalf("%s: liveness probe %+v, want the health check's HTTP probe every 5s", p.Name, c.LivenessProbe)
		}
		url := "http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/"
		eventually(t, time.Minute, "HTTP from "+p.Name, func() (bool, string) {
			resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.Contains(string(body), "hello from "+p.Name), fmt.Sprintf("%d %q", resp.StatusCode, body)
		})
	}

	// The Service on the servicePort, from every node.
	svc, err := cluster.client.CoreV1().Services(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 10080 {
		t.Fatalf("Service web: ClusterIP %q ports %+v, want a ClusterIP on 10080", svc.Spec.ClusterIP, svc.Spec.Ports)
	}
	waitEndpoints(t, ns, "web", 2)
	nodes := readyNodes(t)
	if len(nodes) < 2 {
		t.Fatalf("want at least 2 Ready nodes, got %v", nodes)
	}
	svcURL := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "10080") + "/"
	for i, node := range nodes {
		out := probe(t, ns, fmt.Sprintf("svc-probe-%d", i), node, svcURL, "hello from web-")
		t.Logf("%s: %s answered %q", node, svcURL, strings.TrimSpace(out))
	}

	// The job: the CronJob starts a Job within a minute or two, and its pod
	// succeeds with the command's output.
	cj, err := cluster.client.BatchV1().CronJobs(ns).Get(t.Context(), "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.Schedule != "* * * * *" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Etc/UTC" {
		t.Fatalf("CronJob tick: schedule %q time zone %v", cj.Spec.Schedule, cj.Spec.TimeZone)
	}
	var podName string
	eventually(t, 3*time.Minute, "a Job of CronJob tick with a Succeeded pod", func() (bool, string) {
		jobs, err := cluster.client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, j := range jobs.Items {
			owned := false
			for _, o := range j.OwnerReferences {
				owned = owned || o.Kind == "CronJob" && o.Name == "tick"
			}
			if !owned {
				continue
			}
			pl, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "job-name=" + j.Name})
			if err != nil {
				return false, err.Error()
			}
			for _, p := range pl.Items {
				seen = append(seen, fmt.Sprintf("%s:%s:%s", p.Name, p.Status.Phase, p.Spec.NodeName))
				if p.Status.Phase == corev1.PodSucceeded {
					podName = p.Name
					return true, ""
				}
			}
			seen = append(seen, "job "+j.Name)
		}
		return false, strings.Join(seen, " ")
	})
	logs, err := cluster.client.CoreV1().Pods(ns).GetLogs(podName, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "tick from "+podName) {
		t.Fatalf("job pod %s logs %q", podName, logs)
	}
	t.Logf("CronJob tick ran %s %v after the migration: %q", podName, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(logs)))
}
