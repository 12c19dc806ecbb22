package simnode

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "setup", Image: "busybox"},
				{Name: "proxy", Image: "envoy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers: []corev1.Container{{Name: "app", Image: "nginx"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
}

// TestRunningStatus: a simulated pod runs as kwok reports it: Running, every
// condition True, init containers Completed, sidecars and app containers
// running and Ready, its IP and the node's; a host-network pod has the node's IP.
func TestRunningStatus(t *testing.T) {
	now := metav1.NewTime(time.Unix(1000, 0))
	st := RunningStatus(testPod(), "10.0.0.2", "192.168.1.1", now)
	if st.Phase != corev1.PodRunning || st.PodIP != "10.0.0.2" || st.HostIP != "192.168.1.1" || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("phase %s podIP %s hostIP %s qos %s", st.Phase, st.PodIP, st.HostIP, st.QOSClass)
	}
	for _, c := range st.Conditions {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("condition %s = %s, want True", c.Type, c.Status)
		}
	}
	if len(st.Conditions) != 5 {
		t.Errorf("%d conditions, want 5", len(st.Conditions))
	}
	if s := st.InitContainerStatuses[0]; s.State.Terminated == nil || s.State.Terminated.Reason != "Completed" || s.Ready {
		t.Errorf("init container: %+v, want terminated Completed", s)
	}
	if s := st.InitContainerStatuses[1]; s.State.Running == nil || !s.Ready {
		t.Errorf("sidecar: %+v, want running and ready", s)
	}
	if s := st.ContainerStatuses[0]; s.State.Running == nil || !s.Ready || s.ContainerID != "simulated://u1/app" {
		t.Errorf("app: %+v, want running, ready, simulated://u1/app", s)
	}
	hn := testPod()
	hn.Spec.HostNetwork = true
	if st := RunningStatus(hn, "10.0.0.2", "192.168.1.1", now); st.PodIP != "192.168.1.1" {
		t.Errorf("host-network pod IP %s, want the node's", st.PodIP)
	}
}

// TestRunningStatusIsStable: deciding again on a pod that shows its running
// status (later, as after a relist) asks for no update, while a pod whose
// status someone else changed does.
func TestRunningStatusIsStable(t *testing.T) {
	p := testPod()
	p.Status = RunningStatus(p, "10.0.0.2", "192.168.1.1", metav1.NewTime(time.Unix(1000, 0)))
	later := RunningStatus(p, "10.0.0.2", "192.168.1.1", metav1.NewTime(time.Unix(2000, 0)))
	if !equalStatus(p.Status, later) {
		t.Errorf("running pod needs an update later:\nhave %+v\nwant %+v", p.Status, later)
	}
	p.Status.Conditions[3].Status = corev1.ConditionFalse // Ready turned off
	if equalStatus(p.Status, RunningStatus(p, "10.0.0.2", "192.168.1.1", metav1.Now())) {
		t.Error("pod no longer Ready needs no update")
	}
}

// TestNodeStatus: a simulated node is Ready with the agent's cpus and mem as
// capacity and allocatable, and a heartbeat keeps the transition times of
// unchanged conditions.
func TestNodeStatus(t *testing.T) {
	t0, t1 := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	st := NodeStatus("n1", "192.168.1.1", node.Resources{CPUs: 1.5, MemMiB: 2048}, t0)
	if q := st.Allocatable[corev1.ResourceCPU]; q.Cmp(resource.MustParse("1500m")) != 0 {
		t.Errorf("cpu %s, want 1500m", q.String())
	}
	if q := st.Capacity[corev1.ResourceMemory]; q.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("memory %s, want 2Gi", q.String())
	}
	if st.Addresses[0].Type != corev1.NodeInternalIP || st.Addresses[0].Address != "192.168.1.1" {
		t.Errorf("addresses %v", st.Addresses)
	}
	next := NodeStatus("n1", "192.168.1.1", node.Resources{CPUs: 1.5, MemMiB: 2048}, t1)
	keepTransitions(&next, st.Conditions)
	for _, c := range next.Conditions {
		if !c.LastTransitionTime.Equal(&t0) || !c.LastHeartbeatTime.Equal(&t1) {
			t.Errorf("%s: transition %v heartbeat %v, want %v and %v", c.Type, c.LastTransitionTime, c.LastHeartbeatTime, t0, t1)
		}
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			t.Errorf("Ready = %s", c.Status)
		}
	}
}
