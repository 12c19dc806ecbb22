// Package node brings up the Kubernetes node an executor stands for: the CNI
// network config containerd reads, the kubelet's cgroup root, the
// KubeletConfiguration, a supervised kubelet process, and the teardown that
// leaves no sandboxes or mounts behind (CRI RemovePodSandbox, unmount of the
// kubelet root dir).
//
// Config generation (CNIConfList, KubeletConfiguration, Labels, Reserved) is
// pure and tested against field values; the rest touches the host.
package node
