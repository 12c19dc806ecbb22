package conformance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// operatorCall makes a call of the Mesos master's operator API (protobuf,
// as Apache Mesos serves it) and returns the answer.
func operatorCall(t *testing.T, call *opv1.Call) *opv1.Response {
	t.Helper()
	r, err := tryOperatorCall(t.Context(), call)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryOperatorCall is operatorCall returning its error, for goroutines.
func tryOperatorCall(ctx context.Context, call *opv1.Call) (*opv1.Response, error) {
	return mesostest.OperatorCall(ctx, cluster.mesosMaster, call)
}

// mesosAgents asks the master's operator API (GET_AGENTS) for the agents it
// knows, active or not.
func mesosAgents(t *testing.T) []opv1.Response_GetAgents_Agent {
	t.Helper()
	return operatorCall(t, &opv1.Call{Type: opv1.Call_GET_AGENTS}).GetGetAgents().GetAgents()
}

// TestNodeSelectorOnOSRunsAndNodesCarryTheContractsLabels: a pod selecting
// kubernetes.io/os: linux (as CoreDNS, metrics-server and most charts do)
// is placed and runs, and every agent's registered Node has each label the
// pod↔task contract predicts from the agent's info (podtask.NodeLabels): the
// labels the bridge placed the pod by.
func TestNodeSelectorOnOSRunsAndNodesCarryTheContractsLabels(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "linux-only"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{corev1.LabelOSStable: "linux"},
			Containers: []corev1.Container{{
				Name: "c", Image: "kubemesos.local/busybox:latest", Command: []string{"sleep", "3600"},
				ImagePullPolicy: corev1.PullIfNotPresent,
				Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}},
			}},
		},
	}
	created, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var running *corev1.Pod
	eventually(t, 2*time.Minute, "the kubernetes.io/os: linux pod Running", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		running = p
		return p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%s on %q", p.Status.Phase, p.Spec.NodeName)
	})
	eventually(t, 30*time.Second, "its task TASK_RUNNING", func() (bool, string) {
		state := frameworkTasks(t)[created.UID]
		return state == "TASK_RUNNING", state
	})

	agents := mesosAgents(t)
	if len(agents) == 0 {
		t.Fatal("the master knows no agents")
	}
	onAgent := false
	for _, a := range agents {
		info := a.AgentInfo
		want, skipped := podtask.NodeLabels(podtask.AgentOfInfo(&info))
		name := podtask.NodeName(info.Hostname)
		onAgent = onAgent || name == running.Spec.NodeName
		if cluster.local && !strings.HasPrefix(want["rack"], "r") {
			t.Errorf("agent %s: the local cluster's agents have attribute rack:r<i>; contract labels %v", name, want)
		}
		if want[corev1.LabelOSStable] != "linux" || want[corev1.LabelArchStable] == "" {
			t.Errorf("agent %s: contract labels lack os/arch: %v", name, want)
		}
		var node *corev1.Node
		eventually(t, time.Minute, "Node "+name, func() (bool, string) {
			n, err := cluster.client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			node = n
			return true, ""
		})
		var wrong []string
		for k, v := range want {
			if got, ok := node.Labels[k]; !ok || got != v {
				wrong = append(wrong, fmt.Sprintf("%s=%q (Node has %q)", k, v, got))
			}
		}
		for _, s := range skipped {
			if s.Reason != podtask.SkipSetByKubelet {
				if _, ok := node.Labels[s.Name]; ok {
					wrong = append(wrong, fmt.Sprintf("skipped attribute %s is a label", s))
				}
			}
		}
		sort.Strings(wrong)
		if len(wrong) > 0 {
			t.Errorf("Node %s lacks labels the contract predicts: %s\nNode labels: %v", name, strings.Join(wrong, "; "), node.Labels)
		}
	}
	if !onAgent {
		t.Errorf("the pod runs on %q, which is no Mesos agent's node", running.Spec.NodeName)
	}
}
