// Package conformance is kubemesos' end-to-end suite: kubectl-driven scenarios
// run against a kubemesos cluster, checked from both sides — the Kubernetes API
// (pods, events) and the Mesos master (/master/state tasks, the operator API).
//
// It runs against any cluster when KUBECONFIG and MESOS_MASTER are set and
// KUBEMESOS_E2E_EXISTING=1; otherwise it brings up a local cluster with
// devcluster.Up (root, containerd, the binaries in bin/) and tears it down.
//
// KUBEMESOS_E2E_FAULTS=1 (make conformance) enables the long fault scenarios,
// which need the suite's own local cluster (two Mesos masters then): each logs
// the pods it lost and ran twice and its recovery time as a report.Fault line,
// and fails unless both counts are 0. Package report turns a run's test2json
// stream into the table.
package conformance
