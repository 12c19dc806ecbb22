package k8sapi

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIsPending(t *testing.T) {
	now := metav1.NewTime(time.Now())
	cases := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"new", corev1.Pod{}, true},
		{"bound", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}}, false},
		{"being deleted", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, false},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		// The API server refuses to bind a pod with scheduling gates: launching
		// it would only fail its task, again and again.
		{"scheduling gated", corev1.Pod{Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/quota"}}}}, false},
	}
	for _, c := range cases {
		if got := IsPending(&c.pod); got != c.want {
			t.Errorf("%s: IsPending = %v, want %v", c.name, got, c.want)
		}
	}
}
