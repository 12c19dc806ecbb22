package bridge

import (
	"context"
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// leaderStore starts a real etcd, wins its election and returns the store
// fenced by that leadership and the session (to end it).
func leaderStore(t *testing.T) (*EtcdStore, *concurrency.Session, *clientv3.Client) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{mesostest.StartEtcd(t)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	store := NewEtcdStore(cli, "")
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	el := concurrency.NewElection(session, store.ElectionPrefix())
	if err := el.Campaign(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	return store.Fenced(el.Key(), el.Rev()), session, cli
}

// withStore gives the loop test's scheduler store (as NewScheduler would)
// and recovers its intents, as Run does before subscribing.
func (l *loopTest) withStore(t *testing.T, store *EtcdStore) {
	t.Helper()
	l.s.store, l.s.intentStore = store, store
	if err := l.s.recoverIntents(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (l *loopTest) subscribed(t *testing.T) {
	t.Helper()
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-1"}}}); err != nil {
		t.Fatal(err)
	}
}

func reconciledTasks(cs []*scheduler.Call) []string {
	var out []string
	for _, c := range cs {
		for _, rt := range c.GetReconcile().GetTasks() {
			out = append(out, rt.TaskID.Value+"@"+rt.GetAgentID().GetValue())
		}
	}
	return out
}

func masterStatus(taskID string, state mesos.TaskState) mesos.TaskStatus {
	return mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: "a1"},
		State: state.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(),
	}
}

// TestTakeoverReconcilesIntentsBeforeLaunching: a new leader finds the
// intent of a pod the dead leader launched, whose pod still looks pending
// (its executor has not bound it yet). It asks the master about the task
// explicitly on SUBSCRIBED, does not launch that pod while Mesos reports
// the task live, launches other pods only after writing their intents, and
// launches the pod again only once Mesos says its task is gone.
func TestTakeoverReconcilesIntentsBeforeLaunching(t *testing.T) {
	store, _, _ := leaderStore(t)
	ctx := t.Context()
	old, fresh := testPod("launched-by-dead-leader"), testPod("new")
	in := LaunchIntent{Pod: podtask.RefOf(old), TaskID: earlierTask(old.UID), AgentID: "a1", Hostname: "a1", OfferID: "o-old", Written: time.Now()}
	if err := store.ApplyIntents(ctx, []LaunchIntent{in}, nil); err != nil {
		t.Fatal(err)
	}

	l := newLoopTest(t, old, fresh)
	l.s.subscribed = false
	l.withStore(t, store)
	l.subscribed(t)
	if got, want := reconciledTasks(l.master.take(scheduler.Call_RECONCILE)), in.TaskID+"@a1"; len(got) != 1 || got[0] != want {
		t.Fatalf("explicit reconciliation on SUBSCRIBED: %v, want [%s]", got, want)
	}
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 || podOf(got[0]) != fresh.UID {
		t.Fatalf("launched %v, want only the pod without an intent", got)
	}
	ins, err := store.Intents(ctx)
	if err != nil || len(ins) != 2 {
		t.Fatalf("intents after the launch: %+v, %v; want both pods'", ins, err)
	}

	// Mesos reports the dead leader's task live: it is kept, never relaunched.
	l.update(t, masterStatus(in.TaskID, mesos.TASK_STAGING))
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("a pod whose task Mesos reports live was launched again: %v", got)
	}
	if got, ok := l.s.intents.Get(old.UID); !ok || !got.Confirmed {
		t.Fatalf("intent of the live task: %+v, %v; want it confirmed", got, ok)
	}

	// The task ended before its pod was bound (the master lost it): its
	// intent goes and the pod is launched again, under a new task ID, with
	// a new intent; the old record is gone from the store.
	l.update(t, masterStatus(in.TaskID, mesos.TASK_GONE))
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 || podOf(got[0]) != old.UID || got[0] == in.TaskID {
		t.Fatalf("launched %v after the task was gone, want a new task of %s", got, old.UID)
	}
	got, ok := l.s.intents.Get(old.UID)
	if !ok || got.Confirmed || got.OfferID == "o-old" || got.TaskID == in.TaskID {
		t.Fatalf("intent after the relaunch: %+v, %v; want a new unconfirmed one", got, ok)
	}
	stored, err := store.Intents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stored {
		if s.TaskID == in.TaskID {
			t.Fatalf("the ended launch's intent is still stored: %+v", stored)
		}
	}
}

// TestDeposedLeaderSendsNoAccept: once the leadership is gone, the intent
// write fails and the ACCEPT is never sent; the cycle reports ErrDeposed,
// which ends Run.
func TestDeposedLeaderSendsNoAccept(t *testing.T) {
	store, session, cli := leaderStore(t)
	p := testPod("web")
	l := newLoopTest(t, p)
	l.withStore(t, store)
	session.Orphan()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := cli.Revoke(ctx, session.Lease()); err != nil {
		t.Fatal(err)
	}
	l.offer(t)
	err := l.s.cycle(t.Context())
	if !errors.Is(err, ErrDeposed) {
		t.Fatalf("cycle of a deposed leader: %v, want ErrDeposed", err)
	}
	if got := l.master.take(scheduler.Call_ACCEPT); len(got) != 0 {
		t.Fatalf("a deposed leader sent %d ACCEPTs", len(got))
	}
	if _, ok := l.s.tasks.Get(p.UID); ok {
		t.Fatal("the pod of a refused intent stays in the registry")
	}
}

// TestAnswerAboutEarlierLaunchIgnored: the bridge asked twice about a task
// whose launch it could not confirm; the first answer says the task is gone
// and the pod is launched again, under a new task ID. The second answer,
// about the earlier launch (its ID), must not make the bridge forget the
// new one (and launch the pod a third time while the second runs).
func TestAnswerAboutEarlierLaunchIgnored(t *testing.T) {
	store, _, _ := leaderStore(t)
	p := testPod("web")
	l := newLoopTest(t, p)
	l.withStore(t, store)
	l.offer(t)
	l.master.fail[scheduler.Call_ACCEPT] = errors.New("timeout awaiting response headers")
	l.cycle(t) // ACCEPT fails: the task is unconfirmed and asked about
	l.master.fail = map[scheduler.Call_Type]error{}
	later := time.Now().Add(reconcileRetry)
	l.s.now = func() time.Time { return later }
	l.cycle(t) // no answer yet: asked again
	if got := reconciledTasks(l.master.take(scheduler.Call_RECONCILE)); len(got) != 2 {
		t.Fatalf("reconciled %v, want the unconfirmed task twice", got)
	}
	first := l.taskOf(p.UID)

	l.update(t, masterStatus(first, mesos.TASK_GONE)) // answer to the first question
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 || got[0] == first || podOf(got[0]) != p.UID {
		t.Fatalf("pod not launched again under a new task ID once its task was gone: %v (first %s)", got, first)
	}
	l.update(t, masterStatus(first, mesos.TASK_GONE)) // answer to the second, about the first launch
	if _, ok := l.s.tasks.Get(p.UID); !ok {
		t.Fatal("a stale reconciliation answer made the bridge forget the new launch")
	}
	l.offer(t)
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("pod launched a third time: %v", got)
	}
	if _, ok := l.s.intents.Get(p.UID); !ok {
		t.Fatal("the new launch's intent was removed")
	}
	// News of the new launch itself applies.
	l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: l.taskOf(p.UID)}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum()})
	if got, _ := l.s.tasks.Get(p.UID); got.State != mesos.TASK_RUNNING {
		t.Fatalf("task state %v, want TASK_RUNNING", got.State)
	}
}
