package offermatcher

import (
	"math"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFromPodResources(t *testing.T) {
	min := Resources{MilliCPU: 100, MemoryMB: 64}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want Resources
	}{
		{"one container", makePod("p").Container("500m", "256Mi").Obj(),
			Resources{MilliCPU: 500, MemoryMB: 256}},
		{"app containers add up", makePod("p").Container("500m", "256Mi").Container("250m", "128Mi").Obj(),
			Resources{MilliCPU: 750, MemoryMB: 384}},
		{"init container larger than apps wins", makePod("p").Container("500m", "256Mi").Init("2", "100Mi").Obj(),
			Resources{MilliCPU: 2000, MemoryMB: 256}},
		{"init containers: the max, not the sum", makePod("p").Container("100m", "10Mi").Init("1", "1Gi").Init("1500m", "512Mi").Obj(),
			Resources{MilliCPU: 1500, MemoryMB: 1024}},
		{"sidecar adds to the apps", makePod("p").Container("500m", "256Mi").Sidecar("200m", "64Mi").Obj(),
			Resources{MilliCPU: 700, MemoryMB: 320}},
		// The init container runs after the sidecar started: 1000m+200m while
		// initializing, then 500m+200m; the max is 1200m.
		{"init container after a sidecar runs beside it", makePod("p").Container("500m", "256Mi").Sidecar("200m", "64Mi").Init("1", "128Mi").Obj(),
			Resources{MilliCPU: 1200, MemoryMB: 320}},
		// An init container before the sidecar runs alone: max(1000m, 700m).
		{"init container before a sidecar runs alone", makePod("p").Container("500m", "256Mi").Init("1", "128Mi").Sidecar("200m", "64Mi").Obj(),
			Resources{MilliCPU: 1000, MemoryMB: 320}},
		{"overhead is added", makePod("p").Container("500m", "256Mi").Overhead("250m", "120Mi").Obj(),
			Resources{MilliCPU: 750, MemoryMB: 376}},
		{"overhead on top of the init max", makePod("p").Container("100m", "10Mi").Init("1", "1Gi").Overhead("100m", "1Mi").Obj(),
			Resources{MilliCPU: 1100, MemoryMB: 1025}},
		{"no requests get the minimum", makePod("p").Container("", "").Obj(),
			Resources{MilliCPU: 100, MemoryMB: 64}},
		{"only memory requested: cpu gets the minimum", makePod("p").Container("", "1Gi").Obj(),
			Resources{MilliCPU: 100, MemoryMB: 1024}},
		{"only cpu requested: memory gets the minimum", makePod("p").Container("2", "").Obj(),
			Resources{MilliCPU: 2000, MemoryMB: 64}},
		{"overhead alone is a request", makePod("p").Container("", "").Overhead("10m", "5Mi").Obj(),
			Resources{MilliCPU: 10, MemoryMB: 5}},
		{"cpu rounds up to the millicore", makePod("p").Container("1500u", "1Mi").Obj(),
			Resources{MilliCPU: 2, MemoryMB: 1}},
		{"memory rounds up to the MiB", makePod("p").Container("1", "1M").Obj(),
			Resources{MilliCPU: 1000, MemoryMB: 1}},
		{"memory just over a MiB", makePod("p").Container("1", "1048577").Obj(),
			Resources{MilliCPU: 1000, MemoryMB: 2}},
		{"ephemeral storage becomes disk", makePod("p").Container("1", "1Gi", "10Gi").Container("1", "1Gi", "1500Mi").Obj(),
			Resources{MilliCPU: 2000, MemoryMB: 2048, DiskMB: 11740}},
		{"huge cpu saturates", makePod("p").Container("1e30", "1Mi").Obj(),
			Resources{MilliCPU: math.MaxInt64, MemoryMB: 1}},
		{"huge memory saturates", makePod("p").Container("1", "1e30").Obj(),
			Resources{MilliCPU: 1000, MemoryMB: math.MaxInt64>>20 + 1}},
		{"negative request counts as none", makePod("p").Container("-1", "-1Mi").Obj(),
			Resources{MilliCPU: 100, MemoryMB: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromPod(tt.pod, min)
			if !reflect.DeepEqual(got.Resources, tt.want) {
				t.Errorf("FromPod resources = %+v, want %+v", got.Resources, tt.want)
			}
		})
	}
}

func TestFromPodPodLevelRequests(t *testing.T) {
	pod := makePod("p").Container("100m", "100Mi").Container("100m", "100Mi").Obj()
	pod.Spec.Resources = &corev1.ResourceRequirements{Requests: requests("1", "")}
	got := FromPod(pod, Resources{})
	want := Resources{MilliCPU: 1000, MemoryMB: 200} // pod-level cpu replaces the sum; memory stays summed
	if !reflect.DeepEqual(got.Resources, want) {
		t.Errorf("FromPod resources = %+v, want %+v", got.Resources, want)
	}
}

func TestFromPodHostPorts(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []PortRange
	}{
		{"no ports", makePod("p").Container("1", "1Mi").Obj(), nil},
		{"container port only is no host port", makePod("p").Container("1", "1Mi").HostPort(0, 8080, corev1.ProtocolTCP).Obj(), nil},
		{"host ports sorted", makePod("p").Container("1", "1Mi").HostPort(9090, 90, corev1.ProtocolTCP).HostPort(8080, 80, corev1.ProtocolTCP).Obj(),
			[]PortRange{{8080, 8080}, {9090, 9090}}},
		{"same port for TCP and UDP is one port", makePod("p").Container("1", "1Mi").HostPort(53, 53, corev1.ProtocolTCP).HostPort(53, 53, corev1.ProtocolUDP).Obj(),
			[]PortRange{{53, 53}}},
		{"ports of every container", makePod("p").Container("1", "1Mi").HostPort(80, 80, corev1.ProtocolTCP).Container("1", "1Mi").HostPort(443, 443, corev1.ProtocolTCP).Obj(),
			[]PortRange{{80, 80}, {443, 443}}},
		{"hostNetwork: container port is the host port", makePod("p").HostNetwork().Container("1", "1Mi").HostPort(0, 10250, corev1.ProtocolTCP).Obj(),
			[]PortRange{{10250, 10250}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromPod(tt.pod, Resources{})
			if !reflect.DeepEqual(got.Resources.Ports, tt.want) {
				t.Errorf("ports = %v, want %v", got.Resources.Ports, tt.want)
			}
		})
	}
}

func TestFromPodIdentityAndLabels(t *testing.T) {
	pod := makePod("web").Container("1", "1Mi").NodeSelector("zone", "a").RequiredAffinity(
		corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}},
			MatchFields:      []corev1.NodeSelectorRequirement{{Key: NodeNameField, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"bad"}}},
		}).Obj()
	got := FromPod(pod, Resources{})
	if got.Key != "default/web" || got.UID != "uid-web" {
		t.Errorf("identity = %q %q", got.Key, got.UID)
	}
	if !reflect.DeepEqual(got.NodeSelector, map[string]string{"zone": "a"}) {
		t.Errorf("selector = %v", got.NodeSelector)
	}
	pod.Spec.NodeSelector["zone"] = "changed"
	if got.NodeSelector["zone"] != "a" {
		t.Error("the request shares its node selector with the pod")
	}
	want := []NodeSelectorTerm{{
		Labels: []NodeRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}},
		Fields: []NodeRequirement{{Key: NodeNameField, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"bad"}}},
	}}
	if !reflect.DeepEqual(got.RequiredNodeAffinity, want) {
		t.Errorf("affinity = %+v, want %+v", got.RequiredNodeAffinity, want)
	}

	none := FromPod(makePod("p").Container("1", "1Mi").Obj(), Resources{})
	if none.NodeSelector != nil || none.RequiredNodeAffinity != nil {
		t.Errorf("pod without constraints got %v %v", none.NodeSelector, none.RequiredNodeAffinity)
	}
	noTerms := FromPod(makePod("p").Container("1", "1Mi").RequiredAffinity().Obj(), Resources{})
	if len(noTerms.RequiredNodeAffinity) != 1 || len(noTerms.RequiredNodeAffinity[0].Labels) != 0 {
		t.Errorf("required affinity without terms = %+v, want one empty term (matches nothing)", noTerms.RequiredNodeAffinity)
	}
}

func TestFromPodNil(t *testing.T) {
	got := FromPod(nil, Resources{MilliCPU: 10, MemoryMB: 20})
	if got.Resources.MilliCPU != 10 || got.Resources.MemoryMB != 20 || got.Key != "" {
		t.Errorf("FromPod(nil) = %+v", got)
	}
}

// FuzzFromPod feeds arbitrary quantities: FromPod must not panic, must give
// positive cpu and memory, and must never give less than
// any single container asks for.
func FuzzFromPod(f *testing.F) {
	f.Add("500m", "256Mi", "1Gi", "2", "1e30", "100m", int32(80))
	f.Add("0", "0", "0", "0", "0", "0", int32(0))
	f.Add("-5", "1.5Ei", "999999999999999999999", "1n", "8Ei", "0.0001", int32(-1))
	min := Resources{MilliCPU: 10, MemoryMB: 16}
	f.Fuzz(func(t *testing.T, cpu, mem, disk, initCPU, initMem, overheadCPU string, port int32) {
		q := func(s string) (resource.Quantity, bool) {
			// Negative requests are invalid in Kubernetes; FromPod only
			// promises not to go below zero for them (see the table test).
			v, err := resource.ParseQuantity(s)
			return v, err == nil && v.Sign() >= 0
		}
		rl := corev1.ResourceList{}
		if v, ok := q(cpu); ok {
			rl[corev1.ResourceCPU] = v
		}
		if v, ok := q(mem); ok {
			rl[corev1.ResourceMemory] = v
		}
		if v, ok := q(disk); ok {
			rl[corev1.ResourceEphemeralStorage] = v
		}
		initRL := corev1.ResourceList{}
		if v, ok := q(initCPU); ok {
			initRL[corev1.ResourceCPU] = v
		}
		if v, ok := q(initMem); ok {
			initRL[corev1.ResourceMemory] = v
		}
		pod := makePod("fuzz").Obj()
		pod.Spec.Containers = []corev1.Container{container("c", rl)}
		pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: port, ContainerPort: 1}}
		pod.Spec.InitContainers = []corev1.Container{container("i", initRL)}
		if v, ok := q(overheadCPU); ok {
			pod.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: v}
		}

		got := FromPod(pod, min).Resources
		// A request is never zero (the minimum fills in) nor negative.
		if got.MilliCPU <= 0 || got.MemoryMB <= 0 || got.DiskMB < 0 {
			t.Fatalf("FromPod = %+v with minimum %+v", got, min)
		}
		if c := milliValue(rl[corev1.ResourceCPU]); got.MilliCPU < c {
			t.Fatalf("cpu %d below the container's %d", got.MilliCPU, c)
		}
		if c := milliValue(initRL[corev1.ResourceCPU]); got.MilliCPU < c {
			t.Fatalf("cpu %d below the init container's %d", got.MilliCPU, c)
		}
		if m := Mebibytes(rl[corev1.ResourceMemory]); got.MemoryMB < m {
			t.Fatalf("memory %d below the container's %d", got.MemoryMB, m)
		}
		if m := Mebibytes(initRL[corev1.ResourceMemory]); got.MemoryMB < m {
			t.Fatalf("memory %d below the init container's %d", got.MemoryMB, m)
		}
		if d := Mebibytes(rl[corev1.ResourceEphemeralStorage]); got.DiskMB < d {
			t.Fatalf("disk %d below the container's %d", got.DiskMB, d)
		}
		wantPorts := 0
		if port > 0 {
			wantPorts = 1
		}
		if len(got.Ports) != wantPorts {
			t.Fatalf("host port %d gave ports %v", port, got.Ports)
		}
	})
}
