package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// TestRevocablePodsEvictedWhenRevoked (#9): the operator has one agent
// oversubscribe 1 cpu and 1024 MB (restarted with Mesos' fixed estimator and
// the QoS controller; the suite's bridges run --revocable-pods). On it, a BestEffort
// Deployment of 2 opted in with kubemesos.io/revocable=true lands on
// revocable resources (its tasks' cpus and memory are revocable at
// /master/state, on the revocable executor) while a Guaranteed pod uses
// regular ones on the kubelet-executor. The operator lowers the agent's
// estimate below what the BestEffort pods use (restarting the agent with
// another --resource_estimator_resources, as with Mesos' fixed estimator):
// the QoS controller revokes the revocable container, both BestEffort pods
// are marked Failed with MesosResourcesRevoked and replaced, and the
// Guaranteed pod keeps running: same UID, same container, same task.
func TestRevocablePodsEvictedWhenRevoked(t *testing.T) {
	if !cluster.local {
		t.Skip("restarts an agent: needs the suite's own local cluster")
	}
	ctx := t.Context()
	ns := namespace(t)
	victim := "e2e-agent-1"
	args, err := cluster.dev.Args(victim)
	if err != nil {
		t.Fatal(err)
	}
	over, err := devcluster.WithEstimate(args, devcluster.Oversubscription{MilliCPU: 1000, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	pin := func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{corev1.LabelHostname: victim} }

	q := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	g := sleepers("guaranteed", 1, func(s *corev1.PodSpec) {
		pin(s)
		s.Containers[0].Resources = corev1.ResourceRequirements{Requests: q, Limits: q}
	})
	be := sleepers("besteffort", 2, func(s *corev1.PodSpec) {
		pin(s)
		s.Containers[0].Resources = corev1.ResourceRequirements{}
	})
	be.Spec.Template.Annotations = map[string]string{offermatcher.RevocableAnnotation: "true"}
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(ctx, g, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(ctx, be, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	restartAgent := func(a []string) {
		if err := cluster.dev.Kill(victim); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, victim+" stopped", func() (bool, string) { return !cluster.dev.Running(victim), "running" })
		if err := cluster.dev.RestartWithArgs(victim, a); err != nil {
			t.Fatal(err)
		}
	}
	restartAgent(over)
	t.Cleanup(func() { restartAgent(args) }) // oversubscribing nothing again
	var gPods, bePods []corev1.Pod
	eventually(t, 3*time.Minute, "the Guaranteed pod and 2 BestEffort pods Running", func() (bool, string) {
		var d1, d2 string
		gPods, d1 = readyPods(t, ns, "app=guaranteed")
		bePods, d2 = readyPods(t, ns, "app=besteffort")
		return len(gPods) == 1 && len(bePods) == 2, d1 + " | " + d2
	})
	live := livePodTasks(t)
	check := func(p corev1.Pod, revocable bool) bridge.StateTask {
		tasks := live[p.UID]
		if len(tasks) != 1 {
			t.Fatalf("pod %s: live tasks %+v, want one", p.Name, tasks)
		}
		tk := tasks[0]
		onRevocable := tk.Scalar("cpus_revocable") > 0 && tk.Scalar("mem_revocable") > 0 && tk.Scalar("cpus") == 0 && tk.Scalar("mem") == 0
		onRegular := tk.Scalar("cpus") > 0 && tk.Scalar("cpus_revocable") == 0 && tk.Scalar("mem_revocable") == 0
		if revocable != podtask.IsRevocableExecutorID(tk.ExecutorID) || (revocable && !onRevocable) || (!revocable && !onRegular) {
			t.Fatalf("pod %s: task %s on executor %s with resources %v; want revocable %v", p.Name, tk.ID, tk.ExecutorID, tk.Resources, revocable)
		}
		return tk
	}
	gTask := check(gPods[0], false)
	for _, p := range bePods {
		check(p, true)
	}
	t.Logf("on %s: Guaranteed task %s %v; BestEffort on revocable resources", victim, gTask.ID, gTask.Resources)

	// The operator lowers the estimate below what the two pods and their
	// executor use (2 × 10 mcpu + 10 mcpu); the agent is put back as it was
	// at the end.
	lower, err := devcluster.WithEstimate(args, devcluster.Oversubscription{MilliCPU: 5, MemoryMB: 8})
	if err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	restartAgent(lower)

	old := map[types.UID]string{}
	for _, p := range bePods {
		old[p.UID] = p.Name
	}
	eventually(t, 2*time.Minute, "both BestEffort pods Failed with "+bridge.ReasonResourcesRevoked, func() (bool, string) {
		var bad []string
		for uid, name := range old {
			p, err := cluster.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			switch {
			case err != nil:
				bad = append(bad, name+": "+err.Error())
			case p.UID != uid || p.Status.Phase != corev1.PodFailed || p.Status.Reason != bridge.ReasonResourcesRevoked:
				bad = append(bad, fmt.Sprintf("%s: %s %q", name, p.Status.Phase, p.Status.Reason))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	t.Logf("BestEffort pods evicted %v after the estimate was lowered", time.Since(revoked).Round(time.Millisecond))
	eventually(t, 2*time.Minute, "2 new BestEffort pods Running", func() (bool, string) {
		pods, detail := readyPods(t, ns, "app=besteffort")
		n := 0
		for _, p := range pods {
			if _, was := old[p.UID]; !was {
				n++
			}
		}
		return n == 2, detail
	})

	now, detail := readyPods(t, ns, "app=guaranteed")
	if len(now) != 1 || now[0].UID != gPods[0].UID || fmt.Sprint(containers(now[0])) != fmt.Sprint(containers(gPods[0])) {
		t.Fatalf("Guaranteed pod after the revocation: %s (%v), want %s with containers %v", detail, now, gPods[0].UID, containers(gPods[0]))
	}
	if tasks := livePodTasks(t)[gPods[0].UID]; len(tasks) != 1 || tasks[0].ID != gTask.ID || tasks[0].State != "TASK_RUNNING" {
		t.Fatalf("Guaranteed pod's tasks %+v, want %s still TASK_RUNNING", tasks, gTask.ID)
	}
}
