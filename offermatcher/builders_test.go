package offermatcher

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podBuilder builds test pods: makePod("web").Container("500m", "256Mi").Obj().
type podBuilder struct{ pod corev1.Pod }

func makePod(name string) *podBuilder {
	return &podBuilder{pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: name, UID: types.UID("uid-" + name),
	}}}
}

// requests is a ResourceList of cpu, memory and (optionally) ephemeral
// storage; "" leaves a resource out.
func requests(cpu, mem string, disk ...string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	if cpu != "" {
		rl[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	if len(disk) > 0 && disk[0] != "" {
		rl[corev1.ResourceEphemeralStorage] = resource.MustParse(disk[0])
	}
	return rl
}

func container(name string, req corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: req}}
}

func (b *podBuilder) Container(cpu, mem string, disk ...string) *podBuilder {
	name := "c" + strconv.Itoa(len(b.pod.Spec.Containers))
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, container(name, requests(cpu, mem, disk...)))
	return b
}

func (b *podBuilder) Init(cpu, mem string) *podBuilder {
	name := "i" + strconv.Itoa(len(b.pod.Spec.InitContainers))
	b.pod.Spec.InitContainers = append(b.pod.Spec.InitContainers, container(name, requests(cpu, mem)))
	return b
}

func (b *podBuilder) Sidecar(cpu, mem string) *podBuilder {
	always := corev1.ContainerRestartPolicyAlways
	c := container("s"+strconv.Itoa(len(b.pod.Spec.InitContainers)), requests(cpu, mem))
	c.RestartPolicy = &always
	b.pod.Spec.InitContainers = append(b.pod.Spec.InitContainers, c)
	return b
}

func (b *podBuilder) Overhead(cpu, mem string) *podBuilder {
	b.pod.Spec.Overhead = requests(cpu, mem)
	return b
}

// HostPort adds a port to the last app container.
func (b *podBuilder) HostPort(host, containerPort int32, proto corev1.Protocol) *podBuilder {
	c := &b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1]
	c.Ports = append(c.Ports, corev1.ContainerPort{HostPort: host, ContainerPort: containerPort, Protocol: proto})
	return b
}

func (b *podBuilder) HostNetwork() *podBuilder {
	b.pod.Spec.HostNetwork = true
	return b
}

func (b *podBuilder) NodeSelector(kv ...string) *podBuilder {
	b.pod.Spec.NodeSelector = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		b.pod.Spec.NodeSelector[kv[i]] = kv[i+1]
	}
	return b
}

func (b *podBuilder) RequiredAffinity(terms ...corev1.NodeSelectorTerm) *podBuilder {
	b.pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
	return b
}

func (b *podBuilder) Obj() *corev1.Pod { return b.pod.DeepCopy() }

// offerBuilder builds test offers: makeOffer("o1").Res(2000, 1024).Ports(31000, 31010).Obj().
type offerBuilder struct{ o Offer }

func makeOffer(id string) *offerBuilder {
	return &offerBuilder{o: Offer{ID: id, AgentID: "agent-" + id, NodeName: "host-" + id, Labels: map[string]string{corev1.LabelHostname: "host-" + id}}}
}

func (b *offerBuilder) Res(milliCPU, memMB int64) *offerBuilder {
	b.o.Resources.MilliCPU, b.o.Resources.MemoryMB = milliCPU, memMB
	return b
}

func (b *offerBuilder) Disk(mb int64) *offerBuilder {
	b.o.Resources.DiskMB = mb
	return b
}

func (b *offerBuilder) Ports(begin, end uint32) *offerBuilder {
	b.o.Resources.Ports = append(b.o.Resources.Ports, PortRange{begin, end})
	return b
}

func (b *offerBuilder) Attr(k, v string) *offerBuilder {
	b.o.Labels[k] = v
	return b
}

func (b *offerBuilder) Agent(agentID, hostname string) *offerBuilder {
	b.o.AgentID, b.o.NodeName, b.o.Labels[corev1.LabelHostname] = agentID, hostname, hostname
	return b
}

func (b *offerBuilder) Obj() Offer { return b.o }

// req builds a PodRequest directly, for Match tests.
type reqBuilder struct{ r PodRequest }

func makeReq(name string, milliCPU, memMB int64) *reqBuilder {
	return &reqBuilder{r: PodRequest{Key: "default/" + name, UID: "uid-" + name,
		Resources: Resources{MilliCPU: milliCPU, MemoryMB: memMB}}}
}

func (b *reqBuilder) Disk(mb int64) *reqBuilder {
	b.r.Resources.DiskMB = mb
	return b
}

func (b *reqBuilder) HostPorts(ports ...uint32) *reqBuilder {
	for _, p := range ports {
		b.r.Resources.Ports = append(b.r.Resources.Ports, PortRange{p, p})
	}
	return b
}

func (b *reqBuilder) Selector(kv ...string) *reqBuilder {
	b.r.NodeSelector = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		b.r.NodeSelector[kv[i]] = kv[i+1]
	}
	return b
}

func (b *reqBuilder) Affinity(terms ...NodeSelectorTerm) *reqBuilder {
	b.r.RequiredNodeAffinity = terms
	return b
}

func (b *reqBuilder) Obj() PodRequest { return b.r }

func term(reqs ...NodeRequirement) NodeSelectorTerm { return NodeSelectorTerm{Labels: reqs} }

func nreq(key string, op corev1.NodeSelectorOperator, values ...string) NodeRequirement {
	return NodeRequirement{Key: key, Operator: op, Values: values}
}

func (b *podBuilder) Labels(kv ...string) *podBuilder {
	b.pod.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		b.pod.Labels[kv[i]] = kv[i+1]
	}
	return b
}

func (b *podBuilder) Namespace(ns string) *podBuilder {
	b.pod.Namespace = ns
	return b
}

func (b *podBuilder) affinity() *corev1.Affinity {
	if b.pod.Spec.Affinity == nil {
		b.pod.Spec.Affinity = &corev1.Affinity{}
	}
	return b.pod.Spec.Affinity
}

// PodAffinity adds a required pod affinity term.
func (b *podBuilder) PodAffinity(t corev1.PodAffinityTerm) *podBuilder {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
	return b
}

// PodAntiAffinity adds a required pod anti-affinity term.
func (b *podBuilder) PodAntiAffinity(t corev1.PodAffinityTerm) *podBuilder {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
	return b
}

// PreferPod adds a preferred pod affinity (weight > 0) or anti-affinity
// (weight < 0) term.
func (b *podBuilder) PreferPod(weight int32, t corev1.PodAffinityTerm) *podBuilder {
	a := b.affinity()
	if weight > 0 {
		if a.PodAffinity == nil {
			a.PodAffinity = &corev1.PodAffinity{}
		}
		a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t})
		return b
	}
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.WeightedPodAffinityTerm{Weight: -weight, PodAffinityTerm: t})
	return b
}

// PreferNode adds a preferred node affinity term.
func (b *podBuilder) PreferNode(weight int32, t corev1.NodeSelectorTerm) *podBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.PreferredSchedulingTerm{Weight: weight, Preference: t})
	return b
}

// Spread adds a topology spread constraint.
func (b *podBuilder) Spread(c corev1.TopologySpreadConstraint) *podBuilder {
	b.pod.Spec.TopologySpreadConstraints = append(b.pod.Spec.TopologySpreadConstraints, c)
	return b
}

// podTerm is a pod affinity term over topologyKey selecting matchLabels.
func podTerm(topologyKey string, matchLabels ...string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: labelSelector(matchLabels...)}
}

func labelSelector(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

// req is FromPod with a small minimum.
func req(p *corev1.Pod) PodRequest { return FromPod(p, Resources{MilliCPU: 10, MemoryMB: 16}) }

// placed is an existing pod on node.
func placed(p *corev1.Pod, node string) PlacedPod { return PlacedPodOf(p, node) }
