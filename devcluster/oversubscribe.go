package devcluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
)

// Oversubscription is what every agent of the cluster offers as revocable
// resources (Mesos' oversubscription): the fixed resource estimator with
// these amounts and the QoS controller that revokes what a lowered estimate
// no longer covers. Zero oversubscribes nothing.
type Oversubscription struct {
	MilliCPU int64
	MemoryMB int64
}

// ParseOversubscription reads `kubemesos up --oversubscribe CPUS,MEM`:
// cpus (a decimal, e.g. 1.5) and memory in MB, both positive.
func ParseOversubscription(s string) (Oversubscription, error) {
	if s == "" {
		return Oversubscription{}, nil
	}
	cpus, mem, ok := strings.Cut(s, ",")
	if !ok {
		return Oversubscription{}, fmt.Errorf("--oversubscribe %q: want CPUS,MEM (e.g. 2,1024)", s)
	}
	c, err := strconv.ParseFloat(strings.TrimSpace(cpus), 64)
	if err != nil || c <= 0 || c > 1e6 {
		return Oversubscription{}, fmt.Errorf("--oversubscribe %q: cpus %q is not a positive number", s, cpus)
	}
	m, err := strconv.ParseInt(strings.TrimSpace(mem), 10, 64)
	if err != nil || m <= 0 {
		return Oversubscription{}, fmt.Errorf("--oversubscribe %q: mem %q is not a positive whole number of MB", s, mem)
	}
	return Oversubscription{MilliCPU: int64(c*1000 + 0.5), MemoryMB: m}, nil
}

// bridgeArgs make the bridges place the pods that may use revocable
// resources on them, when the agents oversubscribe or revocable is set.
func (o Oversubscription) bridgeArgs(revocable bool) []string {
	if !revocable && o.MilliCPU <= 0 && o.MemoryMB <= 0 {
		return nil
	}
	return []string{"--revocable-pods"}
}

// WithEstimate is an agent's args (Cluster.Args) oversubscribing o: the
// fixed estimator's estimate replaced by o, or, for an agent without the
// estimator, the estimator and the QoS controller added. That is what a
// Mesos operator changes, restarting the agent, to oversubscribe more or
// less (the agent recovers its executors and, with the QoS controller,
// revokes what the new estimate no longer covers). A zero o is an error.
func WithEstimate(args []string, o Oversubscription) ([]string, error) {
	next := o.agentArgs()
	if next == nil {
		return nil, fmt.Errorf("devcluster: estimate %+v: want positive cpus and memory", o)
	}
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "--resource_estimator_resources" {
			out[i+1] = next[3]
			return out, nil
		}
	}
	return append(out, next...), nil
}

// agentArgs are the agent flags that oversubscribe its resources as Mesos'
// agent takes them: --resource_estimator with the fixed estimator's
// resources (Mesos passes them as the module's parameter) and
// --qos_controller; none when o is zero.
func (o Oversubscription) agentArgs() []string {
	if o.MilliCPU <= 0 && o.MemoryMB <= 0 {
		return nil
	}
	return []string{
		"--resource_estimator", agent.FixedResourceEstimator,
		"--resource_estimator_resources", fmt.Sprintf("cpus:%s;mem:%d", strconv.FormatFloat(float64(o.MilliCPU)/1000, 'f', -1, 64), o.MemoryMB),
		"--qos_controller", agent.EstimateQoSController,
	}
}
