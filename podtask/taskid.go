package podtask

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// TaskIDPrefix starts the Mesos task ID of every pod task.
const TaskIDPrefix = "pod."

// TaskID is the Mesos task ID of the pod with this UID: "pod.<uid>". One pod
// has one task ID for its whole life, so a pod can never be launched under
// two IDs.
func TaskID(uid types.UID) string { return TaskIDPrefix + string(uid) }

// UIDFromTaskID returns the pod UID of a pod task ID, and false for any other
// task ID (tasks of other frameworks or executors, or the bare prefix).
func UIDFromTaskID(taskID string) (types.UID, bool) {
	uid, ok := strings.CutPrefix(taskID, TaskIDPrefix)
	if !ok || uid == "" {
		return "", false
	}
	return types.UID(uid), true
}
