package k8sapi

import (
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
)

func TestTaintsOf(t *testing.T) {
	gpu := corev1.Taint{Key: "gpu", Value: "yes", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name string
		spec corev1.NodeSpec
		want []corev1.Taint
	}{
		{"plain", corev1.NodeSpec{}, nil},
		{"tainted", corev1.NodeSpec{Taints: []corev1.Taint{gpu}}, []corev1.Taint{gpu}},
		{"cordoned", corev1.NodeSpec{Unschedulable: true}, []corev1.Taint{UnschedulableTaint}},
		{"cordoned and tainted", corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{gpu}}, []corev1.Taint{gpu, UnschedulableTaint}},
		{"cordoned, taint already added", corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{UnschedulableTaint}}, []corev1.Taint{UnschedulableTaint}},
	}
	for _, tc := range tests {
		node := &corev1.Node{Spec: tc.spec}
		if got := TaintsOf(node); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if len(node.Spec.Taints) != len(tc.spec.Taints) {
			t.Errorf("%s: the node's taints were modified", tc.name)
		}
	}
}

// TestNodeMirrorFollowsCordonAndTaints: against a real API server, the
// mirror reports a Node's taints and a cordon as they change, and nothing
// for an agent without a Node.
func TestNodeMirrorFollowsCordonAndTaints(t *testing.T) {
	cp := cptest.Start(t)
	client := cp.Client()
	m := NewNodeMirror(client, time.Minute)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := m.Taints("agent-1"); got != nil {
		t.Fatalf("no Node yet: %v", got)
	}
	node, err := client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1"},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The API server adds taints of its own (node.kubernetes.io/not-ready on
	// creation): the mirror must report what the Node has, plus the cordon.
	waitFor := func(what string, node *corev1.Node, extra ...corev1.Taint) {
		t.Helper()
		want := append(stripTime(node.Spec.Taints), extra...)
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := stripTime(m.Taints("agent-1"))
			if reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: taints %v, want %v", what, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("created", node)
	if !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == "dedicated" }) {
		t.Fatalf("created node lacks its taint: %v", node.Spec.Taints)
	}
	node.Spec.Unschedulable = true
	if node, err = client.CoreV1().Nodes().Update(t.Context(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("cordoned", node, UnschedulableTaint)
	node.Spec.Unschedulable, node.Spec.Taints = false, nil
	if node, err = client.CoreV1().Nodes().Update(t.Context(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(node.Spec.Taints) != 0 {
		t.Fatalf("taints left after removing them: %v", node.Spec.Taints)
	}
	waitFor("uncordoned and untainted", node)
}

// stripTime drops TimeAdded, which the API server sets on NoExecute taints.
func stripTime(ts []corev1.Taint) []corev1.Taint {
	if len(ts) == 0 {
		return nil
	}
	out := make([]corev1.Taint, len(ts))
	for i, t := range ts {
		t.TimeAdded = nil
		out[i] = t
	}
	return out
}
