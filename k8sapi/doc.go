// Package k8sapi holds the Kubernetes side of kubemesos: the contract that ties a
// pod to its Mesos task (PodTask), the pending-pod feed, events and status.
//
// The pod↔task contract is shared by the bridge (which launches tasks) and the
// kubelet-executor (which runs them): a task's ID is "pod.<pod UID>", its name
// "<namespace>/<name>", and its data carries only the pod reference — never the
// pod spec or anything secret, because TaskInfo is visible in Mesos' state
// endpoints. The executor reads the spec from the API server.
package k8sapi
