package master_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// defaultExecutor is an executor of type DEFAULT (no command), as
// frameworks give it for LAUNCH_GROUP.
func defaultExecutor(id string, o mesos.Offer) mesos.ExecutorInfo {
	rs := mustResources("cpus:0.1;mem:32")
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
	}
	return mesos.ExecutorInfo{
		ExecutorID:  mesos.ExecutorID{Value: id},
		FrameworkID: &mesos.FrameworkID{Value: o.FrameworkID.Value},
		Type:        mesos.ExecutorInfo_DEFAULT,
		Resources:   rs,
	}
}

// groupTask is a task of a group that runs shell command cmd.
func groupTask(id string, o mesos.Offer, cmd string) mesos.TaskInfo {
	ti := taskInfo(id, o, nil, "cpus:0.2;mem:64", "")
	ti.Command = &mesos.CommandInfo{Value: ptr(cmd), Shell: ptr(true)}
	return ti
}

// eventLog reads a scheduler's events, keeping those a caller skipped
// for later callers (an OFFERS arriving while updates are awaited).
type eventLog struct {
	*sched
	backlog []*scheduler.Event
}

func (l *eventLog) next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	l.t.Helper()
	for i, e := range l.backlog {
		if e.Type == typ {
			l.backlog = append(l.backlog[:i], l.backlog[i+1:]...)
			return e
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-l.events:
			if !ok {
				l.t.Fatalf("event stream closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
			l.backlog = append(l.backlog, e)
		case <-deadline:
			l.t.Fatalf("no %s event within %s", typ, timeout)
		}
	}
}

// none asserts that no event of type typ is or arrives within d.
func (l *eventLog) none(typ scheduler.Event_Type, d time.Duration) {
	l.t.Helper()
	for _, e := range l.backlog {
		if e.Type == typ {
			l.t.Fatalf("unexpected %s event: %v", typ, e)
		}
	}
	l.sched.none(typ, d)
}

// updatesUntil collects the UPDATEs of the given tasks (acknowledging them)
// until every task reached a terminal state or one in stopAt; it returns
// the states seen per task and the executor IDs the updates named.
func (s *eventLog) updatesUntil(timeout time.Duration, stopAt map[mesos.TaskState]bool, ids ...string) (map[string][]mesos.TaskState, map[string]string) {
	s.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	seen := map[string][]mesos.TaskState{}
	execs := map[string]string{}
	done := func() bool {
		for id := range want {
			states := seen[id]
			if len(states) == 0 {
				return false
			}
			last := states[len(states)-1]
			if !taskEnded(last) && !stopAt[last] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(timeout)
	for !done() {
		e := s.next(scheduler.Event_UPDATE, time.Until(deadline))
		st := e.Update.Status
		if len(st.UUID) > 0 {
			s.mustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		if !want[st.TaskID.Value] {
			continue
		}
		seen[st.TaskID.Value] = append(seen[st.TaskID.Value], st.GetState())
		execs[st.TaskID.Value] = st.GetExecutorID().GetValue()
		if st.GetState() == mesos.TASK_ERROR {
			s.t.Logf("task %s: TASK_ERROR %s: %s", st.TaskID.Value, st.GetReason(), st.GetMessage())
		}
	}
	return seen, execs
}

func taskEnded(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func statesEqual(got []mesos.TaskState, want ...mesos.TaskState) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// getTasks returns the operator API's GET_TASKS tasks by ID.
func getTasks(t *testing.T, c *cluster) map[string]mesos.Task {
	t.Helper()
	resp := operatorProto(t, c, opv1.Call_GET_TASKS)
	out := map[string]mesos.Task{}
	gt := resp.GetGetTasks()
	for _, list := range [][]mesos.Task{gt.GetTasks(), gt.GetCompletedTasks()} {
		for _, task := range list {
			out[task.TaskID.Value] = task
		}
	}
	return out
}

func TestLaunchGroupRunsCommandTasksInTheDefaultExecutor(t *testing.T) {
	c := startCluster(t)
	defer c.stop()
	s := &eventLog{sched: subscribe(t, c, frameworkInfo("group"))}
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]

	ei := defaultExecutor("group-exec", o)
	t1 := groupTask("g1", o, `echo "hello from $MESOS_EXECUTOR_ID"; sleep 1`)
	t2 := groupTask("g2", o, "sleep 1")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(ei, t1, t2)}.WithOffers(o.ID)))

	seen, execs := s.updatesUntil(10*time.Second, map[mesos.TaskState]bool{mesos.TASK_RUNNING: true}, "g1", "g2")
	for _, id := range []string{"g1", "g2"} {
		if !statesEqual(seen[id], mesos.TASK_STARTING, mesos.TASK_RUNNING) {
			t.Fatalf("task %s: states %v, want STARTING, RUNNING", id, seen[id])
		}
		if execs[id] != "group-exec" {
			t.Errorf("task %s: update names executor %q, want group-exec", id, execs[id])
		}
		task := c.taskState(t, s.fwID, id)
		if task == nil || task["state"] != "TASK_RUNNING" || task["executor_id"] != "group-exec" {
			t.Errorf("/master/state task %s = %v, want TASK_RUNNING on group-exec", id, task)
		}
	}
	tasks := getTasks(t, c)
	for _, id := range []string{"g1", "g2"} {
		if task, ok := tasks[id]; !ok || task.GetState() != mesos.TASK_RUNNING || task.GetExecutorID().GetValue() != "group-exec" {
			t.Errorf("GET_TASKS %s = %v, want TASK_RUNNING on group-exec", id, task)
		}
	}

	seen, _ = s.updatesUntil(10*time.Second, nil, "g1", "g2")
	for _, id := range []string{"g1", "g2"} {
		if !statesEqual(seen[id], mesos.TASK_FINISHED) {
			t.Fatalf("task %s: then %v, want FINISHED", id, seen[id])
		}
	}
	// The executor exits once its tasks are done; the scheduler hears it.
	f := s.next(scheduler.Event_FAILURE, 5*time.Second).Failure
	if f.GetExecutorID().GetValue() != "group-exec" || f.Status == nil || *f.Status != 0 {
		t.Errorf("FAILURE = %v, want executor group-exec with status 0", f)
	}
	// Each task ran in its own directory of the executor's sandbox.
	matches, _ := filepath.Glob(filepath.Join(c.workDir, "slaves", "*", "frameworks", s.fwID, "executors", "group-exec", "runs", "latest", "tasks", "g1", "stdout"))
	if len(matches) != 1 {
		t.Fatalf("no sandbox stdout for task g1 under %s", c.workDir)
	}
	if out, _ := os.ReadFile(matches[0]); !strings.Contains(string(out), "hello from group-exec") {
		t.Errorf("g1 stdout = %q", out)
	}
}

func TestLaunchGroupKillOneTaskKillsTheGroup(t *testing.T) {
	c := startCluster(t)
	defer c.stop()
	info := frameworkInfo("group-kill")
	info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE})
	s := &eventLog{sched: subscribe(t, c, info)}
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ei := defaultExecutor("kill-exec", o)
	a1 := groupTask("a1", o, "sleep 60")
	a2 := groupTask("a2", o, "sleep 60")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(ei, a1, a2)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	running := map[mesos.TaskState]bool{mesos.TASK_RUNNING: true}
	s.updatesUntil(10*time.Second, running, "a1", "a2")

	// A second group for the running executor runs in it: its resources
	// do not count the executor a second time.
	o = s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	b1 := groupTask("b1", o, "sleep 60")
	b1.Resources[0].Scalar.Value = scalar(o.Resources, "cpus") // all that is left
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(defaultExecutor("kill-exec", o), b1)}.WithOffers(o.ID)))
	if seen, execs := s.updatesUntil(10*time.Second, running, "b1"); !statesEqual(seen["b1"], mesos.TASK_STARTING, mesos.TASK_RUNNING) || execs["b1"] != "kill-exec" {
		t.Fatalf("second group: %v on %v, want STARTING, RUNNING on kill-exec", seen, execs)
	}

	s.mustCall(calls.Kill("a1", o.AgentID.Value))
	seen, _ := s.updatesUntil(10*time.Second, nil, "a1", "a2")
	for _, id := range []string{"a1", "a2"} {
		if !statesEqual(seen[id], mesos.TASK_KILLING, mesos.TASK_KILLED) {
			t.Errorf("task %s after KILL of a1: %v, want KILLING, KILLED", id, seen[id])
		}
	}
	// The other group is untouched and the executor keeps running.
	s.none(scheduler.Event_FAILURE, 300*time.Millisecond)
	if task := c.taskState(t, s.fwID, "b1"); task == nil || task["state"] != "TASK_RUNNING" {
		t.Fatalf("b1 = %v, want TASK_RUNNING", task)
	}
	s.mustCall(calls.Kill("b1", o.AgentID.Value))
	if seen, _ := s.updatesUntil(10*time.Second, nil, "b1"); !statesEqual(seen["b1"], mesos.TASK_KILLING, mesos.TASK_KILLED) {
		t.Errorf("b1: %v, want KILLING, KILLED", seen["b1"])
	}
	if f := s.next(scheduler.Event_FAILURE, 5*time.Second).Failure; f.GetExecutorID().GetValue() != "kill-exec" {
		t.Errorf("FAILURE = %v, want executor kill-exec", f)
	}
}

func TestLaunchGroupFailedTaskKillsItsSiblings(t *testing.T) {
	c := startCluster(t)
	defer c.stop()
	s := &eventLog{sched: subscribe(t, c, frameworkInfo("group-fail"))}
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	bad := groupTask("bad", o, "sleep 0.3; exit 3")
	good := groupTask("good", o, "sleep 60")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(defaultExecutor("fail-exec", o), bad, good)}.WithOffers(o.ID)))
	seen, _ := s.updatesUntil(10*time.Second, nil, "bad", "good")
	if !statesEqual(seen["bad"], mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FAILED) {
		t.Errorf("bad: %v, want STARTING, RUNNING, FAILED", seen["bad"])
	}
	if !statesEqual(seen["good"], mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLED) {
		t.Errorf("good: %v, want STARTING, RUNNING, KILLED", seen["good"])
	}
}

func TestLaunchGroupInvalidGroupsChangeNothing(t *testing.T) {
	c := startCluster(t)
	defer c.stop()
	s := &eventLog{sched: subscribe(t, c, frameworkInfo("group-bad"))}
	cases := []struct {
		name  string
		group func(o mesos.Offer) (mesos.ExecutorInfo, []mesos.TaskInfo)
		msg   string
	}{
		{"task with executor info", func(o mesos.Offer) (mesos.ExecutorInfo, []mesos.TaskInfo) {
			t2 := groupTask("x2", o, "true")
			ei := defaultExecutor("bad-exec", o)
			t2.Executor = &ei
			return ei, []mesos.TaskInfo{groupTask("x1", o, "true"), t2}
		}, "'TaskInfo.executor' must not be set"},
		{"resources over the offer", func(o mesos.Offer) (mesos.ExecutorInfo, []mesos.TaskInfo) {
			big := groupTask("x2", o, "true")
			big.Resources = mustResources("cpus:1.75;mem:64")
			for i := range big.Resources {
				big.Resources[i].AllocationInfo = o.AllocationInfo
			}
			// 0.2 + 1.75 cpus fit in 2, but not with the executor's 0.1.
			return defaultExecutor("bad-exec", o), []mesos.TaskInfo{groupTask("x1", o, "true"), big}
		}, "more than available"},
		{"custom executor", func(o mesos.Offer) (mesos.ExecutorInfo, []mesos.TaskInfo) {
			ei := defaultExecutor("bad-exec", o)
			ei.Type = mesos.ExecutorInfo_CUSTOM
			ei.Command = &mesos.CommandInfo{Value: ptr("true"), Shell: ptr(true)}
			return ei, []mesos.TaskInfo{groupTask("x1", o, "true"), groupTask("x2", o, "true")}
		}, "must be 'DEFAULT'"},
		{"duplicate task IDs", func(o mesos.Offer) (mesos.ExecutorInfo, []mesos.TaskInfo) {
			return defaultExecutor("bad-exec", o), []mesos.TaskInfo{groupTask("x1", o, "true"), groupTask("x1", o, "true")}
		}, "duplicate"},
	}
	for _, tc := range cases {
		o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
		ei, tasks := tc.group(o)
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(ei, tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
		for range tasks {
			st := s.next(scheduler.Event_UPDATE, 5*time.Second).Update.Status
			if st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_GROUP_INVALID || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 {
				t.Errorf("%s: update %s %s %s %s, want TASK_ERROR REASON_TASK_GROUP_INVALID from the master", tc.name, st.TaskID.Value, st.GetState(), st.GetReason(), st.GetSource())
			}
			if !strings.Contains(st.GetMessage(), tc.msg) {
				t.Errorf("%s: message %q, want it to mention %q", tc.name, st.GetMessage(), tc.msg)
			}
		}
		// Nothing was launched: no task, no executor, and the whole agent
		// is offered again.
		if n := len(getTasks(t, c)); n != 0 {
			t.Errorf("%s: GET_TASKS lists %d tasks, want none", tc.name, n)
		}
		if execs := operatorProto(t, c, opv1.Call_GET_EXECUTORS).GetGetExecutors().GetExecutors(); len(execs) != 0 {
			t.Errorf("%s: GET_EXECUTORS lists %v, want none", tc.name, execs)
		}
		next := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
		if got := scalar(next.Resources, "cpus"); got != 2 {
			t.Errorf("%s: next offer has %v cpus, want all 2", tc.name, got)
		}
		s.mustCall(calls.Decline(next.ID).With(calls.RefuseSeconds(0)))
	}
}
