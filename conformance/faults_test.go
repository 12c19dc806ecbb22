package conformance

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/podtask"
)

// TestExecutorKilledPodsAreReplacedAndNeverRunTwice: kill -9 of a
// kubelet-executor takes its kubelet with it. Mesos fails its tasks, the
// bridge marks their pods Failed, the Deployment replaces them, and the old
// containers stop once a new executor's kubelet sees their pods Failed:
// at the end exactly 3 pods answer and 3 tasks run.
func TestExecutorKilledPodsAreReplacedAndNeverRunTwice(t *testing.T) {
	if !cluster.local {
		t.Skip("needs to kill processes of a cluster on this machine")
	}
	ns := namespace(t)
	kubectl(t, "apply", "-n", ns, "-f", filepath.Join(cluster.repo, "manifests", "examples", "hello.yaml"))
	var before []corev1.Pod
	eventually(t, 3*time.Minute, "3 Running hello pods", func() (bool, string) {
		var detail string
		before, detail = readyPods(t, ns, "app=hello")
		return len(before) == 3, detail
	})

	// The agent of the first pod loses its executor.
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := st.Framework("kubemesos")
	agentOf := map[types.UID]string{}
	for _, tk := range fw.Tasks {
		if uid, ok := podtask.UIDFromTaskID(tk.ID); ok {
			agentOf[uid] = tk.AgentID
		}
	}
	victimAgent := agentOf[before[0].UID]
	var victims []corev1.Pod
	for _, p := range before {
		if agentOf[p.UID] == victimAgent {
			victims = append(victims, p)
		}
	}
	pids := executorPIDs(t, victimAgent)
	if len(pids) != 1 {
		t.Fatalf("want the one executor process of agent %s, found %v", victimAgent, pids)
	}
	t.Logf("killing executor pids %v on agent %s, which runs %d of the pods", pids, victimAgent, len(victims))
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()

	for _, v := range victims {
		eventually(t, time.Minute, v.Name+" Failed by the bridge", func() (bool, string) {
			p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), v.Name, metav1.GetOptions{})
			if err != nil {
				return true, "" // gone is fine too: the ReplicaSet may have cleaned it up
			}
			return p.Status.Phase == corev1.PodFailed, fmt.Sprintf("%s %s", p.Status.Phase, p.Status.Reason)
		})
	}
	w := watchedPods{}
	w.add(before...)
	faultOutcome(t, outcome{ns: ns, selector: "app=hello", want: 3, start: start, timeout: 3 * time.Minute, watched: w})

	// The old containers are gone: their IPs no longer answer as the old pods.
	for _, v := range victims {
		url := "http://" + net.JoinHostPort(v.Status.PodIP, "8080") + "/"
		eventually(t, 3*time.Minute, "the old "+v.Name+" stopped serving", func() (bool, string) {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
			if err != nil {
				return true, ""
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return !strings.Contains(string(body), "hello from "+v.Name), string(body)
		})
	}
	tasks := frameworkTasks(t)
	for _, v := range victims {
		if state := tasks[v.UID]; state == "TASK_RUNNING" {
			t.Errorf("the task of killed pod %s is still %s", v.Name, state)
		}
	}
}
