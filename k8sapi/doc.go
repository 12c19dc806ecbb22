// Package k8sapi holds the Kubernetes client side of kubemesos: the
// pending-pod feed, the node mirror (taints, cordon), FailedScheduling
// events and pod status, and the framework ID's ConfigMap.
//
// The pod↔task contract that the bridge (which launches tasks) and the
// kubelet-executor (which runs them) share is package podtask, which needs
// no Kubernetes client.
package k8sapi
