package k8sapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// TaskIDPrefix starts every Mesos task ID the bridge launches for a pod.
const TaskIDPrefix = "pod."

// Labels set on every pod task, so Mesos operators can find the pod.
const (
	LabelNamespace = "kubemesos.io/namespace"
	LabelName      = "kubemesos.io/name"
	LabelUID       = "kubemesos.io/uid"
)

// ExecutorID is the ID of the kubelet-executor: one per agent per framework,
// so every agent's executor carries the same ID.
const ExecutorID = "kubelet-executor"

// PodRef is what a Mesos task tells its executor about its pod: which pod,
// nothing more. It is encoded as the task's data.
type PodRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

// ErrBadTaskData marks task data that is not a valid PodRef.
var ErrBadTaskData = errors.New("task data is not a pod reference")

// TaskID is the Mesos task ID of the pod with this UID.
func TaskID(uid types.UID) string { return TaskIDPrefix + string(uid) }

// UIDFromTaskID returns the pod UID of a pod task ID, and false for other tasks.
func UIDFromTaskID(taskID string) (types.UID, bool) {
	if !strings.HasPrefix(taskID, TaskIDPrefix) || len(taskID) == len(TaskIDPrefix) {
		return "", false
	}
	return types.UID(strings.TrimPrefix(taskID, TaskIDPrefix)), true
}

// TaskName is the Mesos task name of a pod: "<namespace>/<name>".
func (r PodRef) TaskName() string { return r.Namespace + "/" + r.Name }

// String is the pod's namespace/name.
func (r PodRef) String() string { return r.TaskName() }

// Encode returns the task data for this pod.
func (r PodRef) Encode() []byte {
	b, _ := json.Marshal(r) // a struct of strings cannot fail to marshal
	return b
}

// DecodePodRef parses task data written by Encode.
func DecodePodRef(data []byte) (PodRef, error) {
	var r PodRef
	if err := json.Unmarshal(data, &r); err != nil {
		return PodRef{}, fmt.Errorf("%w: %v", ErrBadTaskData, err)
	}
	if r.Namespace == "" || r.Name == "" || r.UID == "" {
		return PodRef{}, fmt.Errorf("%w: namespace, name and uid are required, got %q", ErrBadTaskData, data)
	}
	return r, nil
}
