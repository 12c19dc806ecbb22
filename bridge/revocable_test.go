package bridge_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// TestRevocablePodsAreRevokedAlone: on an agent that oversubscribes 2 cpus
// and 1 GB, two BestEffort pods that opted in land on revocable resources
// (their tasks' cpus and memory are revocable at /master/state, on the
// revocable executor), while a Guaranteed pod and a BestEffort pod that did
// not opt in use regular ones on the kubelet-executor. When the estimate
// drops to nothing, the QoS controller revokes the revocable container: the
// two opted-in pods are marked Failed with MesosResourcesRevoked, the other
// two keep their task, running.
func TestRevocablePodsAreRevokedAlone(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.agents++
	ag := mesostest.StartAgent(t, agent.Config{
		Master: c.master, Hostname: "agent-1", WorkDir: t.TempDir(),
		Resources: "cpus:1;mem:1024", Attributes: "rack:r1",
		ExecutorEnvironment:         c.execEnv,
		ExecutorShutdownGracePeriod: time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
		StatusUpdateRetryInterval:   time.Second,
		ResourceEstimator:           agent.FixedResourceEstimator,
		ResourceEstimatorResources:  "cpus:2;mem:1024",
		QoSController:               agent.EstimateQoSController,
	})
	c.revocable = &bridge.ExecutorSpec{Command: c.executor, Resources: offermatcher.Resources{MilliCPU: 10, MemoryMB: 8}}
	c.startBridge()

	ctx := t.Context()
	optIn := func(p *corev1.Pod) *corev1.Pod {
		p.Annotations = map[string]string{offermatcher.RevocableAnnotation: "true"}
		return p
	}
	bestEffort := func(name string) *corev1.Pod {
		p := pod(name, "1", "1")
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		return p
	}
	guaranteed := pod("guaranteed", "500m", "256Mi")
	guaranteed.Spec.Containers[0].Resources.Limits = corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
	}
	annotatedGuaranteed := optIn(guaranteed) // the annotation does not make it revocable
	pods := []*corev1.Pod{optIn(bestEffort("be-1")), optIn(bestEffort("be-2")), bestEffort("be-plain"), annotatedGuaranteed}
	uids := map[string]string{}
	var all []string
	for _, p := range pods {
		created, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[p.Name] = string(created.UID)
		all = append(all, string(created.UID))
	}
	eventually(t, 30*time.Second, "every pod's task running", c.allRunning(t, &all))

	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	byUID := fw.PodTasks()
	taskOf := map[string]string{}
	for name, uid := range uids {
		tasks := byUID[types.UID(uid)]
		if len(tasks) != 1 {
			t.Fatalf("pod %s has tasks %v, want one", name, tasks)
		}
		taskOf[name] = tasks[0].ID
		r := tasks[0]
		revocableCPU := r.Scalar("cpus_revocable") > 0 && r.Scalar("mem_revocable") > 0
		regularCPU := r.Scalar("cpus") > 0 || r.Scalar("mem") > 0
		revocableExec := podtask.IsRevocableExecutorID(r.ExecutorID)
		want := name == "be-1" || name == "be-2"
		if revocableCPU != want || regularCPU == want || revocableExec != want {
			t.Errorf("pod %s: task %s on executor %s with resources %v; want revocable %v", name, r.ID, r.ExecutorID, r.Resources, want)
		}
	}

	if err := ag.SetResourceEstimate(""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"be-1", "be-2"} {
		eventually(t, 20*time.Second, name+" evicted as revoked", func() (bool, string) {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodFailed && p.Status.Reason == bridge.ReasonResourcesRevoked,
				fmt.Sprintf("phase %s reason %q", p.Status.Phase, p.Status.Reason)
		})
	}
	tasks := c.allTasks(t)
	for _, name := range []string{"be-plain", "guaranteed"} {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(p.UID) != uids[name] || p.Status.Phase == corev1.PodFailed || tasks[taskOf[name]] != "TASK_RUNNING" {
			t.Errorf("pod %s (uid %s, phase %s) task %s is %s after the revocation; want the same pod, still running",
				name, p.UID, p.Status.Phase, taskOf[name], tasks[taskOf[name]])
		}
	}
}
