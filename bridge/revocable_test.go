package bridge_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
)

// stateTaskResources reads each task of the kubemesos framework at the
// master's /master/state with its executor and resources, as an operator
// sees them (Mesos' json(Resources): revocable ones as "<name>_revocable").
func (c *testCluster) stateTaskResources(t *testing.T) map[string]struct {
	Executor  string
	Resources map[string]any
} {
	t.Helper()
	resp, err := http.Get("http://" + strings.Split(c.master, ",")[0] + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Frameworks []struct {
			Name  string `json:"name"`
			Tasks []struct {
				ID        string         `json:"id"`
				Executor  string         `json:"executor_id"`
				Resources map[string]any `json:"resources"`
			} `json:"tasks"`
		} `json:"frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		Executor  string
		Resources map[string]any
	}{}
	for _, f := range st.Frameworks {
		if f.Name != "kubemesos" {
			continue
		}
		for _, tk := range f.Tasks {
			out[tk.ID] = struct {
				Executor  string
				Resources map[string]any
			}{tk.Executor, tk.Resources}
		}
	}
	return out
}

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
	res := c.stateTaskResources(t)
	taskOf := map[string]string{}
	for name, uid := range uids {
		tasks := byUID[types.UID(uid)]
		if len(tasks) != 1 {
			t.Fatalf("pod %s has tasks %v, want one", name, tasks)
		}
		taskOf[name] = tasks[0].ID
		r := res[tasks[0].ID]
		// Mesos' json(Resources) always has cpus, mem, disk and gpus, 0 if none.
		positive := func(name string) bool { v, _ := r.Resources[name].(float64); return v > 0 }
		revocableCPU, regularCPU := positive("cpus_revocable") && positive("mem_revocable"), positive("cpus") || positive("mem")
		revocableExec := strings.HasPrefix(r.Executor, "revocable-")
		want := name == "be-1" || name == "be-2"
		if revocableCPU != want || regularCPU == want || revocableExec != want {
			t.Errorf("pod %s: task %s on executor %s with resources %v; want revocable %v", name, tasks[0].ID, r.Executor, r.Resources, want)
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
