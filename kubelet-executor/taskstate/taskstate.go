package taskstate

import (
	"fmt"
	"sort"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// Messages shown to Mesos operators and frameworks for outcomes that are not
// a pod phase.
const (
	MessagePodGone          = "pod no longer exists"
	MessagePodReplaced      = "pod was replaced by another pod with the same name"
	MessagePodDeleted       = "pod was deleted"
	MessageKilledBeforeBind = "task was killed before its pod was bound"
)

// Admission is what the executor does with a LAUNCH once it has read the pod.
type Admission int

const (
	// Bind: the pod is pending and unbound; bind it to this node.
	Bind Admission = iota
	// AlreadyBound: the pod is already bound to this node (a re-delivered LAUNCH); watch it.
	AlreadyBound
	// Reject: the task cannot run here; report the returned Report, which is terminal.
	Reject
)

func (a Admission) String() string {
	switch a {
	case Bind:
		return "Bind"
	case AlreadyBound:
		return "AlreadyBound"
	case Reject:
		return "Reject"
	}
	return fmt.Sprintf("Admission(%d)", int(a))
}

// Admit decides what to do with a launched task whose pod reference is uid,
// given the pod as read from the API server (nil when it does not exist) and
// this node's name. The Report is only meaningful for Reject.
func Admit(uid types.UID, pod *corev1.Pod, node string) (Admission, Report) {
	switch {
	case pod == nil:
		return Reject, Report{State: mesos.TASK_DROPPED, Message: MessagePodGone}
	case pod.UID != uid:
		return Reject, Report{State: mesos.TASK_DROPPED, Message: MessagePodReplaced}
	case pod.DeletionTimestamp != nil:
		return Reject, Report{State: mesos.TASK_DROPPED, Message: "pod is being deleted"}
	case pod.Spec.NodeName == node:
		return AlreadyBound, Report{}
	case pod.Spec.NodeName != "":
		return Reject, Report{State: mesos.TASK_FAILED,
			Message: fmt.Sprintf("pod is already bound to node %q, not %q", pod.Spec.NodeName, node)}
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return Reject, Report{State: mesos.TASK_FAILED,
			Message: fmt.Sprintf("pod has already terminated (phase %s)", pod.Status.Phase)}
	}
	return Bind, Report{}
}

// Report is one task status to send: a state, a human-readable message and,
// for running pods, the pod's IPs.
type Report struct {
	State   mesos.TaskState
	Message string
	PodIPs  []string
}

// Terminal reports whether no further status follows this one.
func (r Report) Terminal() bool { return podtask.IsTerminal(r.State) }

func (r Report) equal(o Report) bool {
	if r.State != o.State || r.Message != o.Message || len(r.PodIPs) != len(o.PodIPs) {
		return false
	}
	for i := range r.PodIPs {
		if r.PodIPs[i] != o.PodIPs[i] {
			return false
		}
	}
	return true
}

// Task is the executor's view of one pod task. The zero value is not usable;
// use NewTask. A Task is not safe for concurrent use.
type Task struct {
	UID types.UID
	// KillingCapable: the framework understands TASK_KILLING.
	KillingCapable bool

	bound    bool
	killed   bool
	last     Report
	reported bool
}

// NewTask returns the state of a freshly launched task for the pod with uid.
func NewTask(uid types.UID, killingCapable bool) *Task {
	return &Task{UID: uid, KillingCapable: killingCapable}
}

// Bound records that the pod is bound to this node (by this executor or before).
func (t *Task) Bound() { t.bound = true }

// IsBound reports whether Bound was called.
func (t *Task) IsBound() bool { return t.bound }

// Killed records that Mesos asked to kill the task.
func (t *Task) Killed() { t.killed = true }

// KillRequested reports whether Killed was called.
func (t *Task) KillRequested() bool { return t.killed }

// Done reports whether a terminal state has been reported.
func (t *Task) Done() bool { return t.reported && t.last.Terminal() }

// End records a terminal report that no pod observation gives (the node
// could not start, the task is rejected), so that nothing is reported after
// it. It returns false, changing nothing, when a terminal state was already
// reported or r is not terminal.
func (t *Task) End(r Report) bool {
	if t.Done() || !r.Terminal() {
		return false
	}
	t.last, t.reported = r, true
	return true
}

// Last is the last report Observe returned as changed.
func (t *Task) Last() (Report, bool) { return t.last, t.reported }

// Observe feeds the pod as it is now (nil when it does not exist) and returns
// the report it implies and whether that report differs from the last one
// (and so should be sent). After a terminal report nothing changes any more.
func (t *Task) Observe(pod *corev1.Pod) (Report, bool) {
	if t.Done() {
		return t.last, false
	}
	r, ok := t.decide(pod)
	if !ok || (t.reported && r.equal(t.last)) {
		return t.last, false
	}
	t.last, t.reported = r, true
	return r, true
}

// decide maps the observation to a report; ok is false when there is nothing
// to report yet (not bound, or a pod phase that says nothing new).
func (t *Task) decide(pod *corev1.Pod) (Report, bool) {
	if pod == nil || pod.UID != t.UID {
		msg := MessagePodGone
		if pod != nil {
			msg = MessagePodReplaced
		}
		switch {
		case !t.bound && t.killed:
			return Report{State: mesos.TASK_KILLED, Message: MessageKilledBeforeBind}, true
		case !t.bound:
			return Report{State: mesos.TASK_DROPPED, Message: msg}, true
		case t.killed:
			return Report{State: mesos.TASK_KILLED, Message: MessagePodDeleted}, true
		}
		return Report{State: mesos.TASK_KILLED, Message: msg}, true
	}
	if !t.bound {
		if t.killed {
			return Report{State: mesos.TASK_KILLED, Message: MessageKilledBeforeBind}, true
		}
		return Report{}, false
	}
	// A pod being deleted (or killed) ends as TASK_KILLED once it is gone,
	// whatever phase its containers' termination gives it meanwhile (a
	// container killed by SIGKILL leaves the pod Failed).
	if pod.DeletionTimestamp != nil || t.killed {
		if pod.DeletionTimestamp != nil && t.KillingCapable {
			return Report{State: mesos.TASK_KILLING, Message: "pod is being deleted", PodIPs: podIPs(pod)}, true
		}
		// Without TASK_KILLING the task keeps its last state until the pod is gone.
		return Report{}, false
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return Report{State: mesos.TASK_FINISHED, Message: phaseMessage(pod, "pod succeeded"), PodIPs: podIPs(pod)}, true
	case corev1.PodFailed:
		return Report{State: mesos.TASK_FAILED, Message: phaseMessage(pod, "pod failed"), PodIPs: podIPs(pod)}, true
	}
	switch pod.Status.Phase {
	case corev1.PodRunning:
		return Report{State: mesos.TASK_RUNNING, Message: runningMessage(pod), PodIPs: podIPs(pod)}, true
	case corev1.PodPending, "":
		return Report{State: mesos.TASK_STARTING, Message: startingMessage(pod), PodIPs: podIPs(pod)}, true
	}
	// PodUnknown or a phase this code does not know: keep the last state.
	return Report{}, false
}

func podIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		if ip.IP != "" {
			ips = append(ips, ip.IP)
		}
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	return ips
}

func phaseMessage(pod *corev1.Pod, def string) string {
	parts := []string{def}
	if pod.Status.Reason != "" {
		parts = append(parts, pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		parts = append(parts, pod.Status.Message)
	}
	if t := terminatedReasons(pod); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, ": ")
}

func runningMessage(pod *corev1.Pod) string {
	msg := "pod running"
	if ips := podIPs(pod); len(ips) > 0 {
		msg += " at " + strings.Join(ips, ",")
	}
	if w := waitingReasons(pod); w != "" {
		msg += "; " + w
	}
	return msg
}

func startingMessage(pod *corev1.Pod) string {
	msg := "pod bound to " + pod.Spec.NodeName
	if w := waitingReasons(pod); w != "" {
		msg += "; " + w
	}
	return msg
}

// waitingReasons lists containers that wait for a reason other than the
// ordinary ContainerCreating/PodInitializing, e.g. "app: ImagePullBackOff (...)".
func waitingReasons(pod *corev1.Pod) string {
	var out []string
	add := func(statuses []corev1.ContainerStatus) {
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil || w.Reason == "" || w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
				continue
			}
			s := cs.Name + ": " + w.Reason
			if w.Message != "" {
				s += " (" + w.Message + ")"
			}
			out = append(out, s)
		}
	}
	add(pod.Status.InitContainerStatuses)
	add(pod.Status.ContainerStatuses)
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func terminatedReasons(pod *corev1.Pod) string {
	var out []string
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			s := fmt.Sprintf("%s exited %d", cs.Name, t.ExitCode)
			if t.Reason != "" {
				s += " (" + t.Reason + ")"
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
