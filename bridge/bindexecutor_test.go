package bridge_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
	"github.com/kubemesos/kubemesos/podtask"
)

// bindDelayEnv in an agent's executor environment makes the test executor
// wait that long (a Go duration) before it binds a pod.
const bindDelayEnv = "BRIDGE_TEST_BIND_DELAY"

// bindExecutorClient is the API client of the test executor, from the
// kubeconfig the kubelet-executor would read its credentials from.
var bindExecutorClient = sync.OnceValues(func() (kubernetes.Interface, error) {
	path := os.Getenv(kubeletexecutor.EnvExecutorKubeconfig)
	if path == "" {
		return nil, fmt.Errorf("%s is not set", kubeletexecutor.EnvExecutorKubeconfig)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return c, nil
})

// bindPod is what the test executor does with a launched task in place of
// the kubelet-executor: it takes the pod from the task as the contract says
// (podtask.DecodeTask) and binds it to the agent's node, so the task's pod
// is bound before TASK_RUNNING as with the real executor; no kubelet runs it.
// A node task names no pod: the test executor, which has no node to bring
// up, reports it TASK_RUNNING at once.
func bindPod(ctx context.Context, agent mesos.AgentInfo, task mesos.TaskInfo) error {
	if podtask.IsNodeTask(task.TaskID.Value) {
		return nil
	}
	if d, err := time.ParseDuration(os.Getenv(bindDelayEnv)); err == nil {
		// A slow node: the task is live in Mesos while its pod is unbound.
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ref, err := podtask.DecodeTask(task)
	if err != nil {
		return err
	}
	client, err := bindExecutorClient()
	if err != nil {
		return err
	}
	node := podtask.NodeName(agent.Hostname)
	if p, err := client.CoreV1().Pods(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil && p.UID == ref.UID && p.Spec.NodeName == node {
		return nil // already bound here (an earlier executor's pod): adopted, as the kubelet-executor's admission does
	}
	return client.CoreV1().Pods(ref.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: ref.Name, UID: ref.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}
