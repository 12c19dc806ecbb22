package k8sapi

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// TestReporterForgetsOldReports: what was reported of pods that were
// deleted before they were placed does not pile up in a long-running bridge.
func TestReporterForgetsOldReports(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset()
	r := NewPodReporter(ctx, client, "test-scheduler")
	defer r.Shutdown()
	r.Repeat = 50 * time.Millisecond
	mk := func(name string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := 0; i < 10; i++ {
		r.Unschedulable(ctx, mk("gone-"+string(rune('a'+i))), "0/1 offers fit: 1 insufficient cpu")
	}
	time.Sleep(2 * r.Repeat)
	r.Unschedulable(ctx, mk("new"), "0/1 offers fit: 1 insufficient cpu")
	if n := len(r.last); n != 1 {
		t.Fatalf("%d reports remembered, want only the one younger than Repeat", n)
	}
}

// TestReporterSpacesChangedMessages: a message that changes every cycle (the
// held offers change) is reported at most once per Gap.
func TestReporterSpacesChangedMessages(t *testing.T) {
	r := NewPodReporter(t.Context(), fake.NewClientset(), "test")
	defer r.Shutdown()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}}
	r.Unschedulable(t.Context(), pod, "0/1 offers fit: 1 insufficient cpu")
	r.Unschedulable(t.Context(), pod, "0/2 offers fit: 2 insufficient cpu")
	if got := r.last[pod.UID].msg; got != "0/1 offers fit: 1 insufficient cpu" {
		t.Fatalf("a changed message within Gap was reported: last is %q", got)
	}
	r.last[pod.UID] = reported{msg: r.last[pod.UID].msg, at: time.Now().Add(-r.Gap)}
	r.Unschedulable(t.Context(), pod, "0/2 offers fit: 2 insufficient cpu")
	if got := r.last[pod.UID].msg; got != "0/2 offers fit: 2 insufficient cpu" {
		t.Fatalf("a changed message after Gap was not reported: last is %q", got)
	}
}

// TestReporterWouldReport answers as Unschedulable decides: the first report,
// not a repeat within Repeat nor a change within Gap, a change after Gap.
func TestReporterWouldReport(t *testing.T) {
	r := NewPodReporter(t.Context(), fake.NewClientset(), "test")
	defer r.Shutdown()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}}
	if !r.WouldReport(pod.UID, "a") {
		t.Fatal("a first report would not be written")
	}
	r.Unschedulable(t.Context(), pod, "a")
	if r.WouldReport(pod.UID, "a") || r.WouldReport(pod.UID, "b") {
		t.Fatal("a repeat, or a change within Gap, would be written")
	}
	r.last[pod.UID] = reported{msg: "a", at: time.Now().Add(-r.Gap)}
	if r.WouldReport(pod.UID, "a") || !r.WouldReport(pod.UID, "b") {
		t.Fatal("after Gap: want the change written and the repeat not")
	}
	r.last[pod.UID] = reported{msg: "a", at: time.Now().Add(-r.Repeat)}
	if !r.WouldReport(pod.UID, "a") {
		t.Fatal("a repeat after Repeat would not be written")
	}
}
