package conformance

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/podtask"
)

// The hot update (#11): a kubelet-executor that dies or is replaced takes
// its tasks with it, not its pods. The bridge launches each pod again on the
// same agent and the next executor adopts the running containers.

// livePodTasks are the tasks of the bridge's pods that Mesos lists as not
// completed, by pod UID (a pod with two is listed with both).
func livePodTasks(t *testing.T) map[types.UID][]bridge.StateTask {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	out := map[types.UID][]bridge.StateTask{}
	for _, tk := range fw.Tasks {
		if uid, ok := podtask.UIDFromTaskID(tk.ID); ok {
			out[uid] = append(out[uid], tk)
		}
	}
	return out
}

// containers are the pod's container IDs and restart counts, by container.
func containers(p corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, c := range p.Status.ContainerStatuses {
		out[c.Name] = fmt.Sprintf("%s restarts=%d", c.ContainerID, c.RestartCount)
	}
	return out
}

// hello starts the hello Deployment (3 replicas) in a namespace of its own
// and returns it with its Running, Ready pods.
func hello(t *testing.T) (string, []corev1.Pod) {
	t.Helper()
	ns := namespace(t)
	kubectl(t, "apply", "-n", ns, "-f", filepath.Join(cluster.repo, "manifests", "examples", "hello.yaml"))
	var pods []corev1.Pod
	eventually(t, 3*time.Minute, "3 Running hello pods", func() (bool, string) {
		var detail string
		pods, detail = readyPods(t, ns, "app=hello")
		return len(pods) == 3, detail
	})
	return ns, pods
}

// tasksRunAgain waits until each pod has exactly one live task, RUNNING on
// the agent its earlier task ran on, other than its earlier task, and whose
// executor ID satisfies executorOK; it returns the tasks.
func tasksRunAgain(t *testing.T, pods []corev1.Pod, before map[types.UID][]bridge.StateTask, timeout time.Duration,
	executorOK func(string) bool) map[types.UID]bridge.StateTask {
	t.Helper()
	out := map[types.UID]bridge.StateTask{}
	eventually(t, timeout, "the pods' tasks RUNNING again as new tasks on their agents", func() (bool, string) {
		live := livePodTasks(t)
		var bad []string
		for _, p := range pods {
			old := before[p.UID][0]
			now := live[p.UID]
			if len(now) != 1 || now[0].ID == old.ID || now[0].State != "TASK_RUNNING" || now[0].AgentID != old.AgentID ||
				!executorOK(now[0].ExecutorID) {
				bad = append(bad, fmt.Sprintf("%s: %+v (was %s on %s, executor %s)", p.Name, now, old.ID, old.AgentID, old.ExecutorID))
				continue
			}
			out[p.UID] = now[0]
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	return out
}

// stillTheSame checks that the pods are the same pods as before (same UIDs,
// Running and Ready, the same container IDs and restart counts: not
// restarted), that they still serve their page, that no other hello pod
// exists, and that each one's only live task is RUNNING.
func stillTheSame(t *testing.T, ns string, before []corev1.Pod) {
	t.Helper()
	now, detail := readyPods(t, ns, "app=hello")
	byUID := map[types.UID]corev1.Pod{}
	for _, p := range now {
		byUID[p.UID] = p
	}
	if len(now) != len(before) {
		t.Errorf("%d Running, Ready hello pods, want the %d from before: %s", len(now), len(before), detail)
	}
	live := livePodTasks(t)
	for _, b := range before {
		p, ok := byUID[b.UID]
		if !ok {
			t.Errorf("pod %s (%s) is no longer Running and Ready: %s", b.Name, b.UID, detail)
			continue
		}
		if got, want := fmt.Sprint(containers(p)), fmt.Sprint(containers(b)); got != want {
			t.Errorf("pod %s restarted: containers %s, were %s", p.Name, got, want)
		}
		if tasks := live[p.UID]; len(tasks) != 1 || tasks[0].State != "TASK_RUNNING" {
			t.Errorf("pod %s: live tasks %+v, want one TASK_RUNNING", p.Name, tasks)
		}
		url := "http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/"
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
		if err != nil {
			t.Errorf("pod %s does not answer: %v", p.Name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "hello from "+p.Name) {
			t.Errorf("pod %s answers %q", p.Name, body)
		}
	}
}

// sleepUntil sleeps until at, or fails the test when its context ends first.
func sleepUntil(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
}

// TestExecutorKilledPodsAdopted: kill -9 of an agent's kubelet-executor
// (its kubelet dies with it, the containers do not). The agent fails its
// tasks; the bridge launches the same pods again on that agent, the new
// executor and kubelet adopt them: their tasks are RUNNING again in Mesos
// (new task IDs, same agent), and 70 s after the kill — past the new
// executor's adoption window, after which a pod without a task would be
// deleted — the pods are the same (UIDs), Running and Ready with the same
// container IDs and restart counts, still serving, and nothing replaced them.
func TestExecutorKilledPodsAdopted(t *testing.T) {
	if !cluster.local {
		t.Skip("needs to kill processes of a cluster on this machine")
	}
	ns, before := hello(t)
	tasks := livePodTasks(t)
	victimAgent := tasks[before[0].UID][0].AgentID
	var victims []corev1.Pod
	for _, p := range before {
		if tasks[p.UID][0].AgentID == victimAgent {
			victims = append(victims, p)
		}
	}
	pids := executorPIDs(t, victimAgent)
	if len(pids) != 1 {
		t.Fatalf("want the one executor process of agent %s, found %v", victimAgent, pids)
	}
	t.Logf("kill -9 of executor %d on agent %s, which runs %d of the 3 pods", pids[0], victimAgent, len(victims))
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	again := tasksRunAgain(t, victims, tasks, 2*time.Minute, podtask.IsExecutorID)
	t.Logf("the %d pods' tasks RUNNING again %v after the kill: %v", len(victims), time.Since(killed).Round(time.Millisecond), again)
	if now := executorPIDs(t, victimAgent); len(now) != 1 || now[0] == pids[0] {
		t.Errorf("executor processes of agent %s: %v, want one new one (the killed one was %d)", victimAgent, now, pids[0])
	}
	sleepUntil(t, killed.Add(70*time.Second))
	stillTheSame(t, ns, before)
}

// TestBridgeRestartedWithNewExecutorCommandAdoptsPods: every bridge is
// killed and started again with another --executor-command (the same
// binary with an explicit --runtime=kubelet: another configuration, so
// another executor ID). The new leader finds each agent running an executor
// of the old configuration, asks it to retire, launches the pods again onto
// executors of the new one, which adopt them: every pod's task RUNNING
// again under the new executor ID on its agent, one executor per agent, and
// 70 s later the same pods, not restarted.
func TestBridgeRestartedWithNewExecutorCommandAdoptsPods(t *testing.T) {
	requireFaults(t)
	ns, before := hello(t)
	tasks := livePodTasks(t)
	oldIDs := map[string]bool{}
	for _, p := range before {
		oldIDs[tasks[p.UID][0].ExecutorID] = true
	}
	var bridges []string
	for i := 1; ; i++ {
		name := devcluster.BridgeName(i)
		if _, err := cluster.dev.Args(name); err != nil {
			break
		}
		bridges = append(bridges, name)
	}
	if len(bridges) == 0 {
		t.Fatal("no bridge in the local cluster")
	}
	for _, name := range bridges {
		if err := cluster.dev.Kill(name); err != nil {
			t.Fatal(err)
		}
	}
	restarted := time.Now()
	for _, name := range bridges {
		args, _ := cluster.dev.Args(name)
		for i := range args {
			if args[i] == "--executor-command" && i+1 < len(args) {
				args[i+1] += " --runtime=kubelet"
			}
		}
		if err := cluster.dev.RestartWithArgs(name, args); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("bridges %v restarted with a new executor command; old executors %v", bridges, oldIDs)
	newExecutor := func(id string) bool { return podtask.IsExecutorID(id) && !oldIDs[id] }
	again := tasksRunAgain(t, before, tasks, 3*time.Minute, newExecutor)
	t.Logf("every pod's task RUNNING under the new executor %v after the restart: %v", time.Since(restarted).Round(time.Millisecond), again)
	var agents []string
	for _, tk := range again {
		agents = append(agents, tk.AgentID)
	}
	sort.Strings(agents)
	for _, a := range slices.Compact(agents) {
		if pids := executorPIDs(t, a); len(pids) != 1 {
			t.Errorf("agent %s runs executors %v, want exactly one", a, pids)
		}
	}
	sleepUntil(t, time.Now().Add(70*time.Second))
	stillTheSame(t, ns, before)
}
