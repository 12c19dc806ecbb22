// Package offermatcher decides where pending pods go: it takes pods (as
// PodRequest, built once per pod by FromPod) and held Mesos offers (as
// Offer) and returns a Plan that assigns each pod to one offer or explains,
// offer by offer, why it fits nowhere.
//
// The package is pure: it performs no I/O, never talks to Mesos or the
// Kubernetes API server, keeps no state between calls and returns the same
// Plan for the same input. The caller (the bridge) owns the offers, turns
// assignments into ACCEPT calls and unplaced pods into FailedScheduling
// events.
//
// Placement mirrors kube-scheduler's filter/score split: a chain of cheap
// checks (cpu, memory, disk, host ports, node selector, required node
// affinity, taints and tolerations, topology spread, inter-pod affinity and
// anti-affinity) rules out offers, and a score (free resources, preferred
// node and pod affinity, ScheduleAnyway spread) chooses among the ones left.
// Cluster says what else placement knows: nodes without an offer and the
// pods already on nodes, which the inter-pod and spread checks count. Labels
// are matched against the labels the node will have once the pod's kubelet
// registers it (Offer.Labels, from podtask.NodeLabels), so agents without a
// Node object yet still match. A pod's persistent volume claims (Claim, plain
// values the caller reads from PVCs and PVs) tie it to the offer carrying its
// volume, or make it need unreserved disk for a new one. See README.md for the pipeline and the
// scoring choice.
package offermatcher
