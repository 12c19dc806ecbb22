package conformance

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestClusterIPServiceAnswersOnEveryNode: the hello Service answers on its
// ClusterIP from a pod on every node (kube-proxy runs next to each kubelet),
// and a Service whose only backend runs on another node answers too.
// There is no cluster DNS: the probes use the ClusterIP.
func TestClusterIPServiceAnswersOnEveryNode(t *testing.T) {
	ns := namespace(t)
	start := time.Now()
	kubectl(t, "apply", "-n", ns, "-f", filepath.Join(cluster.repo, "manifests", "examples", "hello.yaml"))

	var pods []corev1.Pod
	eventually(t, 3*time.Minute, "3 Running and Ready hello pods", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=hello"})
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
		return ready == 3 && len(pods) == 3, strings.Join(states, " ")
	})
	t.Logf("3 hello pods Ready %v after apply", time.Since(start).Round(time.Millisecond))

	svc, err := cluster.client.CoreV1().Services(ns).Get(t.Context(), "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("hello has no ClusterIP: %q", svc.Spec.ClusterIP)
	}
	nodes := readyNodes(t)
	if len(nodes) < 2 {
		t.Fatalf("want at least 2 Ready nodes, got %v", nodes)
	}

	waitEndpoints(t, ns, "hello", 3)
	t.Logf("hello EndpointSlices list 3 ready endpoints %v after apply", time.Since(start).Round(time.Millisecond))
	url := "http://" + svc.Spec.ClusterIP + "/"
	for i, node := range nodes {
		out := probe(t, ns, fmt.Sprintf("probe-%d", i), node, url, "hello from hello-")
		t.Logf("%s: %s answered %q %v after apply", node, url, strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
	}

	// Across nodes, deterministically: a Service selecting one pod that runs
	// on another node than the probe.
	crossed := 0
	for i, node := range nodes {
		var target *corev1.Pod
		for j := range pods {
			if pods[j].Spec.NodeName != node {
				target = &pods[j]
				break
			}
		}
		if target == nil {
			t.Logf("%s: every hello pod runs here; no cross-node Service from this node", node)
			continue
		}
		label := fmt.Sprintf("target-%d", i)
		kubectl(t, "label", "-n", ns, "pod", target.Name, "probe-target="+label)
		remote := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "hello-" + label},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "hello", "probe-target": label},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}
		remote, err := cluster.client.CoreV1().Services(ns).Create(t.Context(), remote, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		waitEndpoints(t, ns, remote.Name, 1)
		out := probe(t, ns, fmt.Sprintf("remote-%d", i), node, "http://"+remote.Spec.ClusterIP+"/", "hello from "+target.Name)
		t.Logf("%s → %s on %s through %s: %q, %v after the Service was created", node, target.Name, target.Spec.NodeName,
			remote.Spec.ClusterIP, strings.TrimSpace(out), time.Since(began).Round(time.Millisecond))
		crossed++
	}
	if crossed == 0 {
		t.Fatal("no node had a hello pod on another node to reach")
	}
}

// waitEndpoints waits until the EndpointSlices of Service svc list want
// ready endpoints: a connection kube-proxy has not programmed yet is pinned
// un-NATed in conntrack, so probing earlier mostly costs a probe timeout.
func waitEndpoints(t *testing.T, ns, svc string, want int) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d ready endpoints of %s", want, svc), func() (bool, string) {
		list, err := cluster.client.DiscoveryV1().EndpointSlices(ns).List(t.Context(),
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, sl := range list.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == want, fmt.Sprintf("%d ready endpoints in %d slices", ready, len(list.Items))
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyNodes are the names of the Ready nodes, sorted.
func readyNodes(t *testing.T) []string {
	t.Helper()
	list, err := cluster.client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				out = append(out, n.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// probe runs busybox `wget -qO- url` in a pod on node until one run succeeds
// with want in its output (kube-proxy may not have synced the Service yet),
// and returns that output. Each attempt is its own pod, restartPolicy Never;
// activeDeadlineSeconds bounds a wget that hangs (busybox wget has no
// usable connect timeout here).
func probe(t *testing.T, ns, name, node, url, want string) string {
	t.Helper()
	pods := cluster.client.CoreV1().Pods(ns)
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for attempt := 1; ; attempt++ {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never answered with %q; last attempt: %s", node, url, want, last)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, attempt)},
			Spec: corev1.PodSpec{
				RestartPolicy:         corev1.RestartPolicyNever,
				ActiveDeadlineSeconds: ptrTo[int64](20),
				NodeSelector:          map[string]string{corev1.LabelHostname: node},
				Containers: []corev1.Container{{
					Name: "wget", Image: "kubemesos.local/busybox:latest", ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"wget", "-qO-", url},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
				}},
			},
		}
		if _, err := pods.Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var p *corev1.Pod
		eventually(t, 2*time.Minute, "probe pod "+pod.Name+" to finish", func() (bool, string) {
			got, err := pods.Get(t.Context(), pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			p = got
			return got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed,
				fmt.Sprintf("%s on %q", got.Status.Phase, got.Spec.NodeName)
		})
		if p.Spec.NodeName != node {
			t.Fatalf("probe pod %s ran on %q, want %s", p.Name, p.Spec.NodeName, node)
		}
		logs, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(t.Context())
		out := string(logs)
		if p.Status.Phase == corev1.PodSucceeded && err == nil && strings.Contains(out, want) {
			return out
		}
		last = fmt.Sprintf("%s %s (%s) logs %q err %v", p.Name, p.Status.Phase, p.Status.Reason, out, err)
		t.Logf("%s: attempt %d: %s", node, attempt, last)
		_ = pods.Delete(t.Context(), pod.Name, metav1.DeleteOptions{})
		time.Sleep(time.Second)
	}
}

func ptrTo[T any](v T) *T { return &v }
