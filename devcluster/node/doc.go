// Package node turns this machine into several "hosts" for the dev cluster.
//
// A host is what one Mesos agent runs on: its own network namespace
// (km-<name>) wired by a veth pair into a Linux bridge on the machine (the
// Switch, km0 with 10.200.0.1/24), its own address (10.200.0.(10+i)), a pod
// CIDR (10.244.i.0/24) routed to it from the machine, a cgroup root
// (/kubemesos/<name>) in every cgroup v1 hierarchy, and its own containerd,
// started inside the namespace with its own config, root, state, socket, runc
// root and CNI conf_dir. Everything that then runs in the namespace (the agent,
// the executor, the kubelet, kube-proxy, pods) sees only that host's network.
//
// Teardown undoes all of it from a State alone, so it also works after a
// crash: pod sandboxes are removed through CRI before containerd stops, the
// leftover shims of that containerd are ended, mounts under the host's
// directories are unmounted, the veth, namespace and route are deleted and the
// cgroup roots removed. SetupSwitch also gives every range of the cluster
// (agents' network, pod CIDRs, Service CIDR) an `unreachable` floor route, so
// that nothing for them takes the machine's default route (FloorRoute).
// TeardownSwitch deletes the bridge and the floor routes and restores the
// sysctls recorded by SetupSwitch (ip_forward, and those the kubelet changes:
// vm.overcommit_memory, kernel.panic, kernel.panic_on_oops). Switches that
// are up at the same time (two clusters, tests in parallel) share the values
// recorded before the first of them (SwitchRegistry); the last one down
// restores them. Every step is idempotent.
package node
