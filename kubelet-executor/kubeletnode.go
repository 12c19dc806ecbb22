package kubeletexecutor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/podtask"
)

// Node is the Kubernetes node behind an executor. The Executor calls Start
// once, after its first SUBSCRIBED event, then WaitReady before it binds any
// pod, and Stop once on shutdown after every pod is gone. Stop may be called
// without a prior Start (an executor shut down before it subscribed).
type Node interface {
	// Start brings the node up for the agent, its allocatable sized to pods
	// (PodResources), and returns the node's name.
	Start(ctx context.Context, agent mesos.AgentInfo, pods node.Resources) (string, error)
	// WaitReady blocks until the Node object reports Ready, or ctx ends.
	WaitReady(ctx context.Context) error
	// Stop stops the node's processes and cleans up what they left on the host.
	Stop(ctx context.Context) error
}

// KubeletNode is a Node run by a supervised kubelet and kube-proxy on this host.
type KubeletNode struct {
	Settings Settings
	// Client reads the Node object to see it Ready.
	Client kubernetes.Interface

	mu    sync.Mutex
	cfg   node.Config
	procs *node.Group // nil until started
}

var _ Node = &KubeletNode{}

// NodeName is the name of the node of an agent: its hostname, canonical as
// the kubelet makes it (podtask.NodeName).
func NodeName(agent mesos.AgentInfo) (string, error) {
	name := podtask.NodeName(agent.GetHostname())
	if name == "" {
		return "", errors.New("agent info has no hostname")
	}
	return name, nil
}

// NodeConfig derives the node's configuration from the settings and the
// agent's info: its hostname names the node, pods (PodResources) sizes the
// allocatable, and the node gets the labels of the pod↔task contract
// (podtask.NodeLabels, the ones the bridge matched pods against). The
// kubelet sets hostname, os and arch itself; the rest are its --node-labels.
// An agent whose declared (or default) platform is not this host's is
// refused (podtask.ErrPlatformMismatch): its Node would not have the labels
// pods were placed by.
func NodeConfig(ctx context.Context, s Settings, agent mesos.AgentInfo, pods node.Resources) (node.Config, error) {
	name, err := NodeName(agent)
	if err != nil {
		return node.Config{}, err
	}
	labels, err := nodeLabels(ctx, agent, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return node.Config{}, err
	}
	ip := s.NodeIP
	if ip == "" {
		host, _, err := net.SplitHostPort(s.Mesos.AgentEndpoint)
		if err != nil {
			return node.Config{}, fmt.Errorf("agent endpoint %q: %w", s.Mesos.AgentEndpoint, err)
		}
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil || len(addrs) == 0 {
			return node.Config{}, fmt.Errorf("resolve node IP from agent endpoint host %q: %w", host, err)
		}
		ip = addrs[0].IP.String()
	}
	cgroupRoot := s.CgroupRoot
	if cgroupRoot == "" {
		cgroupRoot = "/kubemesos/" + name
	}
	c := node.Config{
		NodeName: name, NodeIP: ip, PodCIDR: s.PodCIDR, StateDir: s.StateDir,
		CNIConfDir: s.CNIConfDir, CNIBinDir: s.CNIBinDir, BinDir: s.BinDir,
		Kubeconfig: s.Kubeconfig, ProxyKubeconfig: s.ProxyKubeconfig, ClusterCIDR: s.ClusterCIDR, ClientCA: s.ClientCA, CRISocket: s.CRISocket, CgroupRoot: cgroupRoot,
		ClusterDNS: s.ClusterDNS, ClusterDomain: s.ClusterDomain,
		TLSCertFile: s.KubeletTLSCert, TLSKeyFile: s.KubeletTLSKey,
		PreloadedImages: s.PreloadedImages,
		Labels:          labels, Resources: pods, LogDir: s.Mesos.Sandbox,
	}
	return c, c.Validate()
}

// Start prepares the host and starts the supervised kubelet and kube-proxy.
func (n *KubeletNode) Start(ctx context.Context, agent mesos.AgentInfo, pods node.Resources) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.procs != nil {
		return n.cfg.NodeName, nil
	}
	cfg, err := NodeConfig(ctx, n.Settings, agent, pods)
	if err != nil {
		return "", err
	}
	host, err := node.HostCapacity()
	if err != nil {
		return "", err
	}
	if err := node.Prepare(ctx, cfg, host); err != nil {
		return "", err
	}
	var run []func(context.Context)
	for _, p := range []*node.Process{node.Kubelet(cfg), node.KubeProxy(cfg)} {
		run = append(run, func(ctx context.Context) { _ = p.Run(ctx) })
	}
	n.cfg, n.procs = cfg, node.StartGroup(ctx, run...)
	return cfg.NodeName, nil
}

// WaitReady polls the Node object until its Ready condition is True.
func (n *KubeletNode) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	name := n.cfg.NodeName
	n.mu.Unlock()
	return WaitNodeReady(ctx, n.Client, name)
}

// WaitNodeReady polls the Node called name until it is Ready.
func WaitNodeReady(ctx context.Context, client kubernetes.Interface, name string) error {
	logger := klog.FromContext(ctx)
	last := ""
	return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		state := ""
		switch {
		case apierrors.IsNotFound(err):
			state = "not registered"
		case err != nil:
			state = "unreadable: " + err.Error()
		default:
			state = "NotReady"
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					logger.Info("Node is Ready", "node", name)
					return true, nil
				}
			}
		}
		if state != last {
			logger.Info("Waiting for the Node to be Ready", "node", name, "state", state)
			last = state
		}
		return false, nil
	})
}

// Stop stops the kubelet and kube-proxy, then removes pod sandboxes, mounts,
// the cgroup root and, outside a network namespace of the node's own,
// kube-proxy's rules.
func (n *KubeletNode) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.procs == nil {
		return nil
	}
	if err := n.procs.Stop(ctx); err != nil {
		return fmt.Errorf("kubelet and kube-proxy did not stop: %w", err)
	}
	n.procs = nil
	return node.Teardown(ctx, n.cfg)
}

// nodeLabels are the contract's labels of the agent's Node less the ones the
// kubelet sets itself, after checking that the kubelet on this goos/goarch
// host will set the platform labels the contract says. Skipped attributes
// are logged.
func nodeLabels(ctx context.Context, agent mesos.AgentInfo, goos, goarch string) (map[string]string, error) {
	labels, skipped := podtask.NodeLabels(podtask.AgentOfInfo(&agent))
	for _, s := range skipped {
		klog.FromContext(ctx).Info("Agent attribute is not a node label; skipped",
			"attribute", s.Name, "value", s.Value, "reason", s.Reason, "detail", s.Detail)
	}
	if err := podtask.CheckPlatform(labels, goos, goarch); err != nil {
		return nil, fmt.Errorf("node of agent %s: %w", agent.GetHostname(), err)
	}
	for k := range labels {
		if podtask.SetByKubelet(k) {
			delete(labels, k)
		}
	}
	return labels, nil
}
