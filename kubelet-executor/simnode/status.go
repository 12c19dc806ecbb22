package simnode

import (
	"fmt"
	"runtime"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

// Version is what a simulated Node reports as its kubelet and container
// runtime version.
const Version = "v1.36.3-kubemesos-simulated"

// ReasonReady is the reason of a simulated Node's Ready condition.
const ReasonReady = "KubemesosSimulatedReady"

// MaxPods is the pods capacity of a simulated Node (the kubelet's default maxPods).
const MaxPods = 110

// NodeResources is the capacity (and allocatable) of a Node for res: the
// agent's cpus (in millicores, rounded down) and mem (MiB), and MaxPods.
func NodeResources(res node.Resources) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(res.CPUs*1000), resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse(strconv.FormatInt(int64(res.MemMiB), 10) + "Mi"),
		corev1.ResourcePods:   *resource.NewQuantity(MaxPods, resource.DecimalSI),
	}
}

// NodeStatus is the status a simulated Node reports at now: Ready, no
// pressure, the agent's resources as capacity and allocatable.
func NodeStatus(name, nodeIP string, res node.Resources, now metav1.Time) corev1.NodeStatus {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	list := NodeResources(res)
	st := corev1.NodeStatus{
		Capacity:    list,
		Allocatable: list.DeepCopy(),
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "simulated"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "simulated"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "simulated"),
			cond(corev1.NodeReady, corev1.ConditionTrue, ReasonReady, "simulated runtime of the kubemesos executor: no kubelet, no containers"),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: Version, ContainerRuntimeVersion: "simulated://" + Version,
			OperatingSystem: "linux", Architecture: runtime.GOARCH,
		},
	}
	if nodeIP != "" {
		st.Addresses = append([]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}}, st.Addresses...)
	}
	return st
}

// keepTransitions carries over the LastTransitionTime of conditions whose
// status did not change from old, so a heartbeat does not look like a flap.
func keepTransitions(st *corev1.NodeStatus, old []corev1.NodeCondition) {
	for i := range st.Conditions {
		for _, o := range old {
			if o.Type == st.Conditions[i].Type && o.Status == st.Conditions[i].Status {
				st.Conditions[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
}

// ContainerID is the container ID a simulated pod's container reports.
func ContainerID(pod *corev1.Pod, container string) string {
	return fmt.Sprintf("simulated://%s/%s", pod.UID, container)
}

// RunningStatus is the status of pod once its containers "run" on a
// simulated node, as kwok reports it: phase Running, every condition True,
// init containers terminated (Completed), sidecars and app containers
// running and Ready. Times already set (start time, containers' start) are
// kept, so calling it again on its result changes nothing.
func RunningStatus(pod *corev1.Pod, podIP, hostIP string, now metav1.Time) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		Phase:    corev1.PodRunning,
		HostIP:   hostIP,
		QOSClass: old.QOSClass,
	}
	if hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	}
	if pod.Spec.HostNetwork {
		podIP = hostIP
	}
	if podIP != "" {
		st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	}
	st.StartTime = old.StartTime
	if st.StartTime == nil {
		st.StartTime = &now
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
		corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == corev1.ConditionTrue {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	started := func(prev []corev1.ContainerStatus, name string) metav1.Time {
		for _, p := range prev {
			if p.Name == name && p.State.Running != nil {
				return p.State.Running.StartedAt
			}
		}
		return now
	}
	status := func(c corev1.Container, prev []corev1.ContainerStatus, running bool) corev1.ContainerStatus {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "simulated://" + c.Image,
			ContainerID: ContainerID(pod, c.Name)}
		if running {
			cs.Ready, cs.Started = true, ptr.To(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started(prev, c.Name)}
		} else {
			cs.Started = ptr.To(false)
			cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0,
				StartedAt: st.StartTime.Rfc3339Copy(), FinishedAt: st.StartTime.Rfc3339Copy(), ContainerID: cs.ContainerID}
			for _, p := range prev {
				if p.Name == c.Name && p.State.Terminated != nil {
					cs.State.Terminated = p.State.Terminated
				}
			}
		}
		return cs
	}
	for _, c := range pod.Spec.InitContainers {
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		st.InitContainerStatuses = append(st.InitContainerStatuses, status(c, old.InitContainerStatuses, sidecar))
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, status(c, old.ContainerStatuses, true))
	}
	return st
}

func ptrTo[T any](v T) *T { return &v }

// equalStatus reports whether have already shows everything RunningStatus
// decided in want (fields the API server or others add are not compared).
func equalStatus(have, want corev1.PodStatus) bool {
	return have.Phase == want.Phase && have.PodIP == want.PodIP && have.HostIP == want.HostIP &&
		equality.Semantic.DeepEqual(have.StartTime, want.StartTime) &&
		equality.Semantic.DeepEqual(have.Conditions, want.Conditions) &&
		equality.Semantic.DeepEqual(have.ContainerStatuses, want.ContainerStatuses) &&
		equality.Semantic.DeepEqual(have.InitContainerStatuses, want.InitContainerStatuses)
}
