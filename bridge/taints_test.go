package bridge_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTaintedNodesKeepUntoleratingPodsOff: a cordoned agent-1 whose Node
// also carries a NoSchedule taint gets only the pod that tolerates both;
// the others run on agent-2. With agent-2 cordoned too, a new pod stays
// pending and its FailedScheduling event counts the untolerated taints.
func TestTaintedNodesKeepUntoleratingPodsOff(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048", "cpus:2;mem:2048")
	ctx := t.Context()
	dedicated := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-1"},
		Spec:       corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{dedicated}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Give the bridge's node mirror the Node before any pod exists.
	time.Sleep(time.Second)

	var uids []string
	for i := range 3 {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("plain-%d", i), "200m", "64Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(p.UID))
	}
	tolerating := pod("tolerating", "200m", "64Mi")
	tolerating.Spec.Tolerations = []corev1.Toleration{
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists},
	}
	tp, err := c.client.CoreV1().Pods("default").Create(ctx, tolerating, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids = append(uids, string(tp.UID))
	eventually(t, 20*time.Second, "4 tasks RUNNING", c.allRunning(t, &uids))
	pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, "plain-") && p.Spec.NodeName != "agent-2" {
			t.Errorf("%s runs on %q, a node whose taints it does not tolerate", p.Name, p.Spec.NodeName)
		}
	}

	if _, err := c.client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-2"}, Spec: corev1.NodeSpec{Unschedulable: true},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	late, err := c.client.CoreV1().Pods("default").Create(ctx, pod("late", "200m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.waitFailedScheduling(t, late.Name, "untolerated taint")
	if _, launched := c.tasks(t)[string(late.UID)]; launched {
		t.Fatal("a pod tolerating no taint was launched on a cordoned agent")
	}
}
