package taskstate

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const uid = types.UID("u-1")

type podBuilder struct{ p *corev1.Pod }

func makePod() podBuilder {
	return podBuilder{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: uid},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}}
}
func (b podBuilder) uid(u types.UID) podBuilder         { b.p.UID = u; return b }
func (b podBuilder) node(n string) podBuilder           { b.p.Spec.NodeName = n; return b }
func (b podBuilder) phase(p corev1.PodPhase) podBuilder { b.p.Status.Phase = p; return b }
func (b podBuilder) ip(ip string) podBuilder {
	b.p.Status.PodIP = ip
	b.p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return b
}
func (b podBuilder) deleting() podBuilder {
	now := metav1.Now()
	b.p.DeletionTimestamp = &now
	return b
}
func (b podBuilder) waiting(container, reason, msg string) podBuilder {
	b.p.Status.ContainerStatuses = append(b.p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}})
	return b
}
func (b podBuilder) exited(container string, code int32, reason string) podBuilder {
	b.p.Status.ContainerStatuses = append(b.p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}})
	return b
}
func (b podBuilder) obj() *corev1.Pod { return b.p }

func TestAdmit(t *testing.T) {
	tests := []struct {
		name      string
		pod       *corev1.Pod
		want      Admission
		wantState mesos.TaskState
		wantMsg   string
	}{
		{"pending unbound pod is bound", makePod().obj(), Bind, 0, ""},
		{"pod already on this node", makePod().node("n1").obj(), AlreadyBound, 0, ""},
		{"pod gone", nil, Reject, mesos.TASK_DROPPED, MessagePodGone},
		{"pod replaced", makePod().uid("other").obj(), Reject, mesos.TASK_DROPPED, MessagePodReplaced},
		{"pod being deleted", makePod().deleting().obj(), Reject, mesos.TASK_DROPPED, "being deleted"},
		{"pod on another node", makePod().node("n2").obj(), Reject, mesos.TASK_FAILED, `bound to node "n2"`},
		{"pod already failed", makePod().phase(corev1.PodFailed).obj(), Reject, mesos.TASK_FAILED, "already terminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, r := Admit(uid, tc.pod, "n1")
			if got != tc.want {
				t.Fatalf("Admit = %v, want %v", got, tc.want)
			}
			if got != Reject {
				return
			}
			if r.State != tc.wantState || !strings.Contains(r.Message, tc.wantMsg) {
				t.Errorf("report = %v %q, want %v containing %q", r.State, r.Message, tc.wantState, tc.wantMsg)
			}
			if !r.Terminal() {
				t.Errorf("a rejection must be terminal, got %v", r.State)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	type step struct {
		bound, kill bool // applied before the observation
		pod         *corev1.Pod
		changed     bool
		state       mesos.TaskState
		msg         string // substring of the message
		ips         []string
	}
	tests := []struct {
		name    string
		killing bool // framework has TASK_KILLING_STATE
		steps   []step
	}{
		{name: "unbound pod says nothing", steps: []step{
			{pod: makePod().obj(), changed: false},
		}},
		{name: "bound pending → STARTING → RUNNING with IP → FINISHED", steps: []step{
			{bound: true, pod: makePod().node("n1").obj(), changed: true, state: mesos.TASK_STARTING, msg: "bound to n1"},
			{pod: makePod().node("n1").obj(), changed: false},
			{pod: makePod().node("n1").phase(corev1.PodRunning).ip("10.1.0.5").obj(), changed: true,
				state: mesos.TASK_RUNNING, msg: "10.1.0.5", ips: []string{"10.1.0.5"}},
			{pod: makePod().node("n1").phase(corev1.PodSucceeded).ip("10.1.0.5").obj(), changed: true,
				state: mesos.TASK_FINISHED},
			{pod: nil, changed: false}, // nothing after a terminal state
		}},
		{name: "image pull errors appear in STARTING and RUNNING messages", steps: []step{
			{bound: true, pod: makePod().node("n1").waiting("app", "ContainerCreating", "").obj(), changed: true,
				state: mesos.TASK_STARTING},
			{pod: makePod().node("n1").waiting("app", "ErrImagePull", "not found").obj(), changed: true,
				state: mesos.TASK_STARTING, msg: "app: ErrImagePull (not found)"},
			{pod: makePod().node("n1").phase(corev1.PodRunning).waiting("side", "ImagePullBackOff", "").obj(),
				changed: true, state: mesos.TASK_RUNNING, msg: "side: ImagePullBackOff"},
		}},
		{name: "failed pod carries the exit code", steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodFailed).exited("app", 3, "Error").obj(),
				changed: true, state: mesos.TASK_FAILED, msg: "app exited 3 (Error)"},
		}},
		{name: "KILL with TASK_KILLING_STATE: KILLING then KILLED when gone", killing: true, steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{kill: true, pod: makePod().node("n1").phase(corev1.PodRunning).deleting().obj(), changed: true,
				state: mesos.TASK_KILLING},
			{pod: nil, changed: true, state: mesos.TASK_KILLED, msg: MessagePodDeleted},
		}},
		{name: "KILL without TASK_KILLING_STATE: stays RUNNING until gone", steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{kill: true, pod: makePod().node("n1").phase(corev1.PodRunning).deleting().obj(), changed: false},
			{pod: nil, changed: true, state: mesos.TASK_KILLED},
		}},
		{name: "a killed pod that turns Failed while terminating ends KILLED, not FAILED", killing: true, steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{kill: true, pod: makePod().node("n1").phase(corev1.PodRunning).deleting().obj(), changed: true,
				state: mesos.TASK_KILLING},
			{pod: makePod().node("n1").phase(corev1.PodFailed).exited("app", 137, "Error").deleting().obj(), changed: false},
			{pod: nil, changed: true, state: mesos.TASK_KILLED},
		}},
		{name: "KILL before the delete lands ignores a Failed phase", steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{kill: true, pod: makePod().node("n1").phase(corev1.PodFailed).obj(), changed: false},
			{pod: nil, changed: true, state: mesos.TASK_KILLED},
		}},
		{name: "deleted in Kubernetes without KILL is KILLED", steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{pod: nil, changed: true, state: mesos.TASK_KILLED, msg: MessagePodGone},
		}},
		{name: "replaced after binding is KILLED", steps: []step{
			{bound: true, pod: makePod().uid("new").node("n1").obj(), changed: true, state: mesos.TASK_KILLED,
				msg: MessagePodReplaced},
		}},
		{name: "gone before binding is DROPPED", steps: []step{
			{pod: nil, changed: true, state: mesos.TASK_DROPPED},
		}},
		{name: "killed before binding is KILLED", steps: []step{
			{kill: true, pod: makePod().obj(), changed: true, state: mesos.TASK_KILLED, msg: MessageKilledBeforeBind},
		}},
		{name: "phase Unknown keeps the last state", steps: []step{
			{bound: true, pod: makePod().node("n1").phase(corev1.PodRunning).obj(), changed: true, state: mesos.TASK_RUNNING},
			{pod: makePod().node("n1").phase(corev1.PodUnknown).obj(), changed: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task := NewTask(uid, tc.killing)
			for i, s := range tc.steps {
				if s.bound {
					task.Bound()
				}
				if s.kill {
					task.Killed()
				}
				r, changed := task.Observe(s.pod)
				if changed != s.changed {
					t.Fatalf("step %d: changed = %v, want %v (report %v %q)", i, changed, s.changed, r.State, r.Message)
				}
				if !changed {
					continue
				}
				if r.State != s.state {
					t.Errorf("step %d: state = %v, want %v", i, r.State, s.state)
				}
				if !strings.Contains(r.Message, s.msg) {
					t.Errorf("step %d: message %q does not contain %q", i, r.Message, s.msg)
				}
				if s.ips != nil && strings.Join(r.PodIPs, ",") != strings.Join(s.ips, ",") {
					t.Errorf("step %d: pod IPs = %v, want %v", i, r.PodIPs, s.ips)
				}
			}
		})
	}
}

// TestEnd: a terminal report made outside Observe ends the task once; no
// observation reports anything after it.
func TestEnd(t *testing.T) {
	task := NewTask("u1", true)
	if task.End(Report{State: mesos.TASK_RUNNING}) {
		t.Fatal("End accepted a non-terminal report")
	}
	failed := Report{State: mesos.TASK_FAILED, Message: "node could not start"}
	if !task.End(failed) || !task.Done() {
		t.Fatal("End of a fresh task did not end it")
	}
	if task.End(Report{State: mesos.TASK_KILLED}) {
		t.Error("a second End was accepted")
	}
	task.Killed()
	if r, changed := task.Observe(nil); changed || r.State != mesos.TASK_FAILED {
		t.Errorf("Observe after End = %v changed=%v, want the TASK_FAILED kept", r.State, changed)
	}
}
