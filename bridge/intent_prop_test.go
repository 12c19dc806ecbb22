package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"pgregory.net/rapid"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// The property test below runs real Schedulers, one per leadership term,
// against a model of etcd (fenced intents) and of a Mesos master, and
// interleaves at random: leader changes (the deposed leader lives on and
// keeps trying), offers, ACCEPTs delivered late or dropped with their
// stream, status updates delivered in any order or lost, tasks ending, pods
// created and deleted. The pod informer is at its worst: no pod ever looks
// bound, so only the registry and the intents keep a pod from being
// launched again.

// modelEtcd is the framework store of every term: one intent map (by task
// ID, as EtcdStore keys them), writes fenced by the term that made them.
type modelEtcd struct {
	intents map[string]LaunchIntent
	epoch   int // the current leadership
	id      string
}

// termStore is the store as one term sees it.
type termStore struct {
	etcd  *modelEtcd
	epoch int
}

func (s *termStore) Load(context.Context) (string, error) { return s.etcd.id, nil }
func (s *termStore) LaunchEpoch() uint64                  { return uint64(s.epoch) }
func (s *termStore) Save(_ context.Context, id string) error {
	if s.epoch != s.etcd.epoch {
		return ErrDeposed
	}
	s.etcd.id = id
	return nil
}
func (s *termStore) Intents(context.Context) ([]LaunchIntent, error) {
	return slices.Collect(maps.Values(s.etcd.intents)), nil
}
func (s *termStore) ApplyIntents(_ context.Context, put []LaunchIntent, remove []string) error {
	if s.epoch != s.etcd.epoch {
		return fmt.Errorf("term %d: %w", s.epoch, ErrDeposed)
	}
	for _, in := range put {
		if _, err := EncodeIntent(in); err != nil {
			return err
		}
		s.etcd.intents[in.TaskID] = in
	}
	for _, id := range remove {
		delete(s.etcd.intents, id)
	}
	return nil
}

// modelMesos is the master: live tasks (by ID), every task ID it ever
// launched, ACCEPTs in flight and the status updates queued on the current
// subscription.
type modelMesos struct {
	t        *rapid.T
	stream   int // the term whose subscription is current
	live     map[string]bool
	used     map[string]bool
	inflight []acceptCall
	statuses []mesos.TaskStatus // on the current stream
	launches map[types.UID]int
}

type acceptCall struct {
	epoch int
	tasks []string
}

// termCaller is the master as a term's Framework calls it.
type termCaller struct {
	m     *modelMesos
	epoch int
}

func (c *termCaller) Call(_ context.Context, call *scheduler.Call) (mesos.Response, error) {
	m := c.m
	switch call.GetType() {
	case scheduler.Call_ACCEPT:
		var ids []string
		for _, op := range call.GetAccept().GetOperations() {
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				ids = append(ids, ti.TaskID.Value)
			}
		}
		m.inflight = append(m.inflight, acceptCall{epoch: c.epoch, tasks: ids})
	case scheduler.Call_RECONCILE:
		if c.epoch != m.stream {
			return nil, errors.New("400: stream ID of another subscription")
		}
		tasks := call.GetReconcile().GetTasks()
		if len(tasks) == 0 { // implicit: every live task
			for _, id := range slices.Sorted(maps.Keys(m.live)) {
				m.queue(id, mesos.TASK_RUNNING)
			}
		}
		for _, rt := range tasks {
			id := rt.TaskID.Value
			if _, ok := podtask.UIDFromTaskID(id); !ok {
				continue
			}
			if m.live[id] {
				m.queue(id, mesos.TASK_RUNNING)
			} else {
				m.queue(id, mesos.TASK_GONE)
			}
		}
	case scheduler.Call_KILL:
		if c.epoch != m.stream {
			return nil, errors.New("400: stream ID of another subscription")
		}
		if id := call.GetKill().TaskID.Value; m.live[id] {
			m.end(id, mesos.TASK_KILLED)
		}
	}
	return nil, nil
}

func (m *modelMesos) queue(taskID string, state mesos.TaskState) {
	m.statuses = append(m.statuses, mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: taskID}, AgentID: &mesos.AgentID{Value: "a1"},
		State: state.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(),
	})
}

// nextStatus draws a task with queued statuses and returns the index of
// its oldest one: the stream keeps the master's order for one task, while
// the updates of different tasks (agents) come in any order. Tasks are
// drawn from a sorted list: the scheduler sends its calls in map order, and
// a draw must pick the same status on a rerun.
func (m *modelMesos) nextStatus(rt *rapid.T, label string) int {
	var ids []string
	for _, st := range m.statuses {
		ids = append(ids, st.TaskID.Value)
	}
	slices.Sort(ids)
	id := rapid.SampledFrom(slices.Compact(ids)).Draw(rt, label)
	return slices.IndexFunc(m.statuses, func(st mesos.TaskStatus) bool { return st.TaskID.Value == id })
}

func (m *modelMesos) end(taskID string, state mesos.TaskState) {
	delete(m.live, taskID)
	m.queue(taskID, state)
}

// liveOf is the live task of a pod ("" if none).
func (m *modelMesos) liveOf(uid types.UID) string {
	for id := range m.live {
		if u, _ := podtask.UIDFromTaskID(id); u == uid {
			return id
		}
	}
	return ""
}

// deliver processes the ACCEPT at i: a call of an earlier subscription is
// refused (Mesos-Stream-Id), one of the current launches its tasks. A
// launch of a pod whose task is live, and a task ID launched twice, are
// the violations.
func (m *modelMesos) deliver(i int) {
	a := m.inflight[i]
	m.inflight = slices.Delete(m.inflight, i, i+1)
	if a.epoch != m.stream {
		return
	}
	for _, id := range a.tasks {
		uid, ok := podtask.UIDFromTaskID(id)
		if !ok {
			continue // a node task: not a pod's
		}
		m.launches[uid]++
		if other := m.liveOf(uid); other != "" {
			m.t.Fatalf("pod %s launched (task %s) while its task %s is live (launch #%d)", uid, id, other, m.launches[uid])
		}
		if m.used[id] {
			m.t.Fatalf("task ID %s launched a second time", id)
		}
		m.live[id], m.used[id] = true, true
		m.queue(id, mesos.TASK_RUNNING)
	}
}

// term is one bridge's leadership: a real Scheduler.
type term struct {
	s     *Scheduler
	epoch int
	offer int
}

func TestPropertyNoPodLaunchedTwiceAcrossLeaders(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := klog.NewContext(context.Background(), logr.Discard())
		etcd := &modelEtcd{intents: map[string]LaunchIntent{}}
		master := &modelMesos{t: rt, live: map[string]bool{}, used: map[string]bool{}, launches: map[types.UID]int{}}
		pods := &fakePods{pods: map[types.UID]*corev1.Pod{}}
		var terms []*term // terms[len-1] leads; the others were deposed and may not know it
		nextPod := 0
		// The schedulers' clock: 30 s pass before every cycle, so backoffs
		// end and offers expire by the draws, not by how fast the test runs.
		clock := time.Unix(1_000_000, 0)

		elect := func() {
			etcd.epoch++
			// ACCEPTs still in flight reach the master before the new
			// subscription or not at all.
			for i := len(master.inflight) - 1; i >= 0; i-- {
				if rapid.Bool().Draw(rt, "deliver before failover") {
					master.deliver(i)
				}
			}
			master.stream, master.inflight, master.statuses = etcd.epoch, nil, nil
			fw, err := NewFramework(FrameworkOptions{Master: "127.0.0.1:1", Name: "kubemesos", Role: "kubernetes"})
			if err != nil {
				rt.Fatal(err)
			}
			fw.caller = &termCaller{m: master, epoch: etcd.epoch}
			s := NewScheduler(fw, &termStore{etcd: etcd, epoch: etcd.epoch}, pods, nil, &fakeReporter{}, ExecutorSpec{Command: "executor"}, DefaultPolicy)
			s.now = func() time.Time { return clock }
			if err := s.recoverIntents(ctx); err != nil {
				rt.Fatal(err)
			}
			if err := s.handle(ctx, &scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-1"}}}); err != nil {
				rt.Fatal(err)
			}
			terms = append(terms, &term{s: s, epoch: etcd.epoch})
		}
		elect()
		offerAndCycle := func(tm *term) {
			clock = clock.Add(30 * time.Second)
			tm.offer++
			o := mesos.Offer{
				ID: mesos.OfferID{Value: fmt.Sprintf("o-%d-%d", tm.epoch, tm.offer)}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "a1",
				FrameworkID: mesos.FrameworkID{Value: "fw-1"},
				Resources:   toMesos(offermatcher.Resources{MilliCPU: 64000, MemoryMB: 64000}, nil, "kubernetes"),
			}
			if err := tm.s.handle(ctx, &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{o}}}); err != nil {
				rt.Fatal(err)
			}
			err := tm.s.cycle(ctx)
			if tm.epoch != etcd.epoch && err != nil && !errors.Is(err, ErrDeposed) {
				rt.Fatalf("deposed term %d: %v", tm.epoch, err)
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"create pod": func(rt *rapid.T) {
				p := testPod(fmt.Sprint("p", nextPod))
				nextPod++
				pods.pods[p.UID] = p
			},
			"delete pod": func(rt *rapid.T) {
				if len(pods.pods) == 0 {
					rt.Skip("no pod")
				}
				uid := rapid.SampledFrom(slices.Sorted(maps.Keys(pods.pods))).Draw(rt, "pod")
				delete(pods.pods, uid)
			},
			"leader cycles with an offer": func(rt *rapid.T) { offerAndCycle(terms[len(terms)-1]) },
			"deposed leader cycles with an offer": func(rt *rapid.T) {
				if len(terms) < 2 {
					rt.Skip("no deposed leader")
				}
				offerAndCycle(terms[rapid.IntRange(0, len(terms)-2).Draw(rt, "term")])
			},
			"leader changes": func(rt *rapid.T) { elect() },
			"ACCEPT reaches the master": func(rt *rapid.T) {
				if len(master.inflight) == 0 {
					rt.Skip("none in flight")
				}
				master.deliver(rapid.IntRange(0, len(master.inflight)-1).Draw(rt, "accept"))
			},
			"status reaches the leader": func(rt *rapid.T) {
				if len(master.statuses) == 0 {
					rt.Skip("no status")
				}
				i := master.nextStatus(rt, "status")
				st := master.statuses[i]
				master.statuses = slices.Delete(master.statuses, i, i+1)
				if err := terms[len(terms)-1].s.handle(ctx, &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}); err != nil {
					rt.Fatal(err)
				}
			},
			"status lost": func(rt *rapid.T) {
				if len(master.statuses) == 0 {
					rt.Skip("no status")
				}
				i := master.nextStatus(rt, "lost")
				master.statuses = slices.Delete(master.statuses, i, i+1)
			},
			"task ends": func(rt *rapid.T) {
				if len(master.live) == 0 {
					rt.Skip("no live task")
				}
				id := rapid.SampledFrom(slices.Sorted(maps.Keys(master.live))).Draw(rt, "task")
				master.end(id, rapid.SampledFrom([]mesos.TaskState{mesos.TASK_FAILED, mesos.TASK_LOST, mesos.TASK_FINISHED}).Draw(rt, "state"))
			},
			"": func(rt *rapid.T) {
				// Every live task that the leader does not know is in etcd:
				// the next leader will ask about it.
				leader := terms[len(terms)-1].s
				for id := range master.live {
					uid, _ := podtask.UIDFromTaskID(id)
					t, known := leader.tasks.Get(uid)
					_, stored := etcd.intents[id]
					if !(known && t.TaskID == id) && !stored {
						rt.Fatalf("task %s is live but neither in the leader's registry nor in an intent", id)
					}
				}
			},
		})
	})
}
