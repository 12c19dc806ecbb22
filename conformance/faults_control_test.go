package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/devcluster/controlplane"
)

// Fault scenarios that break the control side: the bridges, the Mesos
// masters, the API server and etcd. Each counts pods lost and run twice
// (faultcount_test.go) and logs the recovery time.

// steady starts a Deployment of n sleepers labelled app=name and returns its
// pods once all are Running, Ready and TASK_RUNNING.
func steady(t *testing.T, ns, name string, n int32, spec func(*corev1.PodSpec)) []corev1.Pod {
	t.Helper()
	if spec == nil {
		spec = func(*corev1.PodSpec) {}
	}
	if _, err := cluster.client.AppsV1().Deployments(ns).Create(t.Context(), sleepers(name, n, spec), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := watchedPods{}
	if missing, _, states := recovery(t, ns, "app="+name, "", int(n), 3*time.Minute, w); missing > 0 {
		t.Fatalf("%d of %d replicas of %s never ran before the fault: %s", missing, n, name, states)
	}
	pods, _ := readyPods(t, ns, "app="+name)
	return pods
}

// scale sets the replicas of Deployment name, retrying while the API server
// is coming back.
func scale(t *testing.T, ns, name string, n int32) {
	t.Helper()
	eventually(t, 2*time.Minute, fmt.Sprintf("%s scaled to %d", name, n), func() (bool, string) {
		s, err := cluster.client.AppsV1().Deployments(ns).GetScale(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s.Spec.Replicas = n
		_, err = cluster.client.AppsV1().Deployments(ns).UpdateScale(t.Context(), name, s, metav1.UpdateOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

var leaderMetric = regexp.MustCompile(`(?m)^kubemesos_leader 1$`)

// leadingBridge is the name of the one bridge whose metrics say it leads.
func leadingBridge(t *testing.T) string {
	t.Helper()
	var leader string
	eventually(t, time.Minute, "exactly one leading bridge", func() (bool, string) {
		var leaders []string
		for i, u := range strings.Split(cluster.dev.BridgeMetrics, ",") {
			body, err := httpGet(t.Context(), u)
			if err == nil && leaderMetric.MatchString(body) {
				leaders = append(leaders, devcluster.BridgeName(i+1))
			}
		}
		if len(leaders) == 1 {
			leader = leaders[0]
		}
		return len(leaders) == 1, fmt.Sprint(leaders)
	})
	return leader
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// restartAtEnd starts a killed cluster process again when the test ends
// (unless its supervisor did), so later scenarios find the cluster whole.
func restartAtEnd(t *testing.T, name string) {
	t.Cleanup(func() {
		if err := cluster.dev.Restart(name); err != nil && !errors.Is(err, devcluster.ErrRunning) {
			t.Errorf("restart %s: %v", name, err)
		}
	})
}

// TestBridgeLeaderKilledDuringABurstOfCreates: kill -9 of the leading
// bridge after 5 of 20 pods were created; the others are created while no
// bridge leads. The standby takes over (its etcd lease) and every pod runs,
// each as exactly one Mesos task.
func TestBridgeLeaderKilledDuringABurstOfCreates(t *testing.T) {
	requireFaults(t)
	ns := namespace(t)
	leader := leadingBridge(t)
	const n, killAfter = 20, 5
	var start time.Time
	for i := 0; i < n; i++ {
		if i == killAfter {
			t.Logf("kill -9 of the leading bridge %s after %d creates", leader, i)
			if err := cluster.dev.Kill(leader); err != nil {
				t.Fatal(err)
			}
			restartAtEnd(t, leader)
			start = time.Now()
		}
		p := sleeper(fmt.Sprintf("burst-%d", i))
		p.Labels = map[string]string{"app": "burst"}
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("8Mi")}
		if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	faultOutcome(t, outcome{ns: ns, selector: "app=burst", want: n, start: start, timeout: 3 * time.Minute})
	if now := leadingBridge(t); now == leader {
		t.Errorf("the killed bridge %s leads again before it was restarted", leader)
	}
}

// leadingMaster is the name (devcluster.MasterName) and master ID of the
// master that serves /master/state itself (the others redirect there),
// other than the master of ID except: a killed leader's election lease
// outlives it by the session timeout, during which the others still name
// it, and a master started again has a new ID.
func leadingMaster(t *testing.T, except string) (name, id string) {
	t.Helper()
	urls := strings.Split(cluster.mesosMaster, ",")
	hc := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	eventually(t, 2*time.Minute, "a leading Mesos master other than "+except, func() (bool, string) {
		var seen []string
		for i, u := range urls {
			resp, err := hc.Get(u + "/master/state")
			if err != nil {
				seen = append(seen, err.Error())
				continue
			}
			var st struct {
				ID string `json:"id"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			seen = append(seen, fmt.Sprintf("%s: %s %s", u, resp.Status, resp.Header.Get("Location")))
			if resp.StatusCode == http.StatusOK && err == nil && st.ID != except {
				name, id = devcluster.MasterName(i+1), st.ID
				return true, ""
			}
		}
		return false, strings.Join(seen, "; ")
	})
	return name, id
}

// TestMesosLeaderMasterKilled: kill -9 of the leading Mesos master of two.
// The other is elected (etcd), the agents re-register with their tasks,
// the bridge re-subscribes: the running pods keep their tasks, and a pod
// created afterwards runs.
func TestMesosLeaderMasterKilled(t *testing.T) {
	requireFaults(t)
	if !strings.Contains(cluster.mesosMaster, ",") {
		t.Skip("needs several Mesos masters (devcluster.Config.Masters)")
	}
	ns := namespace(t)
	before := steady(t, ns, "steady", 3, nil)
	w := watchedPods{}
	w.add(before...)
	leader, id := leadingMaster(t, "")
	t.Logf("kill -9 of the leading Mesos master %s (%s); devcluster starts it again %v later, as a supervisor would", leader, id, devcluster.SuperviseDelay)
	if err := cluster.dev.Kill(leader); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	restartAtEnd(t, leader)
	now, nowID := leadingMaster(t, id)
	t.Logf("%s (%s) leads %v after the kill", now, nowID, time.Since(start).Round(time.Millisecond))
	eventually(t, 2*time.Minute, "the bridge subscribed to the new leader", func() (bool, string) {
		st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
		if err != nil {
			return false, err.Error()
		}
		fw, ok := st.Framework("kubemesos")
		return ok && fw.Active, fmt.Sprintf("framework %+v", fw.Name)
	})
	scale(t, ns, "steady", 4)
	faultOutcome(t, outcome{ns: ns, selector: "app=steady", want: 4, start: start, timeout: 3 * time.Minute, watched: w, originals: before})
}

// TestKubeAPIServerRestart: kill -9 of kube-apiserver, 10 s down, started
// again: the running pods and their tasks are untouched and a new replica
// is scheduled and runs.
func TestKubeAPIServerRestart(t *testing.T) {
	controlPlaneRestart(t, controlplane.APIServerBinary)
}

// TestEtcdRestart: the same for etcd, which also holds the bridges' leader
// election and launch intents.
func TestEtcdRestart(t *testing.T) {
	controlPlaneRestart(t, controlplane.EtcdBinary)
}

func controlPlaneRestart(t *testing.T, component string) {
	requireFaults(t)
	ns := namespace(t)
	before := steady(t, ns, "steady", 3, nil)
	w := watchedPods{}
	w.add(before...)
	cp := cluster.dev.ControlPlane
	t.Logf("kill -9 of %s, down for 10s", component)
	if err := cp.StopComponent(component, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(10 * time.Second)
	if err := cp.StartComponent(t.Context(), component); err != nil {
		t.Fatalf("start %s again: %v", component, err)
	}
	t.Logf("%s back after %v", component, time.Since(start).Round(time.Millisecond))
	scale(t, ns, "steady", 4)
	faultOutcome(t, outcome{ns: ns, selector: "app=steady", want: 4, start: start, timeout: 3 * time.Minute, watched: w, originals: before})
}
