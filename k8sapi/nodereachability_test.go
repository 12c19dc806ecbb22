package k8sapi

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func readyNode(name string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}}}
}

func taintKeys(n *corev1.Node) string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return fmt.Sprint(out)
}

func ready(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return "none"
}

// TestMarkNodeUnreachable: the bridge taints an unreachable agent's Node
// NoExecute (with the time), sets Ready=Unknown, and on its way back removes
// only the taint it added; a taint the node lifecycle controller put there
// first, and other taints (a cordon), stay; a missing Node is no error.
func TestMarkNodeUnreachable(t *testing.T) {
	ctx := t.Context()
	cordon := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	controllers := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	client := fake.NewClientset(readyNode("ours", cordon), readyNode("theirs", controllers))
	r := NewPodReporter(ctx, client, "test")
	defer r.Shutdown()
	get := func(name string) *corev1.Node {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, name := range []string{"ours", "theirs", "missing"} {
		if err := r.MarkNodeUnreachable(ctx, name, "agent S1 unreachable"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	n := get("ours")
	if got := taintKeys(n); got != "[node.kubernetes.io/unschedulable:NoSchedule node.kubernetes.io/unreachable:NoExecute]" {
		t.Errorf("ours: taints %s", got)
	}
	if n.Spec.Taints[1].TimeAdded == nil || n.Annotations[AnnotationUnreachableTaint] != "agent S1 unreachable" {
		t.Errorf("ours: taint added at %v, annotation %q", n.Spec.Taints[1].TimeAdded, n.Annotations[AnnotationUnreachableTaint])
	}
	if got := ready(n); got != "Unknown/"+ReasonAgentUnreachable {
		t.Errorf("ours: Ready %s", got)
	}
	th := get("theirs")
	if got := taintKeys(th); got != "[node.kubernetes.io/unreachable:NoExecute]" || th.Annotations[AnnotationUnreachableTaint] != "" {
		t.Errorf("theirs: taints %s, annotations %v: want the controller's taint alone and no mark of ours", got, th.Annotations)
	}
	if got := ready(th); got != "Unknown/"+ReasonAgentUnreachable {
		t.Errorf("theirs: Ready %s", got)
	}
	// Twice changes nothing.
	if err := r.MarkNodeUnreachable(ctx, "ours", "again"); err != nil {
		t.Fatal(err)
	}
	if got := taintKeys(get("ours")); got != "[node.kubernetes.io/unschedulable:NoSchedule node.kubernetes.io/unreachable:NoExecute]" {
		t.Errorf("ours after a second mark: %s", got)
	}

	for _, name := range []string{"ours", "theirs", "missing"} {
		if err := r.MarkNodeReachable(ctx, name, "back"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	n = get("ours")
	if got := taintKeys(n); got != "[node.kubernetes.io/unschedulable:NoSchedule]" || n.Annotations[AnnotationUnreachableTaint] != "" {
		t.Errorf("ours back: taints %s, annotations %v", got, n.Annotations)
	}
	if got := taintKeys(get("theirs")); got != "[node.kubernetes.io/unreachable:NoExecute]" {
		t.Errorf("theirs back: the controller's taint was removed: %s", got)
	}
}
