package podtask

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// TaskIDPrefix starts the Mesos task ID of every pod task.
const TaskIDPrefix = "pod."

// Attempt names one launch of a pod. Mesos requires a task ID to be unique
// for the framework's whole life (reusing the ID of an ended task is
// undefined behaviour), so every launch of a pod has its own: Epoch is the
// term of the bridge that launched it, Seq counts the launches of that term.
//
// Epochs never repeat across terms: a leader's epoch is the create revision
// of its etcd election key, which grows from one leader to the next (a new
// leader's key was created after the old leader's, else the old one would
// still be the oldest); a bridge without election takes the time its term
// began, in nanoseconds. The zero Attempt is the one ID an older bridge gave
// every launch of a pod, "pod.<uid>": it is still parsed, so that the tasks
// such a bridge launched are adopted, and never built for a new launch.
type Attempt struct {
	Epoch, Seq uint64
}

// IsZero reports whether a is the attempt of the older, per-pod task ID.
func (a Attempt) IsZero() bool { return a == Attempt{} }

// TaskID is the Mesos task ID of one launch of the pod with this UID:
// "pod.<uid>.<epoch>.<seq>", or "pod.<uid>" for the zero Attempt.
func TaskID(uid types.UID, a Attempt) string {
	if a.IsZero() {
		return TaskIDPrefix + string(uid)
	}
	return TaskIDPrefix + string(uid) + "." + strconv.FormatUint(a.Epoch, 10) + "." + strconv.FormatUint(a.Seq, 10)
}

// ParseTaskID returns the pod UID and the attempt of a pod task ID, and
// false for any other task ID (tasks of other frameworks or executors, node
// tasks, the bare prefix). Pod UIDs are UUIDs: a UID holds no dot.
func ParseTaskID(taskID string) (types.UID, Attempt, bool) {
	rest, ok := strings.CutPrefix(taskID, TaskIDPrefix)
	if !ok || rest == "" {
		return "", Attempt{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) == 1 { // "pod.<uid>", an older bridge's
		return types.UID(rest), Attempt{}, true
	}
	if len(parts) != 3 {
		return "", Attempt{}, false
	}
	e, err1 := strconv.ParseUint(parts[1], 10, 64)
	s, err2 := strconv.ParseUint(parts[2], 10, 64)
	a := Attempt{Epoch: e, Seq: s}
	// Only the canonical form: one ID per attempt, so that two IDs that
	// differ are two tasks ("01" is not "1").
	if parts[0] == "" || err1 != nil || err2 != nil || a.IsZero() || TaskID(types.UID(parts[0]), a) != taskID {
		return "", Attempt{}, false
	}
	return types.UID(parts[0]), a, true
}

// UIDFromTaskID returns the pod UID of a pod task ID (of any attempt), and
// false for any other task ID.
func UIDFromTaskID(taskID string) (types.UID, bool) {
	uid, _, ok := ParseTaskID(taskID)
	return uid, ok
}
