package podtask

import (
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Labels set on every pod task, so Mesos operators can find the pod.
const (
	LabelNamespace = "kubemesos.io/namespace"
	LabelName      = "kubemesos.io/name"
	LabelUID       = "kubemesos.io/uid"
)

// ErrTaskIDMismatch marks a task whose ID is not the task ID of the pod its
// data names. It wraps ErrBadTaskData.
var ErrTaskIDMismatch = fmt.Errorf("%w: task ID does not match the pod UID in its data", ErrBadTaskData)

// TaskInfo fills in the pod's part of the TaskInfo of launch attempt a: ID,
// name, data and labels. Agent, resources and executor are the launcher's.
func (r PodRef) TaskInfo(a Attempt) mesos.TaskInfo {
	return mesos.TaskInfo{
		Name:   r.TaskName(),
		TaskID: mesos.TaskID{Value: TaskID(r.UID, a)},
		Data:   r.Encode(),
		Labels: &mesos.Labels{Labels: []mesos.Label{
			{Key: LabelNamespace, Value: ptr(r.Namespace)},
			{Key: LabelName, Value: ptr(r.Name)},
			{Key: LabelUID, Value: ptr(string(r.UID))},
		}},
	}
}

// DecodeTask returns the pod a launched task stands for. The data must be a
// complete PodRef (ErrBadTaskData otherwise) and the task ID must be that
// pod's task ID, of any attempt (ErrTaskIDMismatch otherwise): an executor must not run a pod
// under a task that Mesos tracks for another one.
func DecodeTask(info mesos.TaskInfo) (PodRef, error) {
	ref, err := DecodePodRef(info.GetData())
	if err != nil {
		return PodRef{}, err
	}
	if uid, ok := UIDFromTaskID(info.TaskID.Value); !ok || uid != ref.UID {
		return PodRef{}, fmt.Errorf("%w (task %q, pod UID %q)", ErrTaskIDMismatch, info.TaskID.Value, ref.UID)
	}
	return ref, nil
}

func ptr[T any](v T) *T { return &v }
