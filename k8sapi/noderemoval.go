package k8sapi

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonAgentGone is the reason of the event on a Node removed because
// Mesos reports its agent gone.
const ReasonAgentGone = "MesosAgentGone"

// RemoveNode deletes the Node of an agent that Mesos reports gone for good
// (TASK_GONE, TASK_GONE_BY_OPERATOR), as a cloud provider's node lifecycle
// controller deletes the Node of a deleted instance; an event says why. A
// Node already gone is no error. If the agent's host comes back as a new
// agent, its executor registers the Node again.
func (r *PodReporter) RemoveNode(ctx context.Context, name, msg string) error {
	node, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove node %s: %w", name, err)
	}
	r.recorder.Eventf(node, nil, corev1.EventTypeWarning, ReasonAgentGone, ActionTaskEnded, msg)
	err = r.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &node.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("remove node %s: %w", name, err)
	}
	return nil
}
