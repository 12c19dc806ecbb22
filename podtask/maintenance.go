package podtask

import corev1 "k8s.io/api/core/v1"

// MaintenanceTaintKey is the key of the taint the bridge puts on the Node of
// an agent whose machine Mesos is draining for maintenance (an inverse
// offer, or offers whose unavailability starts within the bridge's
// --drain-ahead), and removes when the maintenance is withdrawn or over.
const MaintenanceTaintKey = "kubemesos.io/maintenance"

// MaintenanceTaint keeps new pods off a draining agent's Node; the pods
// already there are evicted through the Eviction API, so it is NoSchedule,
// not NoExecute (which would bypass PodDisruptionBudgets).
var MaintenanceTaint = corev1.Taint{Key: MaintenanceTaintKey, Effect: corev1.TaintEffectNoSchedule}
