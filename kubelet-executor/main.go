package kubeletexecutor

import (
	"context"
	"fmt"
	"net"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/simnode"
	"github.com/kubemesos/kubemesos/podtask"
)

// RunFromEnv runs the executor as a Mesos agent starts it: settings from the
// environment, the API client from KUBEMESOS_EXECUTOR_KUBECONFIG, and the node
// of KUBEMESOS_EXECUTOR_RUNTIME: a kubelet (default) or a simulated one. It
// returns nil after a clean shutdown (SHUTDOWN event or ctx ended).
func RunFromEnv(ctx context.Context) error {
	settings, err := SettingsFromEnv()
	if err != nil {
		return err
	}
	client, err := newClient(settings.ExecutorKubeconfig, "kubemesos-executor")
	if err != nil {
		return err
	}
	ctx = klog.NewContext(ctx, klog.FromContext(ctx).WithValues("executor", settings.Mesos.ExecutorID))
	var n Node = &KubeletNode{Settings: settings, Client: client}
	revocable := podtask.IsRevocableExecutorID(settings.Mesos.ExecutorID)
	if revocable {
		n = &JoinedNode{Client: client}
	} else if settings.Runtime == RuntimeSimulated {
		nodeClient, err := newClient(settings.Kubeconfig, "kubemesos-executor-simulated-node")
		if err != nil {
			return err
		}
		ip := settings.NodeIP
		if ip == "" {
			ip, _, _ = net.SplitHostPort(settings.Mesos.AgentEndpoint)
		}
		sim, err := simnode.New(simnode.Config{Client: nodeClient, NodeIP: ip, PodCIDR: settings.PodCIDR})
		if err != nil {
			return err
		}
		n = sim
	}
	ex := New(settings.Mesos, client, n)
	ex.AdoptWindow = settings.AdoptWindow
	ex.Revocable = revocable
	return ex.Run(ctx)
}

// newClient is an API client from a kubeconfig, speaking protobuf (less CPU
// and memory per executor than JSON).
func newClient(kubeconfig, userAgent string) (kubernetes.Interface, error) {
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	restCfg.UserAgent = userAgent
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, nil
}
