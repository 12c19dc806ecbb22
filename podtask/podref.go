package podtask

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodRef is what a Mesos task tells its executor about its pod: which pod,
// nothing more. Encoded, it is the task's data. It never carries the pod
// spec: TaskInfo is public in Mesos' state endpoints, and a spec may hold
// secrets (invariant 4). The executor reads the spec from the API server.
type PodRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

// ErrBadTaskData marks task data that is not a valid PodRef, or that names
// another pod than the task ID does.
var ErrBadTaskData = errors.New("task data is not a pod reference")

// RefOf is the reference a task of this pod carries.
func RefOf(p *corev1.Pod) PodRef { return PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID} }

// TaskName is the Mesos task name of the pod: "<namespace>/<name>".
func (r PodRef) TaskName() string { return r.Namespace + "/" + r.Name }

// String is the pod's namespace/name.
func (r PodRef) String() string { return r.TaskName() }

// Encode returns the task data for this pod.
func (r PodRef) Encode() []byte {
	b, _ := json.Marshal(r) // a struct of strings cannot fail to marshal
	return b
}

// DecodePodRef parses task data written by Encode. It accepts only a
// complete reference: namespace, name and UID all set.
func DecodePodRef(data []byte) (PodRef, error) {
	var r PodRef
	if err := json.Unmarshal(data, &r); err != nil {
		return PodRef{}, fmt.Errorf("%w: %w", ErrBadTaskData, err)
	}
	if r.Namespace == "" || r.Name == "" || r.UID == "" {
		return PodRef{}, fmt.Errorf("%w: namespace, name and uid are required, got %q", ErrBadTaskData, data)
	}
	return r, nil
}
