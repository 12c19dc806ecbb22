package kubeletexecutor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// AnnotationCordonedBy marks a Node an executor cordoned when it shut down;
// its value is the executor ID. The next executor on the agent uncordons a
// Node that carries it (and only such a Node: a cordon of an operator's
// stays).
const AnnotationCordonedBy = "kubemesos.io/cordoned-by-executor"

// drainGrace is the grace period a pod is deleted with when the executor
// shuts down: the KILL's when one came, else the pod's own, never more than
// budget (the part of the agent's shutdown grace period the pods get). Nil
// means the pod's own (known to fit).
func drainGrace(kill *time.Duration, pod *corev1.Pod, budget time.Duration) *time.Duration {
	if kill != nil {
		d := min(*kill, budget)
		return &d
	}
	if pod != nil {
		own := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			own = *pod.Spec.TerminationGracePeriodSeconds
		}
		if time.Duration(own)*time.Second <= budget {
			return nil
		}
	}
	return &budget
}

// cordonPatch marks the node unschedulable, annotated as this executor's
// cordon; uncordonPatch undoes it.
func cordonPatch(executorID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{AnnotationCordonedBy: executorID}},
		"spec":     map[string]any{"unschedulable": true},
	})
	return b
}

var uncordonPatch = []byte(`{"metadata":{"annotations":{"` + AnnotationCordonedBy + `":null}},"spec":{"unschedulable":null}}`)

// cordon makes the node unschedulable before its pods are deleted, so
// nothing new is placed on a node that is going away. A node an operator
// cordoned already is left as it is (and not marked as ours).
func (e *Executor) cordon(ctx context.Context, name string) error {
	nodes := e.client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read node %s: %w", name, err)
	}
	if n.Spec.Unschedulable {
		return nil
	}
	if _, err := nodes.Patch(ctx, name, types.StrategicMergePatchType, cordonPatch(e.mesos.ExecutorID), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordon node %s: %w", name, err)
	}
	klog.FromContext(ctx).Info("Cordoned the node before deleting its pods", "node", name)
	return nil
}

// uncordon lifts a cordon an earlier executor on this agent left when it
// shut down; an operator's cordon (without AnnotationCordonedBy) stays.
func (e *Executor) uncordon(ctx context.Context, name string) error {
	nodes := e.client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read node %s: %w", name, err)
	}
	by, ours := n.Annotations[AnnotationCordonedBy]
	if !ours {
		return nil
	}
	if _, err := nodes.Patch(ctx, name, types.StrategicMergePatchType, uncordonPatch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("uncordon node %s: %w", name, err)
	}
	klog.FromContext(ctx).Info("Uncordoned the node a previous executor cordoned", "node", name, "cordonedBy", by)
	return nil
}
