// Package proc starts and supervises the child processes of the dev cluster:
// etcd, kube-apiserver, kube-controller-manager, and anything else that runs
// as a plain process (kubelets, containerd, executors).
//
// Every child runs in its own process group and gets SIGKILL when the thread
// that started it dies (Pdeathsig), so a crashed parent leaves nothing behind.
// Children are forked from one thread that lives as long as the parent, so a
// goroutine that ends its own locked thread (after setns, say) does not take
// the children it started with it.
// Stop signals the child's process group by its PID only: SIGTERM first, then
// SIGKILL after a grace period. A child is also stopped when the context it
// was started with is done.
//
// A Spec with NetNS runs the child inside the named network namespace
// (/var/run/netns/<NetNS>) through `nsenter --net=...`, which execs the target
// program in place, so PID() is the target's own PID. nsenter is used rather
// than `ip netns exec` because the latter remounts /sys and hides cgroup and
// volume mounts from the child.
package proc
