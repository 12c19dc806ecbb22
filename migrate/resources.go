package migrate

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// LimitsPolicy says which requests are also limits.
type LimitsPolicy string

const (
	// LimitsNone sets requests only.
	LimitsNone LimitsPolicy = "none"
	// LimitsMemory also limits memory to the request: Mesos enforces mem
	// as a hard limit (the task is OOM-killed above it), cpus as a share.
	LimitsMemory LimitsPolicy = "memory"
	// LimitsAll limits cpu and memory to their requests, as Mesos does
	// with CFS quotas (--cgroups_enable_cfs).
	LimitsAll LimitsPolicy = "all"
)

// ParseLimitsPolicy parses a --limits value.
func ParseLimitsPolicy(s string) (LimitsPolicy, error) {
	switch p := LimitsPolicy(s); p {
	case LimitsNone, LimitsMemory, LimitsAll:
		return p, nil
	}
	return "", fmt.Errorf("limits %q: want none, memory or all", s)
}

// ResourceGPU is the extended resource GPUs are requested as.
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// Marathon's defaults for an app that does not say.
const (
	defaultCpus = 1.0
	defaultMem  = 128.0
)

// resources is cpus, mem (MiB), disk (MiB) and gpus as requests, and
// limits by policy. field is the prefix of the input fields ("" for an
// app, "resources." for a pod container, "run." for a job); a nil value is
// Marathon's default.
func resources(r *Report, field string, cpus, mem, disk, gpus *float64, policy LimitsPolicy) corev1.ResourceRequirements {
	req := corev1.ResourceList{}
	lim := corev1.ResourceList{}
	c, m := defaultCpus, defaultMem
	if cpus != nil {
		c = *cpus
		q := cpuQuantity(c)
		r.converted(field+"cpus", "requests.cpu %s", q.String())
	}
	if mem != nil {
		m = *mem
		q := memQuantity(m)
		r.converted(field+"mem", "requests.memory %s", q.String())
	}
	if c > 0 {
		req[corev1.ResourceCPU] = cpuQuantity(c)
	}
	if m > 0 {
		req[corev1.ResourceMemory] = memQuantity(m)
	}
	if disk != nil {
		if *disk > 0 {
			q := memQuantity(*disk)
			req[corev1.ResourceEphemeralStorage] = q
			r.approx(field+"disk", "requests.ephemeral-storage %s: the kubelet evicts a pod over it, Mesos' disk isolator (when enabled) kills the task", q.String())
		} else {
			r.converted(field+"disk", "0: no ephemeral-storage request")
		}
	}
	if gpus != nil {
		if *gpus > 0 {
			q := *resource.NewQuantity(int64(*gpus), resource.DecimalSI)
			req[ResourceGPU] = q
			lim[ResourceGPU] = q
			r.approx(field+"gpus", "requests and limits %s %s: needs the NVIDIA device plugin on the nodes", ResourceGPU, q.String())
		} else {
			r.converted(field+"gpus", "0: no GPU")
		}
	}
	switch policy {
	case LimitsMemory:
		if q, ok := req[corev1.ResourceMemory]; ok {
			lim[corev1.ResourceMemory] = q
		}
	case LimitsAll:
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := req[n]; ok {
				lim[n] = q
			}
		}
	}
	out := corev1.ResourceRequirements{Requests: req}
	if len(lim) > 0 {
		out.Limits = lim
	}
	return out
}

// cpuQuantity is cpus in millicores (0.25 → 250m).
func cpuQuantity(cpus float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(math.Round(cpus*1000)), resource.DecimalSI)
}

// memQuantity is MiB in bytes, shown as Mi when whole (128 → 128Mi).
func memQuantity(mib float64) resource.Quantity {
	if mib == math.Trunc(mib) {
		return resource.MustParse(fmt.Sprintf("%dMi", int64(mib)))
	}
	return *resource.NewQuantity(int64(math.Round(mib*1024*1024)), resource.BinarySI)
}
