// Package devcluster runs a whole kubemesos cluster on one machine, for
// development and end-to-end tests: `kubemesos up` and `kubemesos down`.
//
// Up starts, in order:
//
//  1. the Switch (devcluster/node): an `unreachable` route for each of the
//     cluster's ranges (agents' network, pod CIDRs, Service CIDR) so that no
//     packet for them leaves the machine, bridge km0 with 10.200.0.1/24, IP
//     forwarding, and the sysctls the kubelet changes recorded for Down;
//  2. the control plane (devcluster/controlplane): etcd, kube-apiserver on
//     10.200.0.1 (calling webhooks and aggregated APIs at their endpoints'
//     pod IPs, docs/networking.md) and kube-controller-manager;
//  3. a Mesos master (`kubemesos mesos-master`) on 10.200.0.1:5050;
//  4. per agent i: a host (network namespace km-agent-<i>, 10.200.0.(10+i),
//     pod CIDR 10.244.i.0/24, its own containerd with the dev images
//     imported), a node identity (system:node:agent-<i>) and an executor
//     identity, and `kubemesos mesos-agent` started inside the namespace, so
//     the kubelet-executor it launches, the kubelet and the pods are on that
//     host; the executor's settings travel in the agent's
//     --executor_environment_variables (docs/contracts.md);
//  5. the bridge (`kubemesos scheduler`) with its own identity.
//
// It writes <Dir>/kubeconfig (admin), <Dir>/env (KUBECONFIG, MESOS_MASTER,
// PATH with the Kubernetes binaries) and <Dir>/state.json, updated after
// every step, from which Down(ctx, dir) tears everything down after a crash:
// processes by recorded PID only (and only while their command line still
// matches), pod sandboxes through CRI, containerd, mounts, network devices,
// namespaces, cgroups and routes, and the sysctls are restored.
//
// With Config.TestImages, the upstream end-to-end suite's images (agnhost,
// busybox, nginx, nonroot, the sample API server, etcd, ...; images.Suite)
// are imported into every agent too, under the names e2e.test pulls.
package devcluster
