package kubeletexecutor

import (
	"context"
	"sync"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

// The revocable executor (podtask.RevocableExecutorIDOf) is this program
// started by the framework as a second executor on an agent, for the pods
// placed on revocable resources: Mesos refuses such a task in a container
// holding regular cpus or memory, and a QoS correction destroys its whole
// container, so they cannot be the kubelet-executor's tasks
// (docs/decisions.md, "Pods on revocable resources"). It binds and watches
// its pods like the kubelet-executor, on the node the agent's
// kubelet-executor runs (JoinedNode), and owns nothing else of that node:
// it sweeps no orphans, lifts no cordon, cordons nothing when it shuts down
// and stops no kubelet. Its shutdown deletes its own pods only.

// JoinedNode is the Node of a revocable executor: the node the agent's
// kubelet-executor brought up. Start starts nothing, WaitReady waits for
// that Node to be Ready, Stop stops nothing.
type JoinedNode struct {
	// Client reads the Node object to see it Ready.
	Client kubernetes.Interface

	mu   sync.Mutex
	name string
}

var _ Node = &JoinedNode{}

// Start returns the name of the agent's node.
func (n *JoinedNode) Start(_ context.Context, agent mesos.AgentInfo, _ node.Resources) (string, error) {
	name, err := NodeName(agent)
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	n.name = name
	n.mu.Unlock()
	return name, nil
}

// WaitReady polls the agent's Node until it is Ready.
func (n *JoinedNode) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	name := n.name
	n.mu.Unlock()
	return WaitNodeReady(ctx, n.Client, name)
}

// Stop does nothing: the node is the kubelet-executor's.
func (n *JoinedNode) Stop(context.Context) error { return nil }
