package conformance

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosalloc "github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/podtask"
)

// guardedWeb is 4 busybox httpd replicas behind the Service web, spread
// 2+2 over the agents (a tainted Node is not a domain: nodeTaintsPolicy
// Honor), under a PodDisruptionBudget of minAvailable 3. A replica is Ready
// 5 s after it starts, so a drain must wait for each replacement.
func guardedWeb(ns string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 10
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: httpd
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /www && echo "v1 $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 50m, memory: 16Mi}}
        readinessProbe: {httpGet: {path: /, port: 8080}, initialDelaySeconds: 5, periodSeconds: 1}
        lifecycle: {preStop: {sleep: {seconds: 3}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: %[1]s}
spec:
  minAvailable: 3
  selector: {matchLabels: {app: web}}
`, ns)
}

// machineOf is the Mesos machine (hostname and IP, as Mesos matches both)
// of the agent whose Node is node.
func machineOf(t *testing.T, node string) mesos.MachineID {
	t.Helper()
	for _, a := range mesosAgents(t) {
		if podtask.NodeName(a.AgentInfo.Hostname) != node || !a.Active {
			continue
		}
		host := a.AgentInfo.Hostname
		_, addr, _ := strings.Cut(a.GetPID(), "@")
		ip, _, _ := strings.Cut(addr, ":")
		return mesos.MachineID{Hostname: &host, IP: &ip}
	}
	t.Fatalf("no active Mesos agent for node %s", node)
	return mesos.MachineID{}
}

// answerFor is the kubemesos framework's last answer to an inverse offer
// for machine m (GET_MAINTENANCE_STATUS), "" if none or on error.
func answerFor(ctx context.Context, m mesos.MachineID, fwID string) string {
	r, err := tryOperatorCall(ctx, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_STATUS})
	if err != nil {
		return ""
	}
	st := r.GetGetMaintenanceStatus().Status
	for _, d := range st.DrainingMachines {
		if d.ID.GetHostname() != m.GetHostname() {
			continue
		}
		for _, s := range d.Statuses {
			if s.FrameworkID.Value == fwID {
				return s.GetStatus().String()
			}
		}
	}
	return ""
}

// kubemesosTasksOn are the live tasks of the kubemesos framework on the
// agents of node, and the framework's ID.
func kubemesosTasksOn(t *testing.T, node string) (tasks []string, fwID string) {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]bool{}
	for _, a := range st.Agents {
		if podtask.NodeName(a.Hostname) == node {
			agents[a.ID] = true
		}
	}
	fw, ok := st.Framework("kubemesos")
	if !ok {
		t.Fatal("no kubemesos framework at the master")
	}
	for _, tk := range fw.Tasks {
		if agents[tk.AgentID] && tk.State != "TASK_KILLED" && tk.State != "TASK_FINISHED" {
			tasks = append(tasks, tk.Name+" "+tk.State)
		}
	}
	return tasks, fw.ID
}

// readyEndpoints counts the ready endpoints of Service svc.
func readyEndpoints(ctx context.Context, ns, svc string) (int, error) {
	slices, err := cluster.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

// TestMesosMaintenanceDrainsNodeWithinBudget: the operator schedules Mesos
// maintenance for the first agent's machine through the operator API. The
// bridge taints its Node kubemesos.io/maintenance and evicts the web
// replicas there one at a time: sampled every 200 ms, the Service never has
// fewer than 3 ready endpoints and a client on the other agent never sees a
// request fail; the inverse offer is declined while the budget blocks
// (GET_MAINTENANCE_STATUS, `kubemesos why node/…`, a Node event) and
// accepted only once no pod of the Deployment and no kubemesos task runs on
// the agent. START_MAINTENANCE then succeeds with no kubemesos task there;
// STOP_MAINTENANCE brings the agent back: the Node is Ready and untainted
// and new replicas run there.
func TestMesosMaintenanceDrainsNodeWithinBudget(t *testing.T) {
	requireTestImages(t)
	if !cluster.local {
		t.Skip("takes an agent's machine DOWN: needs the suite's own local cluster")
	}
	nodes := readyNodes(t)
	if len(nodes) < 2 {
		t.Skip("needs two nodes")
	}
	slices.Sort(nodes)
	victim, other := nodes[0], nodes[1]
	ns := namespace(t)
	kubectlApply(t, guardedWeb(ns))
	kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=3m")
	waitEndpoints(t, ns, "web", 4)
	before, _ := readyPods(t, ns, "app=web")
	onVictim := 0
	for _, p := range before {
		if p.Spec.NodeName == victim {
			onVictim++
		}
	}
	if onVictim != 2 {
		t.Fatalf("%d replicas on %s, want 2 (spread 2+2)", onVictim, victim)
	}
	svc, err := cluster.client.CoreV1().Services(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubectlApply(t, sampler(ns, "sampler", other, svc.Spec.ClusterIP))
	waitRunning(t, ns, "sampler")
	eventually(t, time.Minute, "the sampler answered", func() (bool, string) {
		return readSamples(t, ns, "sampler").byVersion["v1"] > 0, ""
	})
	failedBefore := len(readSamples(t, ns, "sampler").failed)

	// Sample every 200 ms: ready endpoints of the Service, the
	// Deployment's pods on the victim, and the framework's answer.
	m := machineOf(t, victim)
	_, fwID := kubemesosTasksOn(t, victim)
	type sample struct {
		at       time.Time
		ready    int
		onVictim int
		answer   string
	}
	var (
		mu      sync.Mutex
		samples []sample
	)
	sctx, stopSampling := context.WithCancel(t.Context())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			s := sample{at: time.Now(), answer: answerFor(sctx, m, fwID)}
			if n, err := readyEndpoints(sctx, ns, "web"); err == nil {
				s.ready = n
			} else {
				s.ready = -1
			}
			if pods, err := cluster.client.CoreV1().Pods(ns).List(sctx, metav1.ListOptions{LabelSelector: "app=web"}); err == nil {
				for _, p := range pods.Items {
					if p.Spec.NodeName == victim {
						s.onVictim++
					}
				}
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	}()
	defer stopSampling()

	start := time.Now()
	operatorCall(t, &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{
		Schedule: maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: []mesos.MachineID{m}, Unavailability: mesos.Unavailability{
			Start: mesos.TimeInfo{Nanoseconds: time.Now().UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)},
		}}}},
	}})
	t.Cleanup(func() {
		// Whatever happened, leave the machine UP and out of the schedule.
		// (t.Context() is done by the time cleanups run.)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r, err := tryOperatorCall(ctx, &opv1.Call{Type: opv1.Call_GET_MAINTENANCE_STATUS}); err == nil {
			for _, d := range r.GetGetMaintenanceStatus().Status.DownMachines {
				if d.GetHostname() == m.GetHostname() {
					_, _ = tryOperatorCall(ctx, &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{m}}})
				}
			}
		}
		if _, err := tryOperatorCall(ctx, &opv1.Call{Type: opv1.Call_UPDATE_MAINTENANCE_SCHEDULE, UpdateMaintenanceSchedule: &opv1.Call_UpdateMaintenanceSchedule{}}); err != nil {
			t.Errorf("clear the maintenance schedule: %v", err)
		}
	})

	why := filepath.Join(cluster.repo, "bin", "kubemesos")
	var whyBlocked string
	eventually(t, 3*time.Minute, "the inverse offer accepted", func() (bool, string) {
		if whyBlocked == "" {
			out, _ := exec.CommandContext(t.Context(), why, "why", "--bridge", cluster.bridgeDebug, "node/"+victim).CombinedOutput()
			if strings.Contains(string(out), bridge.PhaseBlocked) {
				whyBlocked = string(out)
			}
		}
		a := answerFor(t.Context(), m, fwID)
		return a == mesosalloc.InverseOfferStatus_ACCEPT.String(), "answer " + a
	})
	drained := time.Since(start)
	time.Sleep(time.Second) // a few samples after the ACCEPT
	stopSampling()
	<-sampled
	tasks, _ := kubemesosTasksOn(t, victim)
	if len(tasks) > 0 {
		t.Fatalf("kubemesos tasks on %s after the ACCEPT: %v", victim, tasks)
	}

	mu.Lock()
	defer mu.Unlock()
	minReady, declined, acceptedAt := 4, false, -1
	for i, s := range samples {
		if s.ready >= 0 {
			minReady = min(minReady, s.ready)
		}
		if s.answer == mesosalloc.InverseOfferStatus_DECLINE.String() {
			declined = true
		}
		if s.answer == mesosalloc.InverseOfferStatus_ACCEPT.String() && acceptedAt < 0 {
			acceptedAt = i
			if s.onVictim != 0 {
				t.Errorf("the inverse offer accepted while %d web pod(s) were still on %s", s.onVictim, victim)
			}
		}
	}
	t.Logf("drain of %s: ACCEPT after %v; %d samples (every 200 ms), fewest ready endpoints %d",
		victim, drained.Round(time.Millisecond), len(samples), minReady)
	if minReady < 3 {
		t.Errorf("the Service had %d ready endpoints at one sample, below the budget's 3", minReady)
	}
	if acceptedAt < 0 {
		t.Fatal("no sample saw the ACCEPT")
	}
	if !declined {
		t.Errorf("the inverse offer was never declined, though the budget held the second replica for its replacement's 5 s")
	}
	if whyBlocked == "" || !strings.Contains(whyBlocked, "disruption budget") {
		t.Errorf("kubemesos why node/%s never said the budget blocks: %q", victim, whyBlocked)
	} else {
		t.Logf("kubemesos why node/%s while blocked:\n%s", victim, whyBlocked)
	}
	if f := readSamples(t, ns, "sampler").failed; len(f) > failedBefore {
		t.Errorf("%d requests through the Service failed during the drain: %v", len(f)-failedBefore, f[failedBefore:])
	}
	node, err := cluster.client.CoreV1().Nodes().Get(t.Context(), victim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(node.Spec.Taints, func(tt corev1.Taint) bool { return tt.MatchTaint(&podtask.MaintenanceTaint) }) {
		t.Errorf("%s not tainted %s: %v", victim, podtask.MaintenanceTaintKey, node.Spec.Taints)
	}
	evs, err := cluster.client.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range evs.Items {
		if e.Regarding.Kind == "Node" && e.Regarding.Name == victim {
			reasons[e.Reason] = true
		}
	}
	for _, want := range []string{k8sapi.ReasonDrainStarted, k8sapi.ReasonDrainBlocked, k8sapi.ReasonDrained} {
		if !reasons[want] {
			t.Errorf("no %s event on Node %s (saw %v)", want, victim, reasons)
		}
	}

	// START_MAINTENANCE with no kubemesos task on the agent; STOP brings it back.
	operatorCall(t, &opv1.Call{Type: opv1.Call_START_MAINTENANCE, StartMaintenance: &opv1.Call_StartMaintenance{Machines: []mesos.MachineID{m}}})
	operatorCall(t, &opv1.Call{Type: opv1.Call_STOP_MAINTENANCE, StopMaintenance: &opv1.Call_StopMaintenance{Machines: []mesos.MachineID{m}}})
	eventually(t, 3*time.Minute, victim+" Ready and untainted again", func() (bool, string) {
		n, err := cluster.client.CoreV1().Nodes().Get(t.Context(), victim, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		tainted := slices.ContainsFunc(n.Spec.Taints, func(tt corev1.Taint) bool { return tt.MatchTaint(&podtask.MaintenanceTaint) })
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		return ready && !tainted, fmt.Sprintf("ready %v, tainted %v, taints %v", ready, tainted, n.Spec.Taints)
	})
	kubectl(t, "-n", ns, "scale", "deployment/web", "--replicas=6")
	eventually(t, 3*time.Minute, "new replicas on "+victim, func() (bool, string) {
		ready, states := readyPods(t, ns, "app=web")
		n := 0
		for _, p := range ready {
			if p.Spec.NodeName == victim {
				n++
			}
		}
		return len(ready) == 6 && n == 2, states
	})
}
