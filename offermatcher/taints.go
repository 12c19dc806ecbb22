package offermatcher

import (
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
)

// untolerated reports whether the node has a taint that keeps new pods off
// it (effect NoSchedule or NoExecute; PreferNoSchedule only lowers a score in
// kube-scheduler) and that none of the pod's tolerations tolerates. This is
// kube-scheduler's TaintToleration filter
// (FindMatchingUntoleratedTaint with DoNotScheduleTaintsFilterFunc), written
// out so the per-offer check allocates nothing; whether one toleration
// tolerates one taint is Kubernetes' own Toleration.ToleratesTaint. The Lt
// and Gt operators are off, as their feature gate
// (TaintTolerationComparisonOperators, alpha) is by default.
func untolerated(taints []corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(tolerations, t) {
			return true
		}
	}
	return false
}

func tolerates(tolerations []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(logr.Discard(), t, false) {
			return true
		}
	}
	return false
}
