// Package conformance is kubemesos' end-to-end suite: kubectl-driven scenarios
// run against a kubemesos cluster, checked from both sides — the Kubernetes API
// (pods, events) and the Mesos master (/master/state tasks).
//
// It runs against any cluster when KUBECONFIG and MESOS_MASTER are set and
// KUBEMESOS_E2E_EXISTING=1; otherwise it brings up a local cluster with
// devcluster.Up (root, containerd, the binaries in bin/) and tears it down.
package conformance
