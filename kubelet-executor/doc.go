// Package kubeletexecutor is the Mesos custom executor that runs pods with a
// real kubelet: one executor per agent per framework (executor ID
// podtask.ExecutorID), one Mesos task per pod.
//
// Executor adapts the Mesos v1 executor API (mesos-go, application/x-protobuf)
// to Kubernetes: it subscribes to its agent, brings the node up through a
// Node (KubeletNode: CNI config, cgroup root, KubeletConfiguration,
// supervised kubelet; or simnode.Node, the simulated runtime), binds each launched pod to the node only after Mesos
// delivered its LAUNCH, and reports the pod's life as task states decided by
// package taskstate. KILL becomes a graceful pod delete; SHUTDOWN (or
// SIGTERM) deletes every pod, stops the kubelet and cleans the node up.
//
// One concept per file: executor.go (the Executor and its lifecycle),
// session.go (agent subscription, events, resubscription), outbox.go (status
// updates in order, unacknowledged ones kept), bringup.go (node bring-up,
// pods left by an earlier executor), admission.go (LAUNCH: bind, adopt or
// reject), podwatch.go (pod informer → task states), kill.go (KILL → pod
// delete), shutdown.go (SHUTDOWN), nodetask.go (node tasks).
//
// See README.md beside this file for the pipeline and a glossary.
package kubeletexecutor
