package k8sapi

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// A Mesos agent that the master reports unreachable (its tasks
// TASK_UNREACHABLE) is, to Kubernetes, a node that stopped reporting: the
// bridge marks its Node as the node lifecycle controller marks one whose
// kubelet went silent, so that Kubernetes controllers (taint-based
// eviction, ReplicaSets, EndpointSlices) act as on any cluster, and clears
// its own mark once Mesos reports the agent's tasks running again.

// ReasonAgentUnreachable is the reason of the Node's Ready=Unknown condition
// and of the event the bridge records when Mesos reports its agent
// unreachable.
const ReasonAgentUnreachable = "MesosAgentUnreachable"

// ReasonAgentReachable is the reason of the event when it is back.
const ReasonAgentReachable = "MesosAgentReachable"

// AnnotationUnreachableTaint marks a Node whose unreachable taint the bridge
// added (the value says why): the bridge removes that taint, and only that
// one, once the agent is back. A taint the node lifecycle controller added
// is the controller's to remove.
const AnnotationUnreachableTaint = "kubemesos.io/unreachable-taint"

// unreachableTaint is the taint the node lifecycle controller puts on a node
// whose Ready condition is Unknown.
var unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}

func isUnreachableTaint(t corev1.Taint) bool { return unreachableTaint.MatchTaint(&t) }

// MarkNodeUnreachable marks the Node name as Mesos reports its agent
// unreachable (msg says how): the taint node.kubernetes.io/unreachable:NoExecute
// (added, with its time, unless the Node has it already; then the Node is
// annotated with AnnotationUnreachableTaint) and the Ready condition Unknown
// with ReasonAgentUnreachable, as the node lifecycle controller does; an
// event says why. A Node that does not exist is no error.
func (r *PodReporter) MarkNodeUnreachable(ctx context.Context, name, msg string) error {
	var node *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node = n
		if slices.ContainsFunc(n.Spec.Taints, isUnreachableTaint) {
			return nil
		}
		now := metav1.Now()
		t := unreachableTaint
		t.TimeAdded = &now
		n.Spec.Taints = append(n.Spec.Taints, t)
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[AnnotationUnreachableTaint] = msg
		node, err = r.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("taint node %s unreachable: %w", name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !setReadyUnknown(n, msg) {
			return nil
		}
		_, err = r.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark node %s Ready=Unknown: %w", name, err)
	}
	r.recorder.Eventf(node, nil, corev1.EventTypeWarning, ReasonAgentUnreachable, ActionTaskEnded, msg)
	return nil
}

// setReadyUnknown sets the Node's Ready condition Unknown (unless it is
// already), as the node lifecycle controller does for a silent kubelet; it
// reports whether it changed the Node. The kubelet sets it again when it
// reports.
func setReadyUnknown(n *corev1.Node, msg string) bool {
	now := metav1.Now()
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionUnknown {
			return false
		}
		c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, ReasonAgentUnreachable, msg, now
		return true
	}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady,
		Status: corev1.ConditionUnknown, Reason: ReasonAgentUnreachable, Message: msg, LastTransitionTime: now, LastHeartbeatTime: now})
	return true
}

// MarkNodeReachable undoes what MarkNodeUnreachable did once Mesos reports
// the agent's tasks running again: it removes the unreachable taint if the
// bridge added it (AnnotationUnreachableTaint), and the annotation. The
// Ready condition is the kubelet's to report again (a taint the node
// lifecycle controller added, the controller removes when it does). A Node
// that does not exist, or that the bridge did not taint, is left alone.
func (r *PodReporter) MarkNodeReachable(ctx context.Context, name, msg string) error {
	var node *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := r.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node = nil
		if _, ours := n.Annotations[AnnotationUnreachableTaint]; !ours {
			return nil
		}
		delete(n.Annotations, AnnotationUnreachableTaint)
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, isUnreachableTaint)
		node, err = r.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clear the unreachable taint of node %s: %w", name, err)
	}
	if node != nil {
		r.recorder.Eventf(node, nil, corev1.EventTypeNormal, ReasonAgentReachable, ActionTaskEnded, msg)
	}
	return nil
}
