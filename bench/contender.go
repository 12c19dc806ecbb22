package bench

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Contender is one scheduler under test.
type Contender interface {
	// Name is how the table and --contenders call it.
	Name() string
	// SchedulerName is the spec.schedulerName of the pods it schedules.
	SchedulerName() string
	// NeedsNodes: it places pods on Node objects (the bench creates them);
	// kubemesos places them on Mesos agents instead.
	NeedsNodes() bool
	// Start starts the scheduler; it schedules until Stop.
	Start(ctx context.Context, env Env) (Running, error)
}

// Running is a started contender.
type Running interface {
	// Usage is what it has used since it started.
	Usage() (Usage, error)
	// Measured is MeasuredProcess or MeasuredInProcess.
	Measured() string
	// Stop stops it and waits until it stopped.
	Stop() error
}

// Env is what a contender is given.
type Env struct {
	// RESTConfig and Client of a system:masters user, with QPS and burst
	// raised to ClientQPS and ClientBurst.
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	// Kubeconfig is a file holding that user's credentials.
	Kubeconfig string
	// Nodes is how many nodes (Node objects or agents) to schedule on;
	// NodeNames are the Node objects' names when the contender needs them.
	Nodes     int
	NodeNames []string
	// Node is the allocatable of each node: Node objects get it, simulated
	// agents offer it.
	Node NodeShape
	// BinDir holds kube-scheduler; Dir is a directory for files and logs.
	BinDir, Dir string
	// ClientQPS and ClientBurst every contender's API client is given.
	ClientQPS   float32
	ClientBurst int
}

// agentsRunning is a Running whose simulated agents may run in processes
// of their own, measured apart from it.
type agentsRunning interface {
	// AgentsUsage: the agent processes' CPU since they started and the
	// sum of their peak RSS, and how many there are (0: none, the agents
	// run in the contender's process).
	AgentsUsage() (Usage, int, error)
}

// Contenders by name.
func contenderByName(name string, o Options) (Contender, error) {
	switch name {
	case NullContender:
		return NullBinder{}, nil
	case KubeSchedulerContender:
		return KubeScheduler{}, nil
	case KubemesosContender:
		k := Kubemesos{AllocationInterval: o.AllocationInterval, AgentCommand: o.AgentCommand}
		if o.AgentsPerProcess > 0 {
			k.AgentsPerProcess = o.AgentsPerProcess
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown contender %q (known: %s)", name, strings.Join(AllContenders, ", "))
}

// AllContenders in the order a run takes them by default.
var AllContenders = []string{NullContender, KubeSchedulerContender, KubemesosContender}
