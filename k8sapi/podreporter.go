package k8sapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
)

// Event reasons and actions kubemesos reports on pods, as kube-scheduler does.
const (
	ReasonFailedScheduling = "FailedScheduling"
	ActionScheduling       = "Scheduling"
	ReasonUnschedulable    = corev1.PodReasonUnschedulable
	// ReasonNodeGone: the pod was force-deleted because Mesos says its agent is gone.
	ReasonNodeGone = "NodeGone"
	// ActionTaskEnded: the pod's Mesos task ended under it.
	ActionTaskEnded = "MesosTaskEnded"
)

// PodReporter tells users why a pod is not placed: a Warning event
// FailedScheduling and the pod's PodScheduled=False condition, like
// kube-scheduler. The same message for the same pod is repeated at most every
// Repeat, and a changed one (the held offers change every cycle) at most every
// Gap.
type PodReporter struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	Repeat   time.Duration
	Gap      time.Duration
	last     map[types.UID]reported
	pruned   time.Time
	stop     func()
}

type reported struct {
	msg string
	at  time.Time
}

// NewPodReporter starts an event broadcaster for component (the scheduler name).
func NewPodReporter(ctx context.Context, client kubernetes.Interface, component string) *PodReporter {
	recorder, stop := newRecorder(ctx, client, component)
	return &PodReporter{
		client:   client,
		recorder: recorder,
		Repeat:   time.Minute,
		Gap:      10 * time.Second,
		last:     map[types.UID]reported{},
		stop:     stop,
	}
}

// newRecorder starts an event broadcaster for component and returns its
// recorder and the func that flushes and stops it.
func newRecorder(ctx context.Context, client kubernetes.Interface, component string) (events.EventRecorder, func()) {
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	b.StartRecordingToSink(ctx.Done())
	return b.NewRecorder(scheme.Scheme, component), b.Shutdown
}

// Shutdown flushes and stops the event broadcaster.
func (r *PodReporter) Shutdown() { r.stop() }

// WouldReport says whether Unschedulable(pod with uid, msg) would write
// anything now, rather than drop the report as a repeat, so that a writer
// queueing reports spends no API-server budget on those.
func (r *PodReporter) WouldReport(uid types.UID, msg string) bool {
	return r.due(uid, msg, time.Now())
}

// due is whether a report of msg for the pod uid is due at now: its first,
// a changed message after Gap, the same one after Repeat.
func (r *PodReporter) due(uid types.UID, msg string, now time.Time) bool {
	l, ok := r.last[uid]
	return !ok || now.Sub(l.at) >= r.Gap && (l.msg != msg || now.Sub(l.at) >= r.Repeat)
}

// Unschedulable reports that pod fits nowhere, for the reason in msg.
func (r *PodReporter) Unschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	now := time.Now()
	if !r.due(pod.UID, msg, now) {
		return
	}
	r.prune(now)
	r.last[pod.UID] = reported{msg: msg, at: now}
	r.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonFailedScheduling, ActionScheduling, msg)
	if err := r.setCondition(ctx, pod, msg); err != nil {
		klog.FromContext(ctx).Error(err, "Could not set PodScheduled condition", "pod", klog.KObj(pod))
	}
}

// Fail marks a pod Failed with reason and message, and says so in a Warning
// event; its controller then replaces it. The phase is only written if the pod
// is still the same object (UID precondition) and not already ended.
func (r *PodReporter) Fail(ctx context.Context, pod *corev1.Pod, reason, msg string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   map[string]any{"phase": corev1.PodFailed, "reason": reason, "message": msg},
	})
	if err != nil {
		return err
	}
	r.recorder.Eventf(pod, nil, corev1.EventTypeWarning, reason, ActionTaskEnded, msg)
	_, err = r.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("mark %s/%s Failed: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// ForceDelete deletes a pod without grace (its node is gone: nothing can stop
// its containers any more), with a Warning event saying why.
func (r *PodReporter) ForceDelete(ctx context.Context, pod *corev1.Pod, msg string) error {
	r.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonNodeGone, ActionTaskEnded, msg)
	zero := int64(0)
	err := r.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("force-delete %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// prune drops, at most once per Repeat, the reports older than Repeat: they
// no longer hold a repeat back, and their pods may be long gone.
func (r *PodReporter) prune(now time.Time) {
	if now.Sub(r.pruned) < r.Repeat {
		return
	}
	r.pruned = now
	for uid, l := range r.last {
		if now.Sub(l.at) >= r.Repeat {
			delete(r.last, uid)
		}
	}
}

// Forget drops what was reported for a pod (it was placed or is gone).
func (r *PodReporter) Forget(uid types.UID) { delete(r.last, uid) }

func (r *PodReporter) setCondition(ctx context.Context, pod *corev1.Pod, msg string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: ReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.Now(),
	}}}})
	if err != nil {
		return err
	}
	_, err = r.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch PodScheduled of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
