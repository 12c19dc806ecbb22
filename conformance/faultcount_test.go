package conformance

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/conformance/report"
)

// How fault scenarios count. Every launch of a pod is a Mesos task with its
// own ID, which names the pod's UID (podtask.TaskID), so:
//   - a pod run twice is one the master knows more than one task of
//     (running and completed, on any agent), or a pod the API has replaced
//     (deleted, Failed) whose task still runs once the workload recovered;
//   - a pod lost is a replica the workload wants that is not Running and
//     Ready with a TASK_RUNNING task when the recovery deadline passes.

// taskRecords are the kubemesos framework's pod tasks by pod UID, every
// record the master has (completed first, then running and unreachable).
func taskRecords(t *testing.T) map[types.UID][]bridge.StateTask {
	t.Helper()
	st, err := bridge.FetchMasterState(t.Context(), cluster.mesosMaster)
	if err != nil {
		t.Fatalf("mesos state: %v", err)
	}
	if fw, ok := st.Framework("kubemesos"); ok {
		return fw.PodTasks()
	}
	return map[types.UID][]bridge.StateTask{}
}

// readyPods are the pods in ns matching selector that are Running, Ready
// and not being deleted, and a line describing all of them.
func readyPods(t *testing.T, ns, selector string) ([]corev1.Pod, string) {
	t.Helper()
	list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err.Error()
	}
	var out []corev1.Pod
	var states []string
	for _, p := range list.Items {
		states = append(states, fmt.Sprintf("%s:%s:%s", p.Name, p.Status.Phase, p.Spec.NodeName))
		if p.Status.Phase == corev1.PodRunning && podReady(&p) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Strings(states)
	return out, strings.Join(states, " ")
}

// watchedPods remembers every pod a fault scenario saw, by UID.
type watchedPods map[types.UID]corev1.Pod

func (w watchedPods) add(pods ...corev1.Pod) {
	for _, p := range pods {
		w[p.UID] = p
	}
}

// recovery waits up to timeout for want Running, Ready pods of selector
// off node avoid (when set), each with a TASK_RUNNING task, remembering
// every pod it sees in w. It returns how many were missing at the end (0
// when recovered) and when recovery was reached; it does not fail the
// test, so the counts are reported either way.
func recovery(t *testing.T, ns, selector, avoid string, want int, timeout time.Duration, w watchedPods) (missing int, at time.Time, detail string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, states := readyPods(t, ns, selector)
		w.add(ready...)
		// The master may be failing over: a read that fails counts nothing.
		tasks, err := taskStates(t.Context())
		if err != nil {
			states += "; " + err.Error()
		}
		ok := 0
		for _, p := range ready {
			if tasks[p.UID] == "TASK_RUNNING" && (avoid == "" || p.Spec.NodeName != avoid) {
				ok++
			}
		}
		if ok >= want {
			return 0, time.Now(), states
		}
		if time.Now().After(deadline) {
			return want - ok, time.Now(), states
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// runTwice counts the watched pods run twice: launched as more than one
// Mesos task, or replaced in the API (gone, terminal or being deleted)
// while their task still runs. current are the pods the workload has now.
func runTwice(t *testing.T, w watchedPods, current []corev1.Pod) (n int, which []string) {
	t.Helper()
	records := taskRecords(t)
	now := map[types.UID]bool{}
	for _, p := range current {
		now[p.UID] = true
	}
	for uid, p := range w {
		recs := records[uid]
		running := 0
		for _, r := range recs {
			if r.State == "TASK_RUNNING" {
				running++
			}
		}
		switch {
		case len(recs) > 1:
			n++
			which = append(which, fmt.Sprintf("%s launched %d times %v", p.Name, len(recs), recs))
		case !now[uid] && running > 0:
			n++
			which = append(which, fmt.Sprintf("%s replaced but its task still runs", p.Name))
		}
	}
	sort.Strings(which)
	return n, which
}

// recordFault logs f for the report and fails the test when a pod was lost
// or run twice.
func recordFault(t *testing.T, f report.Fault, detail ...string) {
	t.Helper()
	t.Log(f.Line())
	if !f.OK() {
		t.Errorf("%d pods lost, %d pods run twice (want 0 and 0): %s", f.PodsLost, f.PodsRunTwice, strings.Join(detail, "; "))
	}
}

// outcome is what a fault scenario counts once the fault happened.
type outcome struct {
	ns, selector string
	// want replicas Running, Ready and TASK_RUNNING, off avoidNode when set
	// (the node the fault took away).
	want      int
	avoidNode string
	// start is when the fault happened; timeout bounds the recovery.
	start   time.Time
	timeout time.Duration
	watched watchedPods
	// afterRecovery, when set, runs once the workload recovered (or gave
	// up), before the run-twice count: to heal a partition, so pods the
	// partition hid are counted too.
	afterRecovery func()
	// originals must survive the fault: each one not among the ready pods
	// at the end counts as lost.
	originals []corev1.Pod
}

// faultOutcome waits for o's workload to recover and records the fault's
// counts, recovery measured from o.start. It returns the pods running at
// the end.
func faultOutcome(t *testing.T, o outcome) []corev1.Pod {
	t.Helper()
	if o.watched == nil {
		o.watched = watchedPods{}
	}
	missing, at, states := recovery(t, o.ns, o.selector, o.avoidNode, o.want, o.timeout, o.watched)
	if o.afterRecovery != nil {
		o.afterRecovery()
	}
	current, _ := readyPods(t, o.ns, o.selector)
	have := map[types.UID]bool{}
	for _, p := range current {
		have[p.UID] = true
	}
	var detail []string
	gone := 0
	for _, p := range o.originals {
		if !have[p.UID] {
			gone++
			detail = append(detail, p.Name+" did not survive")
		}
	}
	// Give a replaced pod's task the time a kill takes before calling it run twice.
	var twice int
	var which []string
	for end := time.Now().Add(time.Minute); ; {
		twice, which = runTwice(t, o.watched, current)
		if twice == 0 || time.Now().After(end) {
			break
		}
		time.Sleep(time.Second)
	}
	detail = append(append(detail, which...), "pods: "+states)
	recordFault(t, report.Fault{PodsLost: max(missing, gone), PodsRunTwice: twice, Recovery: at.Sub(o.start)}, detail...)
	return current
}
