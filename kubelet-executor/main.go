package kubeletexecutor

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// RunFromEnv runs the executor as a Mesos agent starts it: settings from the
// environment, the API client from KUBEMESOS_EXECUTOR_KUBECONFIG, a kubelet
// node. It returns nil after a clean shutdown (SHUTDOWN event or ctx ended).
func RunFromEnv(ctx context.Context) error {
	settings, err := SettingsFromEnv()
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", settings.ExecutorKubeconfig)
	if err != nil {
		return fmt.Errorf("executor kubeconfig %s: %w", settings.ExecutorKubeconfig, err)
	}
	restCfg.UserAgent = "kubemesos-executor"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	ctx = klog.NewContext(ctx, klog.FromContext(ctx).WithValues("executor", settings.Mesos.ExecutorID))
	node := &KubeletNode{Settings: settings, Client: client}
	return New(settings.Mesos, client, node).Run(ctx)
}
