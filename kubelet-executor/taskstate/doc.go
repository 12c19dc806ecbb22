// Package taskstate is the kubelet-executor's pure core: it turns what is
// known about a pod (the API object, or its absence) and about its Mesos task
// (launched, bound, kill requested) into the Mesos task state to report.
//
// It does no I/O. The caller observes the world (pod informer, API reads,
// Mesos events), feeds each observation to a Task, and sends the returned
// Report to the agent when Task.Observe says something changed. Decisions are
// level-based: they depend on the pod as it is now, never on which event
// delivered it.
//
// Mapping (docs/contracts.md):
//
//	pod bound, not Running          → TASK_STARTING (waiting reasons in the message)
//	phase Running                   → TASK_RUNNING (pod IP in the report)
//	phase Succeeded                 → TASK_FINISHED
//	phase Failed                    → TASK_FAILED
//	deletion requested              → TASK_KILLING (only if the framework has TASK_KILLING_STATE)
//	pod gone / replaced (other UID) → TASK_KILLED once bound, TASK_DROPPED before
//	pod bound elsewhere / bad data  → TASK_FAILED
package taskstate
