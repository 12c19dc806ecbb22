package migrate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// unreachableTolerations converts unreachableStrategy: Marathon replaces a
// task inactiveAfterSeconds after its agent became unreachable; Kubernetes
// evicts a pod tolerationSeconds after its node became unreachable or not
// ready, and the workload's controller replaces it.
func unreachableTolerations(r *Report, field string, u *UnreachableStrategy) []corev1.Toleration {
	if u == nil {
		return nil
	}
	tol := func(seconds *int64) []corev1.Toleration {
		var out []corev1.Toleration
		for _, key := range []string{corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady} {
			out = append(out, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds})
		}
		return out
	}
	if u.Disabled {
		r.approx(field, "disabled: tolerates node.kubernetes.io/unreachable and not-ready for ever; the pod is never replaced, and never expunged either")
		return tol(nil)
	}
	inactive := int64(0)
	if u.InactiveAfterSeconds != nil {
		inactive = *u.InactiveAfterSeconds
	}
	detail := fmt.Sprintf("tolerationSeconds %d for node.kubernetes.io/unreachable and not-ready: the pod is evicted and replaced after %ds", inactive, inactive)
	if u.ExpungeAfterSeconds != nil {
		r.approx(field, "%s; expungeAfterSeconds %d has no equivalent: the pod object of a gone node is removed by the node lifecycle controller", detail, *u.ExpungeAfterSeconds)
	} else {
		r.converted(field, "%s", detail)
	}
	return tol(&inactive)
}

// backoff reports what becomes of the launch backoff: the kubelet's
// CrashLoopBackOff (10s doubling up to 5 minutes) is fixed.
func backoff(r *Report, seconds, factor, maxDelay *float64) {
	if seconds != nil {
		r.approx("backoffSeconds", "%vs: the kubelet restarts a crashing container after 10s, doubling", *seconds)
	}
	if factor != nil {
		r.approx("backoffFactor", "%v: the kubelet's backoff doubles (factor 2)", *factor)
	}
	if maxDelay != nil {
		r.approx("maxLaunchDelaySeconds", "%vs: the kubelet's backoff stops at 300s", *maxDelay)
	}
}

// killSelection reports which instances go first when scaling down.
func killSelection(r *Report, field, k string) {
	switch k {
	case "":
	case "YOUNGEST_FIRST":
		r.approx(field, "YOUNGEST_FIRST: a ReplicaSet removes unready and unscheduled pods first, then the youngest")
	case "OLDEST_FIRST":
		r.not(field, "OLDEST_FIRST: a ReplicaSet removes the youngest pods first (set controller.kubernetes.io/pod-deletion-cost on pods to change it)")
	}
}

// dependencies reports the ordering Kubernetes does not do.
func dependencies(r *Report, field string, deps []string) {
	if len(deps) == 0 {
		return
	}
	r.approx(field, "Kubernetes starts every workload at once: apply %s first and wait until ready, or give this app an init container that waits for their Services", strings.Join(deps, ", "))
}

// roles reports acceptedResourceRoles and role: kubemesos launches every
// pod with the resources of the bridge's --role.
func roles(r *Report, field string, rs []string) {
	if len(rs) == 0 {
		return
	}
	r.approx(field, "%s: kubemesos places pods on the offers of its bridge's Mesos role (--role), for every namespace; run the namespace's workloads under a bridge of that role, or select its agents with a nodeSelector", strings.Join(rs, ", "))
}

// statusFields reports the read-only fields of GET answers.
func statusFields(r *Report, s AppStatus) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"version", len(s.Version) > 0}, {"versionInfo", len(s.VersionInfo) > 0}, {"tasks", len(s.Tasks) > 0},
		{"tasksStaged", len(s.TasksStaged) > 0}, {"tasksRunning", len(s.TasksRunning) > 0}, {"tasksHealthy", len(s.TasksHealthy) > 0},
		{"tasksUnhealthy", len(s.TasksUnhealthy) > 0}, {"deployments", len(s.Deployments) > 0}, {"lastTaskFailure", len(s.LastTaskFailure) > 0},
		{"readinessCheckResults", len(s.ReadinessCheckResults) > 0}, {"taskStats", len(s.TaskStats) > 0}, {"counts", len(s.Counts) > 0},
	} {
		if f.set {
			r.add(f.name, Ignored, "status of the running app in Marathon's answer, not part of its definition")
		}
	}
}
