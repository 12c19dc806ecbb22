package podtask

import "strings"

// revocablePrefix starts the executor ID of a revocable executor.
const revocablePrefix = "revocable-"

// RevocableExecutorIDOf is the executor ID of the revocable executor of the
// kubelet-executor whose ID is kubeletExecutorID (ExecutorIDOf): the
// second executor of the framework on an agent, holding the pods placed on
// revocable resources, with revocable resources of its own. It runs the
// same command; the executor tells from its ID which one it is. It is never
// an IsExecutorID: no kubelet runs in it.
func RevocableExecutorIDOf(kubeletExecutorID string) string {
	return revocablePrefix + kubeletExecutorID
}

// IsRevocableExecutorID reports whether id is a revocable executor's.
func IsRevocableExecutorID(id string) bool {
	rest, ok := strings.CutPrefix(id, revocablePrefix)
	return ok && IsExecutorID(rest)
}
