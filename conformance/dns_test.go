package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterDNS: from a pod on every node, cluster DNS (CoreDNS, scheduled
// by kubemesos like any pod) resolves the kubernetes Service to its
// ClusterIP, a Service by its short name through the pod's search path, and
// a pod of a headless Service by <hostname>.<subdomain>.<namespace>.svc.
func TestClusterDNS(t *testing.T) {
	ns := namespace(t)
	var nodes []string
	eventually(t, time.Minute, "a Ready node per agent", func() (bool, string) {
		nodes = readyNodes(t)
		if cluster.local {
			return len(nodes) == len(cluster.hosts), fmt.Sprint(nodes)
		}
		return len(nodes) > 0, fmt.Sprint(nodes)
	})
	kubernetesSvc, err := cluster.client.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A pod behind a headless Service, named by hostname and subdomain.
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: %[1]s, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: web
  containers:
  - name: c
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	var web *corev1.Pod
	eventually(t, 2*time.Minute, "web-0 ready with an IP", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "web-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		web = p
		return podReady(p) && p.Status.PodIP != "", string(p.Status.Phase)
	})
	waitEndpoints(t, ns, "web", 1)

	// busybox nslookup asks for the name as given; ping resolves through
	// the C library, with the search path of the pod's resolv.conf (and
	// prints "PING <name> (<address>)" whether or not an answer comes).
	names := []struct{ name, want, tool string }{
		{"kubernetes.default.svc.cluster.local", "Address: " + kubernetesSvc.Spec.ClusterIP, "nslookup"},
		{"web-0.web." + ns + ".svc.cluster.local", "Address: " + web.Status.PodIP, "nslookup"},
		{"kubernetes.default", "(" + kubernetesSvc.Spec.ClusterIP + ")", "ping -c 1 -W 1"},
		{"web", "(" + web.Status.PodIP + ")", "ping -c 1 -W 1"},
	}
	for _, node := range nodes {
		var script []string
		for _, n := range names {
			script = append(script, n.tool+" "+n.name+" || true")
		}
		out := runOnNode(t, ns, "dns-"+node, node, strings.Join(script, "; "))
		for _, n := range names {
			if !strings.Contains(out, n.want) {
				t.Errorf("%s: %s %s: no %q in:\n%s", node, n.tool, n.name, n.want, out)
			}
		}
	}
}

// runOnNode runs a busybox shell script in a pod on node (restartPolicy
// Never) and returns its logs, failing the test unless it succeeds.
func runOnNode(t *testing.T, ns, name, node, script string) string {
	t.Helper()
	pods := cluster.client.CoreV1().Pods(ns)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:         corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: ptrTo[int64](60),
			NodeSelector:          map[string]string{corev1.LabelHostname: node},
			Containers: []corev1.Container{{
				Name: "sh", Image: "kubemesos.local/busybox:latest", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", script},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
			}},
		},
	}
	if _, err := pods.Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var p *corev1.Pod
	eventually(t, 2*time.Minute, "pod "+name+" to finish", func() (bool, string) {
		got, err := pods.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		p = got
		return got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed,
			fmt.Sprintf("%s on %q", got.Status.Phase, got.Spec.NodeName)
	})
	logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	if p.Spec.NodeName != node || p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%s on %q: %s (%s); logs:\n%s", name, p.Spec.NodeName, p.Status.Phase, p.Status.Reason, logs)
	}
	return string(logs)
}
