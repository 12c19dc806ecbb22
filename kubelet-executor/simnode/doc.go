// Package simnode is the simulated runtime of the kubelet-executor
// (KUBEMESOS_EXECUTOR_RUNTIME=simulated): a Node without a kubelet or a
// container runtime, for measuring the bridge on many agents.
//
// Node registers the agent's Node object itself (labels of the pod↔task
// contract, capacity and allocatable from the agent's Mesos resources, Ready),
// keeps its Lease in kube-node-lease renewed as a kubelet does, and plays the
// kubelet for the pods bound to it, as kwok does: a pod is reported Running
// with every container started and Ready (status.go decides the status, a
// pure function), with a pod IP from the node's pod CIDR (ipam.go); a pod
// being deleted is removed at once (its containers "stop" instantly). The
// executor around it is the same as with a kubelet: it binds pods, reports
// their tasks and deletes them on KILL.
package simnode
