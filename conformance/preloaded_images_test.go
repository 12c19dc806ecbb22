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

// An image the operator loaded into the node's containerd starts a pod with
// imagePullPolicy IfNotPresent at once, even while another pod on the node
// is pulling the same image (Always policy, and no registry to pull from).
// With the kubelet's default credential verification policy the second pod
// pulls too and fails with ErrImagePull (kubelet-executor/node/preloaded_images.go).
func TestPreloadedImageStartsWhileAnotherPodPullsIt(t *testing.T) {
	ns := namespace(t)
	image := "kubemesos.local/busybox:latest"
	node := readyNodeName(t)
	mk := func(name string, policy corev1.PullPolicy) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{corev1.LabelHostname: node},
				Containers: []corev1.Container{{
					Name: "c", Image: image, ImagePullPolicy: policy, Command: []string{"sleep", "3600"},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
				}},
			},
		}
	}
	// Pods whose pulls keep failing and being retried on the node.
	for i := range 3 {
		if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), mk(fmt.Sprintf("puller-%d", i), corev1.PullAlways), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 2*time.Minute, "a puller pod pulling "+image, func() (bool, string) {
		msgs := podEvents(t, ns, "puller-")
		return strings.Contains(msgs, "Pulling image"), msgs
	})
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), mk("user", corev1.PullIfNotPresent), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the IfNotPresent pod Running without a pull", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "user", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				t.Fatalf("the IfNotPresent pod tried to pull a preloaded image: %s: %s; events: %s", w.Reason, w.Message, podEvents(t, ns, "user"))
			}
		}
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase) + " " + podEvents(t, ns, "user")
	})
	if msgs := podEvents(t, ns, "user"); strings.Contains(msgs, "Pulling image") || !strings.Contains(msgs, "already present on machine") {
		t.Errorf("events of the IfNotPresent pod: %s", msgs)
	}
}

// readyNodeName is the name of a Ready node of the cluster.
func readyNodeName(t *testing.T) string {
	t.Helper()
	nodes, err := cluster.client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !n.Spec.Unschedulable {
				return n.Name
			}
		}
	}
	t.Fatal("no Ready node")
	return ""
}

// podEvents joins the reasons and messages of the events of the pods in ns
// whose names start with prefix.
func podEvents(t *testing.T, ns, prefix string) string {
	t.Helper()
	evs, err := cluster.client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "Pod" && strings.HasPrefix(e.InvolvedObject.Name, prefix) {
			out = append(out, e.InvolvedObject.Name+": "+e.Reason+": "+e.Message)
		}
	}
	return strings.Join(out, "; ")
}
