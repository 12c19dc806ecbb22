package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
	"github.com/kubemesos/kubemesos/manifests/storage"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// volumeAgent is the shape of the agents of the volume tests: 2 GiB of disk.
const volumeAgent = "cpus:2;mem:2048;disk:2048"

// newVolumeCluster starts a control plane with a controller manager (its
// PV controller binds claims to the PVs the bridge makes and releases them
// when their claims go), the StorageClass kubemesos-local, a master and
// agents that run the real kubelet-executor with a simulated node (no
// kubelet: pods are reported running at once), whose node tasks report
// their agent's work_dir. The bridges it starts provision volumes.
func newVolumeCluster(t *testing.T, agents int) *testCluster {
	t.Helper()
	return newVolumeClusterOf(t, storage.DeleteFile, agents)
}

// newVolumeClusterOf is newVolumeCluster with the class of the manifest
// file classFile (storage.DeleteFile or storage.RetainFile).
func newVolumeClusterOf(t *testing.T, classFile string, agents int) *testCluster {
	t.Helper()
	c := newClusterWith(t, 1, nil, []cptest.Option{cptest.WithControllerManager()})
	c.volumes = true
	env := map[string]string{
		kubeletExecutorEnv:                    "1",
		"PATH":                                os.Getenv("PATH"),
		kubeletexecutor.EnvRuntime:            kubeletexecutor.RuntimeSimulated,
		kubeletexecutor.EnvKubeconfig:         c.adminKubeconfig,
		kubeletexecutor.EnvExecutorKubeconfig: c.execKubeconfig,
	}
	for range agents {
		c.startAgent(volumeAgent, env)
	}
	class, err := storage.Class(classFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.StorageV1().StorageClasses().Create(t.Context(), class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// claim is a PVC of kubemesos-local requesting size.
func claim(name, size string) *corev1.PersistentVolumeClaim {
	sc := podtask.StorageClassName
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &sc,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// podWithClaim is a small pod mounting the PVC claimName at /data.
func podWithClaim(name, claimName string) *corev1.Pod {
	p := pod(name, "100m", "64Mi")
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName},
	}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return p
}

// claimReservations counts, by claim UID, the disks reserved for claims and
// the volumes on them, as /master/state and the operator API's GET_AGENTS
// show them (each must agree), and the agent each is on.
type claimCount struct {
	reservations, volumes int
	agents                []string
}

func (c *testCluster) claimReservations(t *testing.T) map[types.UID]claimCount {
	t.Helper()
	// The two are read one after the other: an operation applied in
	// between makes them differ for a moment.
	var state, operator map[types.UID]claimCount
	for range 20 {
		if state, operator = c.claimReservationsOnce(t); fmt.Sprint(state) == fmt.Sprint(operator) {
			return state
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/master/state shows the claims' disks %v, GET_AGENTS %v", state, operator)
	return nil
}

func (c *testCluster) claimReservationsOnce(t *testing.T) (fromState, fromOperator map[types.UID]claimCount) {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	fromState = map[types.UID]claimCount{}
	for _, r := range st.ClaimResources() {
		n := fromState[r.Claim]
		n.reservations++
		if r.PersistenceID != "" {
			n.volumes++
		}
		n.agents = append(n.agents, r.AgentID)
		sort.Strings(n.agents)
		fromState[r.Claim] = n
	}
	fromOperator = map[types.UID]claimCount{}
	for _, a := range getAgents(t, c.master) {
		for i := range a.TotalResources {
			r := &a.TotalResources[i]
			cl, ok := podtask.ClaimOfResource(r)
			if !ok {
				continue
			}
			n := fromOperator[cl.UID]
			n.reservations++
			if r.IsPersistentVolume() {
				n.volumes++
			}
			n.agents = append(n.agents, a.AgentInfo.GetID().GetValue())
			sort.Strings(n.agents)
			fromOperator[cl.UID] = n
		}
	}
	return fromState, fromOperator
}

// getAgents asks the master's operator API for its agents.
func getAgents(t *testing.T, master string) []opv1.Response_GetAgents_Agent {
	t.Helper()
	return operatorCall(t, master, opv1.Call_GET_AGENTS).GetGetAgents().GetAgents()
}

// operatorCall makes a call of the master's operator API.
func operatorCall(t *testing.T, master string, typ opv1.Call_Type) *opv1.Response {
	t.Helper()
	return mesostest.MustOperatorCall(t, master, &opv1.Call{Type: typ})
}

// runningOn waits until the pod name is bound and its task RUNNING, and
// returns the pod.
func (c *testCluster) runningOn(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	eventually(t, 30*time.Second, "pod "+name+" bound and its task RUNNING", func() (bool, string) {
		got, err := c.client.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		p = got
		return got.Spec.NodeName != "" && c.tasks(t)[string(got.UID)] == "TASK_RUNNING", fmt.Sprintf("node %q, tasks %v", got.Spec.NodeName, c.tasks(t))
	})
	return p
}

// deletePod deletes the pod name at once and waits until it is gone and
// its task ended.
func (c *testCluster) deletePod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if err := c.client.CoreV1().Pods("default").Delete(t.Context(), p.Name, *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod "+p.Name+" gone and its task ended", func() (bool, string) {
		_, err := c.client.CoreV1().Pods("default").Get(t.Context(), p.Name, metav1.GetOptions{})
		state := c.tasks(t)[string(p.UID)]
		return apierrors.IsNotFound(err) && state != "TASK_RUNNING" && state != "", fmt.Sprintf("get: %v, task %s", err, state)
	})
}

// TestVolumeProvisionedReusedAndReclaimed: a pod with an unbound claim of
// kubemesos-local gets, in one ACCEPT, a reservation and a volume on the
// agent it lands on; the PV the bridge then creates is a local volume at
// the volume's directory (which Mesos made), pre-bound, and the PV
// controller binds the claim to it. The pod's replacement goes back to the
// same agent and volume and finds the data; a claim bigger than any free
// disk waits with a reason naming it; deleting the pod and the claim
// destroys the volume, unreserves its disk (in /master/state and
// GET_AGENTS) and lets the PV go.
func TestVolumeProvisionedReusedAndReclaimed(t *testing.T) {
	c := newVolumeCluster(t, 2)
	c.startBridge()
	ctx := t.Context()
	pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("data-web-0", "512Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("web-0", pvc.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := c.runningOn(t, "web-0")

	var pv *corev1.PersistentVolume
	eventually(t, 30*time.Second, "the PV, and the claim bound to it", func() (bool, string) {
		got, err := c.client.CoreV1().PersistentVolumes().Get(ctx, podtask.PVName(pvc.UID), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pv = got
		cl, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, pvc.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cl.Status.Phase == corev1.ClaimBound && cl.Spec.VolumeName == pv.Name, fmt.Sprintf("claim %s, volume %q", cl.Status.Phase, cl.Spec.VolumeName)
	})
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("PV capacity %s, want 512Mi", got.String())
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID {
		t.Errorf("PV claimRef %+v, want the claim's UID %s", ref, pvc.UID)
	}
	node := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values
	if len(node) != 1 || node[0] != first.Spec.NodeName {
		t.Errorf("PV node affinity %v, want the pod's node %s", node, first.Spec.NodeName)
	}
	dir := pv.Spec.Local.Path
	if !strings.HasSuffix(dir, filepath.Join("volumes", "roles", "kubernetes", pv.Name)) {
		t.Errorf("PV path %s is not the volume's directory under the agent's work_dir", dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the volume's directory %s: %v", dir, err)
	}
	counts := c.claimReservations(t)
	if n := counts[pvc.UID]; n.reservations != 1 || n.volumes != 1 || n.agents[0] != pv.Annotations[podtask.AnnAgentID] {
		t.Fatalf("claim %s has %+v in Mesos, want one reserved disk with one volume on agent %s", pvc.UID, n, pv.Annotations[podtask.AnnAgentID])
	}
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("web-0"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A claim bigger than any free disk waits, with the reason.
	if _, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("huge", "20Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("huge", "huge"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a FailedScheduling event naming the huge claim", func() (bool, string) {
		return c.failedSchedulingWith(t, "huge", "pvc huge requests 20Gi; the largest free disk is")
	})
	// A claim that does not exist: the pod waits, saying so.
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("lost", "nosuch"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a FailedScheduling event naming the missing claim", func() (bool, string) {
		return c.failedSchedulingWith(t, "lost", `persistentvolumeclaim "nosuch" not found`)
	})

	// The replacement of the pod goes back to its volume.
	c.deletePod(t, first)
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("web-0", pvc.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := c.runningOn(t, "web-0")
	if second.Spec.NodeName != first.Spec.NodeName {
		t.Fatalf("the replacement runs on %s, its volume is on %s", second.Spec.NodeName, first.Spec.NodeName)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello")); err != nil || string(b) != "web-0" {
		t.Fatalf("the volume's data after the pod was replaced: %q %v", b, err)
	}
	if n := c.claimReservations(t)[pvc.UID]; n.reservations != 1 || n.volumes != 1 {
		t.Fatalf("after the replacement claim %s has %+v in Mesos, want one reservation and volume", pvc.UID, n)
	}
	if got := c.taskVolumes(t, second.UID); len(got) != 1 || got[0] != pv.Name {
		t.Fatalf("the replacement's task lists volumes %v, want [%s]", got, pv.Name)
	}

	// Reclaim: the pod and the claim go, then the volume, the reservation and the PV.
	c.deletePod(t, second)
	if err := c.client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, pvc.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the volume destroyed, its disk unreserved and the PV gone", func() (bool, string) {
		n := c.claimReservations(t)[pvc.UID]
		_, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return n.reservations == 0 && apierrors.IsNotFound(err), fmt.Sprintf("in Mesos %+v, PV: %v", n, err)
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the volume's directory %s after DESTROY: %v", dir, err)
	}
}

// taskVolumes are the persistence IDs of the volumes the live task of the
// pod with this UID lists, as the master's GET_TASKS shows them.
func (c *testCluster) taskVolumes(t *testing.T, uid types.UID) []string {
	t.Helper()
	r := operatorCall(t, c.master, opv1.Call_GET_TASKS)
	var out []string
	for _, tk := range r.GetGetTasks().GetTasks() {
		if got, ok := podtask.UIDFromTaskID(tk.TaskID.Value); ok && got == uid && tk.GetState() == mesos.TASK_RUNNING {
			out = append(out, podtask.VolumeIDs(tk.Resources)...)
		}
	}
	return out
}

// reserves reports whether a call is an ACCEPT that RESERVEs.
func reserves(call *scheduler.Call) bool {
	for _, op := range call.GetAccept().GetOperations() {
		if op.GetType() == mesos.Offer_Operation_RESERVE {
			return true
		}
	}
	return false
}

// TestFailoverMidProvisioningLeavesOneReservationPerClaim: three bridges
// with leader election; two pods with a claim each. The first leader dies
// after writing the launch intents of the provisioning (their volumes
// listed) and before its ACCEPT reaches Mesos; the second dies right after
// its first RESERVE/CREATE/LAUNCH went out, before it heard of the task;
// the third finishes. In the end each claim has exactly one reservation
// and one volume in Mesos (/master/state and GET_AGENTS), on the agent its
// PV names, and its pod runs there.
func TestFailoverMidProvisioningLeavesOneReservationPerClaim(t *testing.T) {
	c := newVolumeCluster(t, 2)
	ctx := t.Context()
	cli, endpoint := etcdClient(t)
	const prefix = "/kubemesos"
	killA, killB := make(chan struct{}, 1), make(chan struct{}, 1)
	// bridge-a never gets a RESERVE to Mesos: it "dies" at its first.
	a := c.startHABridgeWith(t, "bridge-a", endpoint, prefix, func(next calls.Caller) calls.Caller {
		return calls.CallerFunc(func(ctx context.Context, call *scheduler.Call) (mesos.Response, error) {
			if reserves(call) {
				select {
				case killA <- struct{}{}:
				default:
				}
				return nil, errors.New("bridge-a is dying")
			}
			return next.Call(ctx, call)
		})
	})
	eventually(t, 10*time.Second, "bridge-a leading", func() (bool, string) { return a.leading.Load(), "" })
	var bSent atomic.Bool
	b := c.startHABridgeWith(t, "bridge-b", endpoint, prefix, func(next calls.Caller) calls.Caller {
		return calls.CallerFunc(func(ctx context.Context, call *scheduler.Call) (mesos.Response, error) {
			if !reserves(call) {
				return next.Call(ctx, call)
			}
			if bSent.Swap(true) {
				return nil, errors.New("bridge-b is dying")
			}
			resp, err := next.Call(ctx, call)
			killB <- struct{}{}
			return resp, err
		})
	})
	bridgeC := c.startHABridgeWith(t, "bridge-c", endpoint, prefix, nil)

	var claims []*corev1.PersistentVolumeClaim
	for i := range 2 {
		pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim(fmt.Sprintf("data-db-%d", i), "256Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, pvc)
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim(fmt.Sprintf("db-%d", i), pvc.Name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-killA:
	case <-time.After(30 * time.Second):
		t.Fatal("bridge-a never tried to provision")
	}
	var written []bridge.VolumeIntent
	for _, in := range storedIntents(t, cli, prefix) {
		written = append(written, in.Volumes...)
	}
	if len(written) == 0 {
		t.Fatal("bridge-a tried to provision with no volume in its stored launch intents")
	}
	a.kill()
	if n := c.claimReservations(t); len(n) != 0 {
		t.Fatalf("Mesos has claims' disks %v though no RESERVE reached it", n)
	}
	select {
	case <-killB:
	case <-time.After(haLeaseTTL + 30*time.Second):
		t.Fatal("bridge-b never provisioned")
	}
	b.kill()
	eventually(t, haLeaseTTL+10*time.Second, "bridge-c leading", func() (bool, string) { return bridgeC.leading.Load(), "" })

	for i, pvc := range claims {
		p := c.runningOn(t, fmt.Sprintf("db-%d", i))
		var pv *corev1.PersistentVolume
		eventually(t, 30*time.Second, "the PV of "+pvc.Name, func() (bool, string) {
			got, err := c.client.CoreV1().PersistentVolumes().Get(ctx, podtask.PVName(pvc.UID), metav1.GetOptions{})
			pv = got
			return err == nil, fmt.Sprint(err)
		})
		agent := pv.Annotations[podtask.AnnAgentID]
		if hostname := c.agentHostname(t, agent); podtask.NodeName(hostname) != p.Spec.NodeName {
			t.Errorf("pod %s runs on %s, its volume is on agent %s (%s)", p.Name, p.Spec.NodeName, agent, hostname)
		}
		eventually(t, 20*time.Second, "one reservation and volume of "+pvc.Name, func() (bool, string) {
			n := c.claimReservations(t)[pvc.UID]
			return n.reservations == 1 && n.volumes == 1 && n.agents[0] == agent, fmt.Sprintf("%+v, want 1 and 1 on %s", n, agent)
		})
	}
	// Nothing else is reserved for a claim.
	if n := c.claimReservations(t); len(n) != len(claims) {
		t.Fatalf("claims' disks in Mesos: %v, want one per claim", n)
	}
}

// agentHostname is the hostname of the agent with this ID.
func (c *testCluster) agentHostname(t *testing.T, id string) string {
	st, err := bridge.FetchMasterState(t.Context(), c.master)
	if err != nil {
		t.Fatal(err)
	}
	return st.AgentHostname(id)
}

// TestRestartedBridgeLearnsWorkDirs: a bridge restarted after its node
// tasks came up has not seen their statuses, so it does not know its
// agents' work_dirs; a new claim makes it relaunch the node tasks (the
// nodes stay up) and learn them from the new tasks' statuses, and the
// claim is provisioned.
func TestRestartedBridgeLearnsWorkDirs(t *testing.T) {
	c := newVolumeCluster(t, 1)
	c.startBridge()
	ctx := t.Context()
	eventually(t, 30*time.Second, "the agent's node task RUNNING", func() (bool, string) {
		for id, st := range c.allTasks(t) {
			if podtask.IsNodeTask(id) && st == "TASK_RUNNING" {
				return true, ""
			}
		}
		return false, fmt.Sprint(c.allTasks(t))
	})
	// The master shows RUNNING before the bridge acknowledged it; an
	// update not acknowledged would come again (every second) to the next
	// bridge, data and all. Let the acknowledgement happen.
	time.Sleep(3 * time.Second)
	c.stopBridge()
	c.startBridge()
	pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("data-late", "128Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("late", pvc.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.runningOn(t, "late")
	eventually(t, 20*time.Second, "one reservation and volume of the claim", func() (bool, string) {
		n := c.claimReservations(t)[pvc.UID]
		return n.reservations == 1 && n.volumes == 1, fmt.Sprintf("%+v", n)
	})
	nodeTasks := map[string]string{}
	for id, st := range c.allTasks(t) {
		if podtask.IsNodeTask(id) {
			nodeTasks[id] = st
		}
	}
	if len(nodeTasks) != 2 {
		t.Fatalf("node tasks %v, want the first killed and a second running", nodeTasks)
	}
}

// TestRetainedVolumeStaysUntilItsPVIsDeleted: under the Retain class a
// deleted claim leaves its PV Released and its volume and reservation in
// Mesos, data included; deleting the PV (the finalizer holds it) destroys
// the volume, unreserves the disk and lets the PV go.
func TestRetainedVolumeStaysUntilItsPVIsDeleted(t *testing.T) {
	c := newVolumeClusterOf(t, storage.RetainFile, 1)
	c.startBridge()
	ctx := t.Context()
	pvc, err := c.client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("data-keep", "128Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, podWithClaim("keep", pvc.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := c.runningOn(t, "keep")
	var pv *corev1.PersistentVolume
	eventually(t, 30*time.Second, "the PV", func() (bool, string) {
		got, err := c.client.CoreV1().PersistentVolumes().Get(ctx, podtask.PVName(pvc.UID), metav1.GetOptions{})
		pv = got
		return err == nil, fmt.Sprint(err)
	})
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Fatalf("PV reclaim policy %s, want the class's Retain", pv.Spec.PersistentVolumeReclaimPolicy)
	}
	file := filepath.Join(pv.Spec.Local.Path, "kept")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.deletePod(t, p)
	if err := c.client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, pvc.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the PV Released", func() (bool, string) {
		got, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == corev1.VolumeReleased, string(got.Status.Phase)
	})
	// Several offers of the agent come and go meanwhile (100 ms allocations).
	time.Sleep(3 * time.Second)
	if n := c.claimReservations(t)[pvc.UID]; n.reservations != 1 || n.volumes != 1 {
		t.Fatalf("a Released PV of the Retain class: %+v in Mesos, want its reservation and volume kept", n)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Fatalf("the retained volume's data: %q %v", b, err)
	}
	if err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the volume destroyed, its disk unreserved and the PV gone", func() (bool, string) {
		n := c.claimReservations(t)[pvc.UID]
		_, err := c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return n.reservations == 0 && apierrors.IsNotFound(err), fmt.Sprintf("in Mesos %+v, PV: %v", n, err)
	})
}
