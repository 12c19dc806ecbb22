package offermatcher

import (
	"maps"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// NodeNameField is the only node field node affinity's matchFields may name.
const NodeNameField = "metadata.name"

// Resources is an amount of the scalar resources placement cares about, plus
// host ports. In an Offer, Ports are the ports the agent has free; in a
// PodRequest they are the host ports the pod binds.
type Resources struct {
	MilliCPU int64 // cpus * 1000
	MemoryMB int64 // mem in MiB (Mesos "mem" is MB = MiB)
	DiskMB   int64
	Ports    []PortRange
}

// PortRange is the inclusive range of ports [Begin, End], as in a Mesos
// "ports" resource.
type PortRange struct{ Begin, End uint32 }

// PodRequest is a pending pod reduced to what placement needs. Build it once
// per pod (FromPod) and reuse it across Match calls; Match never modifies it.
type PodRequest struct {
	Key       string // namespace/name
	UID       string
	Namespace string
	Labels    map[string]string
	// Resources the pod needs on one agent. Ports are the host ports it binds,
	// each as a single-port range, sorted and without duplicates.
	Resources Resources
	// NodeSelector must be a subset of the node's labels.
	NodeSelector map[string]string
	// RequiredNodeAffinity holds the terms of the pod's
	// requiredDuringSchedulingIgnoredDuringExecution node affinity. The node
	// must match at least one term; nil (or empty) means no constraint.
	RequiredNodeAffinity []NodeSelectorTerm
	// Tolerations are the pod's; an offer whose node has a NoSchedule or
	// NoExecute taint none of them tolerates is no place for the pod.
	Tolerations []corev1.Toleration
	// PreferredNodeAffinity scores the nodes matching each term by its weight.
	PreferredNodeAffinity []PreferredNodeTerm
	// PodAffinity and PodAntiAffinity are the pod's required inter-pod
	// affinity and anti-affinity terms.
	PodAffinity, PodAntiAffinity []PodAffinityTerm
	// PreferredPodAffinity and PreferredPodAntiAffinity score nodes by the
	// pods matching each term in the node's domain.
	PreferredPodAffinity, PreferredPodAntiAffinity []WeightedPodAffinityTerm
	// TopologySpread are the pod's topology spread constraints.
	TopologySpread []SpreadConstraint
	// Claims are the pod's persistent volume claims of kubemesos' storage
	// class (volumes.go); FromPod leaves them to the caller, which knows
	// the PVCs and PVs.
	Claims []Claim
	// Revocable says the pod may be placed on revocable resources
	// (MayUseRevocable).
	Revocable bool
}

// PreferredNodeTerm is a term of preferred node affinity with its weight.
type PreferredNodeTerm struct {
	Weight int32
	Term   NodeSelectorTerm
}

// NodeSelectorTerm is one term of required node affinity: a node matches it
// when it satisfies every requirement in Labels and Fields. A term with no
// requirement at all matches no node, as in Kubernetes.
type NodeSelectorTerm struct {
	Labels []NodeRequirement // from matchExpressions, against the node's labels
	Fields []NodeRequirement // from matchFields; only NodeNameField is known
}

// NodeRequirement is one node selector requirement. Operator is one of In,
// NotIn, Exists, DoesNotExist, Gt, Lt; Gt and Lt take exactly one integer
// value. A requirement that is not valid never matches.
type NodeRequirement struct {
	Key      string
	Operator corev1.NodeSelectorOperator
	Values   []string
}

// FromPod computes the request of a pod the way kube-scheduler does: the sum
// of the app containers' requests against the maximum of the init
// containers' (a sidecar, i.e. an init container with restartPolicy Always,
// adds to both), pod-level requests where set, plus spec.overhead. CPU is
// rounded up to the millicore, memory and ephemeral storage up to the MiB.
// Each of cpu, memory and disk that the pod does not request at all is set
// to the corresponding value of min, because a Mesos task must have
// resources. Host ports come from every container; hostPort 0 is not a host
// port. Totals that overflow int64 saturate; negative ones count as zero.
//
// Requests are read as the API server stores them: a container with a limit
// but no request already has the limit as its request after defaulting.
func FromPod(pod *corev1.Pod, min Resources) PodRequest {
	if pod == nil {
		return PodRequest{Resources: withMinimum(Resources{}, min)}
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	r := Resources{
		MilliCPU: milliValue(reqs[corev1.ResourceCPU]),
		MemoryMB: Mebibytes(reqs[corev1.ResourceMemory]),
		DiskMB:   Mebibytes(reqs[corev1.ResourceEphemeralStorage]),
		Ports:    hostPorts(pod),
	}
	req := PodRequest{
		Key:       pod.Namespace + "/" + pod.Name,
		UID:       string(pod.UID),
		Namespace: pod.Namespace,
		Labels:    maps.Clone(pod.Labels),
		Resources: withMinimum(r, min),
		Revocable: MayUseRevocable(pod),
	}
	if len(pod.Spec.NodeSelector) > 0 {
		req.NodeSelector = make(map[string]string, len(pod.Spec.NodeSelector))
		for k, v := range pod.Spec.NodeSelector {
			req.NodeSelector[k] = v
		}
	}
	req.RequiredNodeAffinity = requiredNodeAffinity(pod)
	req.Tolerations = pod.Spec.Tolerations
	if a := pod.Spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			for _, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
				if len(t.Preference.MatchExpressions) == 0 && len(t.Preference.MatchFields) == 0 {
					continue // an empty preferred term matches nothing
				}
				req.PreferredNodeAffinity = append(req.PreferredNodeAffinity, PreferredNodeTerm{Weight: t.Weight, Term: NodeSelectorTerm{
					Labels: requirements(t.Preference.MatchExpressions), Fields: requirements(t.Preference.MatchFields),
				}})
			}
		}
		if pa := a.PodAffinity; pa != nil {
			req.PodAffinity = podAffinityTerms(pod.Namespace, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			req.PreferredPodAffinity = weightedPodAffinityTerms(pod.Namespace, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			req.PodAntiAffinity = podAffinityTerms(pod.Namespace, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			req.PreferredPodAntiAffinity = weightedPodAffinityTerms(pod.Namespace, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	req.TopologySpread = spreadConstraints(pod)
	return req
}

func withMinimum(r, min Resources) Resources {
	if r.MilliCPU == 0 {
		r.MilliCPU = max(min.MilliCPU, 0)
	}
	if r.MemoryMB == 0 {
		r.MemoryMB = max(min.MemoryMB, 0)
	}
	if r.DiskMB == 0 {
		r.DiskMB = max(min.DiskMB, 0)
	}
	return r
}

// Bounds above which a quantity's conversion would overflow int64.
var (
	maxMilli = resource.NewMilliQuantity(math.MaxInt64, resource.DecimalSI)
	maxBytes = resource.NewQuantity(math.MaxInt64, resource.BinarySI)
)

const mebibyte = 1 << 20

// milliValue is ceil(q*1000), saturating at MaxInt64, zero for q <= 0.
func milliValue(q resource.Quantity) int64 {
	if q.Sign() <= 0 {
		return 0
	}
	if q.Cmp(*maxMilli) >= 0 {
		return math.MaxInt64
	}
	return q.MilliValue()
}

// Mebibytes is ceil(q / 2^20), saturating, zero for q <= 0.
func Mebibytes(q resource.Quantity) int64 {
	if q.Sign() <= 0 {
		return 0
	}
	if q.Cmp(*maxBytes) >= 0 {
		return (math.MaxInt64 >> 20) + 1
	}
	b := q.Value() // rounds up to whole bytes
	return b/mebibyte + min(b%mebibyte, 1)
}

// hostPorts lists the host ports of all containers, sorted, each once. A
// port bound for both TCP and UDP is one Mesos port. With hostNetwork the
// container port is the host port (the API server defaults hostPort to it;
// this covers pods that were not defaulted).
func hostPorts(pod *corev1.Pod) []PortRange {
	var ports []uint32
	add := func(cs []corev1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				hp := p.HostPort
				if hp == 0 && pod.Spec.HostNetwork {
					hp = p.ContainerPort
				}
				if hp > 0 {
					ports = append(ports, uint32(hp))
				}
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	if len(ports) == 0 {
		return nil
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	ranges := make([]PortRange, len(ports))
	for i, p := range ports {
		ranges[i] = PortRange{Begin: p, End: p}
	}
	return ranges
}

func requiredNodeAffinity(pod *corev1.Pod) []NodeSelectorTerm {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		// A required node selector without terms matches no node.
		return []NodeSelectorTerm{{}}
	}
	out := make([]NodeSelectorTerm, len(terms))
	for i, t := range terms {
		out[i] = NodeSelectorTerm{
			Labels: requirements(t.MatchExpressions),
			Fields: requirements(t.MatchFields),
		}
	}
	return out
}

func requirements(in []corev1.NodeSelectorRequirement) []NodeRequirement {
	if len(in) == 0 {
		return nil
	}
	out := make([]NodeRequirement, len(in))
	for i, r := range in {
		out[i] = NodeRequirement{Key: r.Key, Operator: r.Operator, Values: slices.Clone(r.Values)}
	}
	return out
}
