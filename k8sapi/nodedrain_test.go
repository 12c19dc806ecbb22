package k8sapi

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/podtask"
)

func TestWithMaintenanceTaint(t *testing.T) {
	other := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name    string
		in      []corev1.Taint
		on      bool
		want    []corev1.Taint
		changed bool
	}{
		{"add", []corev1.Taint{other}, true, []corev1.Taint{other, podtask.MaintenanceTaint}, true},
		{"already there", []corev1.Taint{podtask.MaintenanceTaint}, true, []corev1.Taint{podtask.MaintenanceTaint}, false},
		{"remove", []corev1.Taint{podtask.MaintenanceTaint, other}, false, []corev1.Taint{other}, true},
		{"not there", []corev1.Taint{other}, false, []corev1.Taint{other}, false},
		// Another effect of the key is someone else's taint.
		{"same key, NoExecute", []corev1.Taint{{Key: podtask.MaintenanceTaintKey, Effect: corev1.TaintEffectNoExecute}}, false,
			[]corev1.Taint{{Key: podtask.MaintenanceTaintKey, Effect: corev1.TaintEffectNoExecute}}, false},
	} {
		in := slices.Clone(tc.in)
		got, changed := withMaintenanceTaint(in, tc.on)
		if !slices.EqualFunc(got, tc.want, func(a, b corev1.Taint) bool { return a.MatchTaint(&b) }) || changed != tc.changed {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, changed, tc.want, tc.changed)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("%s: the input was modified", tc.name)
		}
	}
}

// readyPod creates a pod bound to node (deleted at once when evicted:
// grace period 0) and makes it Running and Ready (no kubelet runs).
func readyPod(t *testing.T, c kubernetes.Interface, p *corev1.Pod, node string) *corev1.Pod {
	t.Helper()
	zero := int64(0)
	p.Namespace, p.Spec.NodeName, p.Spec.TerminationGracePeriodSeconds = "default", node, &zero
	p.Spec.Containers = []corev1.Container{{Name: "c", Image: "kubemesos.local/busybox:latest"}}
	p, err := c.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return markReady(t, c, p)
}

func markReady(t *testing.T, c kubernetes.Interface, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	p, err := c.CoreV1().Pods("default").UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func podNames(t *testing.T, c kubernetes.Interface) []string {
	t.Helper()
	list, err := c.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestNodeDrainerRespectsBudgetsAndEvictsDaemonSetPodsLast: against a real
// API server with kube-controller-manager (the disruption controller keeps
// the budget's status): draining a Node taints it and evicts one pod at a
// time under a PodDisruptionBudget that allows one disruption (the others
// are reported blocked, naming the budget), evicts an unmanaged pod and
// leaves the DaemonSet's pod until every other pod is gone, never counts
// or evicts a mirror pod; Release removes the taint.
func TestNodeDrainerRespectsBudgetsAndEvictsDaemonSetPodsLast(t *testing.T) {
	cp := cptest.Start(t, cptest.WithControllerManager())
	c := cp.Client()
	ctx := t.Context()
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the default ServiceAccount", func() (bool, string) {
		_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	zero := int64(0)
	if _, err := c.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "logs"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "logs"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "logs"}},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{Name: "c", Image: "x"}},
					// No kubelet: the Node stays not-ready. The maintenance
					// taint is not tolerated, so the evicted pod stays away.
					Tolerations: []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var daemon *corev1.Pod
	eventually(t, 30*time.Second, "the DaemonSet's pod", func() (bool, string) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=logs"})
		if err != nil || len(list.Items) != 1 {
			return false, fmt.Sprint(err, len(list.Items))
		}
		daemon = &list.Items[0]
		return true, ""
	})
	// No scheduler runs: bind it as one would.
	if err := c.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: daemon.Name},
		Target: corev1.ObjectReference{Kind: "Node", Name: "agent-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	daemon, err := c.CoreV1().Pods("default").Get(ctx, daemon.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	markReady(t, c, daemon)
	minAvailable := intstr.FromInt32(2)
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		readyPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}}}, "agent-1")
	}
	readyPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lonely"}}, "agent-1")
	readyPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "static-agent-1",
		Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}}, "agent-1")
	eventually(t, 30*time.Second, "the budget to allow 1 disruption", func() (bool, string) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pdb.Status.DisruptionsAllowed == 1 && pdb.Status.ObservedGeneration == pdb.Generation, fmt.Sprintf("%+v", pdb.Status)
	})

	d := NewNodeDrainer(ctx, c, "kubemesos")
	t.Cleanup(d.Shutdown)
	d.Every = 200 * time.Millisecond
	if _, ok := d.Progress("agent-1"); ok {
		t.Fatal("progress before any drain")
	}
	go d.Run(ctx)
	d.Drain("agent-1")
	// The first pass evicts lonely and one web pod (the budget allows one
	// disruption); from then on the passes find 3 pods and 2 blocked.
	var blocked DrainProgress
	eventually(t, 10*time.Second, "a pass with 2 web pods blocked", func() (bool, string) {
		p, ok := d.Progress("agent-1")
		blocked = p
		return ok && p.Pods == 3 && len(p.Blocked) == 2, fmt.Sprintf("%+v", p)
	})
	if !blocked.Tainted || blocked.Err != "" {
		t.Errorf("pass %+v: want the Node tainted, no error", blocked)
	}
	for _, b := range blocked.Blocked {
		if !strings.Contains(b, "default/web-") || !strings.Contains(b, "disruption budget web needs 2 healthy pods") {
			t.Errorf("blocked reason %q does not name the pod and the budget", b)
		}
	}
	node, err := c.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&podtask.MaintenanceTaint) }) {
		t.Errorf("taints %v", node.Spec.Taints)
	}
	// The budget holds: two web pods stay, the DaemonSet pod waits for them.
	time.Sleep(time.Second)
	got := podNames(t, c)
	if len(got) != 4 || !slices.Contains(got, daemon.Name) || !slices.Contains(got, "static-agent-1") || slices.Contains(got, "lonely") {
		t.Fatalf("pods while the budget holds: %v, want 2 web pods, %s and the mirror pod", got, daemon.Name)
	}

	if err := c.PolicyV1().PodDisruptionBudgets("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "only the mirror pod left", func() (bool, string) {
		got := podNames(t, c)
		return slices.Equal(got, []string{"static-agent-1"}), fmt.Sprint(got)
	})
	eventually(t, 10*time.Second, "a pass that finds no pod", func() (bool, string) {
		p, _ := d.Progress("agent-1")
		return p.Pods == 0 && p.Err == "" && len(p.Blocked) == 0, fmt.Sprintf("%+v", p)
	})

	d.Release("agent-1")
	eventually(t, 10*time.Second, "the taint removed", func() (bool, string) {
		node, err := c.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&podtask.MaintenanceTaint) }), fmt.Sprint(node.Spec.Taints)
	})
	if _, ok := d.Progress("agent-1"); ok {
		t.Error("progress of a released node")
	}
	// Draining a Node that does not exist is no error: nothing to taint or evict.
	d.Drain("agent-9")
	eventually(t, 10*time.Second, "a pass over a missing Node", func() (bool, string) {
		p, ok := d.Progress("agent-9")
		return ok && !p.Tainted && p.Pods == 0 && p.Err == "", fmt.Sprintf("%+v", p)
	})
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
