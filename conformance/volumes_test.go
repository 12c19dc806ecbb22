package conformance

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/podtask"
)

// claimDisks lists, by claim UID, "<agent ID>/<persistence ID>" of each
// disk reserved for the claim ("<agent ID>/" for a reservation without a
// volume), as /master/state shows them; the test fails if the operator
// API's GET_AGENTS shows otherwise.
func claimDisks(t *testing.T) map[types.UID][]string {
	t.Helper()
	// The two are read one after the other: an operation applied in
	// between makes them differ for a moment.
	var state, operator map[types.UID][]string
	for range 20 {
		if state, operator = claimDisksOnce(t); fmt.Sprint(state) == fmt.Sprint(operator) {
			return state
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the claims' disks: /master/state %v, GET_AGENTS %v", state, operator)
	return nil
}

func claimDisksOnce(t *testing.T) (state, operator map[types.UID][]string) {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	state = map[types.UID][]string{}
	for _, r := range st.ClaimResources() {
		state[r.Claim] = append(state[r.Claim], r.AgentID+"/"+r.PersistenceID)
	}
	operator = map[types.UID][]string{}
	for _, a := range operatorCall(t, &opv1.Call{Type: opv1.Call_GET_AGENTS}).GetGetAgents().GetAgents() {
		for i := range a.TotalResources {
			r := &a.TotalResources[i]
			if c, ok := podtask.ClaimOfResource(r); ok {
				operator[c.UID] = append(operator[c.UID], a.AgentInfo.GetID().GetValue()+"/"+r.GetDisk().GetPersistence().GetID())
			}
		}
	}
	for _, m := range []map[types.UID][]string{state, operator} {
		for _, l := range m {
			sort.Strings(l)
		}
	}
	return state, operator
}

// TestStatefulSetDataSurvivesOnMesosVolumes: a StatefulSet of 2 (one per
// agent) with a volumeClaimTemplate of kubemesos-local: each replica's
// claim becomes one Mesos reservation with one persistent volume on the
// agent the replica runs on, and each replica writes a file there. Both
// pods deleted: recreated on the same agents, the files still there.
// Scaled to 0 and back: the same. The claims deleted: their volumes and
// reservations are gone from /master/state and GET_AGENTS, and their PVs.
func TestStatefulSetDataSurvivesOnMesosVolumes(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: %[1]s}
spec:
  serviceName: db
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: db}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: c
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'test -f /data/id || echo "$(hostname) $(date +%%s%%N)" > /data/id; touch /tmp/ready; exec sleep 3600']
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
        resources: {requests: {cpu: 50m, memory: 16Mi}}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      storageClassName: %[2]s
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 64Mi}}
`, ns, podtask.StorageClassName))
	client := cluster.client
	// Each replica: the node it runs on, and what it wrote.
	type replica struct{ node, id string }
	readBack := func(what string) map[string]replica {
		t.Helper()
		var ready []corev1.Pod
		eventually(t, 3*time.Minute, what, func() (bool, string) {
			var states string
			ready, states = readyPods(t, ns, "app=db")
			return len(ready) == 2, states
		})
		tasks := frameworkTasks(t)
		out := map[string]replica{}
		for _, p := range ready {
			if st := tasks[p.UID]; st != "TASK_RUNNING" {
				t.Errorf("%s: task %q, want TASK_RUNNING", p.Name, st)
			}
			id := strings.TrimSpace(kubectl(t, "-n", ns, "exec", p.Name, "--", "cat", "/data/id"))
			if !strings.HasPrefix(id, p.Name+" ") {
				t.Errorf("%s reads %q from its volume, want what it wrote", p.Name, id)
			}
			out[p.Name] = replica{node: p.Spec.NodeName, id: id}
		}
		return out
	}
	first := readBack("db-0 and db-1 Running and Ready")
	if first["db-0"].node == first["db-1"].node {
		t.Fatalf("both replicas on %s", first["db-0"].node)
	}

	// One reservation with one volume per claim, on its replica's agent.
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]*corev1.PersistentVolumeClaim{}
	disks := claimDisks(t)
	for _, name := range []string{"db-0", "db-1"} {
		pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data-"+name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		claims[name] = pvc
		if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName != podtask.PVName(pvc.UID) {
			t.Errorf("%s: %s to %q, want Bound to %s", pvc.Name, pvc.Status.Phase, pvc.Spec.VolumeName, podtask.PVName(pvc.UID))
		}
		d := disks[pvc.UID]
		if len(d) != 1 || !strings.HasSuffix(d[0], "/"+podtask.PVName(pvc.UID)) {
			t.Fatalf("%s: disks in Mesos %v, want one reservation with volume %s", pvc.Name, d, podtask.PVName(pvc.UID))
		}
		agent, _, _ := strings.Cut(d[0], "/")
		if node := podtask.NodeName(st.AgentHostname(agent)); node != first[name].node {
			t.Errorf("%s's volume is on agent %s (node %s), the replica runs on %s", pvc.Name, agent, node, first[name].node)
		}
	}

	kubectl(t, "-n", ns, "delete", "pod", "db-0", "db-1", "--wait=false")
	if again := readBack("db-0 and db-1 recreated and Ready"); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("after the pods were deleted: %v, want %v (same nodes, same data)", again, first)
	}

	kubectl(t, "-n", ns, "scale", "statefulset/db", "--replicas=0")
	eventually(t, 2*time.Minute, "no db pod", func() (bool, string) {
		list, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=db"})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods", len(list.Items))
	})
	kubectl(t, "-n", ns, "scale", "statefulset/db", "--replicas=2")
	if again := readBack("db-0 and db-1 back after scaling to 0 and 2"); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("after scaling to 0 and back: %v, want %v (same nodes, same data)", again, first)
	}
	if d := claimDisks(t); len(d[claims["db-0"].UID]) != 1 || len(d[claims["db-1"].UID]) != 1 {
		t.Fatalf("disks in Mesos after scaling: %v, want one per claim", d)
	}

	kubectl(t, "-n", ns, "scale", "statefulset/db", "--replicas=0")
	kubectl(t, "-n", ns, "delete", "pvc", "data-db-0", "data-db-1", "--wait=false")
	eventually(t, 2*time.Minute, "the claims' volumes, reservations and PVs gone", func() (bool, string) {
		d := claimDisks(t)
		var left []string
		for _, pvc := range claims {
			if len(d[pvc.UID]) > 0 {
				left = append(left, fmt.Sprintf("%s: %v in Mesos", pvc.Name, d[pvc.UID]))
			}
			if _, err := client.CoreV1().PersistentVolumes().Get(t.Context(), podtask.PVName(pvc.UID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("PV %s: %v", podtask.PVName(pvc.UID), err))
			}
		}
		return len(left) == 0, strings.Join(left, "; ")
	})
}
