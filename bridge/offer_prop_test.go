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
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"pgregory.net/rapid"

	"github.com/kubemesos/kubemesos/offermatcher"
)

// The property test below runs a Scheduler against a model of a Mesos
// master that offers the free resources of three agents, and interleaves at
// random: offers, rescinds, pods created and deleted, tasks ending, calls
// that fail, and time passing between cycles. After every step it checks:
//
//   - no resource of an offer is promised twice: an ACCEPT uses only offers
//     the scheduler holds (never one used, declined or rescinded before),
//     and its tasks (with the executor's resources where it does not run
//     yet) fit in them;
//   - every held offer is declined or used within the offer TTL: after a
//     cycle whose calls went through, no offer older than the TTL is held;
//   - every pending pod is launched or has a reason: a pod pending longer
//     than the offer TTL after a cycle has been told why it waits.

// propMaster is the master as the scheduler calls it: the calls that went
// through, in order; failNext makes the next call of a type fail.
type propMaster struct {
	calls    []*scheduler.Call
	failNext map[scheduler.Call_Type]bool
	failed   int
}

func (m *propMaster) Call(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
	if m.failNext[c.GetType()] {
		delete(m.failNext, c.GetType())
		m.failed++
		return nil, errors.New("503: master unavailable")
	}
	m.calls = append(m.calls, c)
	return nil, nil
}

// propOffer is an offer outstanding at the model master.
type propOffer struct {
	agent    string
	res      offermatcher.Resources
	received time.Time
}

func TestPropertyOffersAndPendingPods(t *testing.T) {
	exec := offermatcher.Resources{MilliCPU: 100, MemoryMB: 64}
	capacity := offermatcher.Resources{MilliCPU: 2000, MemoryMB: 2048}
	agents := []string{"a1", "a2", "a3"}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := klog.NewContext(context.Background(), logr.Discard())
		fw, err := NewFramework(FrameworkOptions{Master: "127.0.0.1:1", Name: "kubemesos", Role: "kubernetes"})
		if err != nil {
			rt.Fatal(err)
		}
		master := &propMaster{failNext: map[scheduler.Call_Type]bool{}}
		fw.caller = master
		fw.setID("fw-1")
		pods := &fakePods{pods: map[types.UID]*corev1.Pod{}}
		report := &fakeReporter{}
		policy := DefaultPolicy
		policy.NodeTasks = rapid.Bool().Draw(rt, "node tasks")
		s := NewScheduler(fw, nil, pods, nil, report, ExecutorSpec{Command: "executor", Resources: exec}, policy)
		s.subscribed = true
		clock := time.Unix(1_000_000, 0)
		s.now = func() time.Time { return clock }

		outstanding := map[string]propOffer{} // offers the scheduler may hold
		used := map[string]offermatcher.Resources{}
		running := map[string]offermatcher.Resources{} // task ID → what it holds
		taskAgent := map[string]string{}
		executorOn := map[string]bool{}
		gone := map[string]bool{} // offer IDs used, declined or rescinded
		nOffers, nPods := 0, 0

		free := func(agent string) offermatcher.Resources {
			f := minus(capacity, used[agent])
			for _, o := range outstanding {
				if o.agent == agent {
					f = minus(f, o.res)
				}
			}
			return f
		}
		// settle applies the calls that went through to the model and
		// checks the first property.
		settle := func() {
			for _, c := range master.calls {
				switch c.GetType() {
				case scheduler.Call_DECLINE:
					for _, id := range c.GetDecline().GetOfferIDs() {
						delete(outstanding, id.Value)
						gone[id.Value] = true
					}
				case scheduler.Call_ACCEPT:
					acc := c.GetAccept()
					var have offermatcher.Resources
					var agent string
					for _, id := range acc.GetOfferIDs() {
						o, ok := outstanding[id.Value]
						if !ok || gone[id.Value] {
							rt.Fatalf("ACCEPT of offer %s, which the scheduler does not hold (used, declined or rescinded)", id.Value)
						}
						have, agent = plus(have, o.res), o.agent
						delete(outstanding, id.Value)
						gone[id.Value] = true
					}
					var need offermatcher.Resources
					for _, op := range acc.GetOperations() {
						for _, ti := range op.GetLaunch().GetTaskInfos() {
							r := fromMesos(ti.Resources)
							need = plus(need, r)
							if ti.Executor != nil && !executorOn[agent] {
								need = plus(need, fromMesos(ti.Executor.Resources))
								executorOn[agent] = true
							}
							running[ti.TaskID.Value], taskAgent[ti.TaskID.Value] = r, agent
						}
					}
					if !fits(need, have) {
						rt.Fatalf("ACCEPT promises %+v of offers holding %+v", need, have)
					}
					used[agent] = plus(used[agent], need)
				}
			}
			master.calls = nil
		}
		cycle := func() {
			clock = clock.Add(time.Duration(rapid.IntRange(0, 12).Draw(rt, "seconds")) * time.Second)
			master.failed = 0
			_ = s.cycle(ctx)
			s.report.Drain(ctx)
			failed := master.failed > 0
			settle()
			if failed {
				return // the next cycle must make up for it
			}
			for id, o := range outstanding {
				if _, held := s.offers.Get(id); held && clock.Sub(o.received) >= policy.OfferTTL {
					rt.Fatalf("offer %s held %v, longer than the offer TTL %v", id, clock.Sub(o.received), policy.OfferTTL)
				}
			}
			for _, p := range pods.Pending() {
				if _, launched := s.tasks.Get(p.UID); launched || clock.Sub(p.CreationTimestamp.Time) < policy.OfferTTL {
					continue
				}
				if !slices.ContainsFunc(report.unschedulable, func(m string) bool { return len(m) > len(p.Name) && m[:len(p.Name)+1] == p.Name+":" }) {
					rt.Fatalf("pod %s pending %v without a reason (reports %q)", p.Name, clock.Sub(p.CreationTimestamp.Time), report.unschedulable)
				}
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"offer": func(rt *rapid.T) {
				agent := rapid.SampledFrom(agents).Draw(rt, "agent")
				f := free(agent)
				if f.MilliCPU < 50 || f.MemoryMB < 32 {
					rt.Skip("agent full")
				}
				res := offermatcher.Resources{
					MilliCPU: rapid.Int64Range(50, f.MilliCPU).Draw(rt, "cpu"),
					MemoryMB: rapid.Int64Range(32, f.MemoryMB).Draw(rt, "mem"),
				}
				nOffers++
				id := fmt.Sprint("o", nOffers)
				o := mesos.Offer{ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: agent,
					FrameworkID: mesos.FrameworkID{Value: "fw-1"}, Resources: toMesos(res, nil, "kubernetes")}
				if executorOn[agent] {
					o.ExecutorIDs = []mesos.ExecutorID{{Value: s.executor.ID()}}
				}
				outstanding[id] = propOffer{agent: agent, res: res, received: clock}
				if err := s.handle(ctx, &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{o}}}); err != nil {
					rt.Fatal(err)
				}
			},
			"rescind": func(rt *rapid.T) {
				if len(outstanding) == 0 {
					rt.Skip("no offer")
				}
				id := rapid.SampledFrom(slices.Sorted(maps.Keys(outstanding))).Draw(rt, "offer")
				delete(outstanding, id)
				gone[id] = true
				if err := s.handle(ctx, &scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: id}}}); err != nil {
					rt.Fatal(err)
				}
			},
			"create pod": func(rt *rapid.T) {
				nPods++
				p := testPod(fmt.Sprint("p", nPods))
				p.CreationTimestamp.Time = clock
				req := p.Spec.Containers[0].Resources.Requests
				req[corev1.ResourceCPU] = *resource.NewMilliQuantity(rapid.Int64Range(10, 2500).Draw(rt, "pod cpu"), resource.DecimalSI)
				req[corev1.ResourceMemory] = *resource.NewQuantity(rapid.Int64Range(16, 1024).Draw(rt, "pod mem")<<20, resource.BinarySI)
				pods.pods[p.UID] = p
			},
			"delete pod": func(rt *rapid.T) {
				if len(pods.pods) == 0 {
					rt.Skip("no pod")
				}
				delete(pods.pods, rapid.SampledFrom(slices.Sorted(maps.Keys(pods.pods))).Draw(rt, "pod"))
			},
			"task ends": func(rt *rapid.T) {
				if len(running) == 0 {
					rt.Skip("no task")
				}
				id := rapid.SampledFrom(slices.Sorted(maps.Keys(running))).Draw(rt, "task")
				state := rapid.SampledFrom([]mesos.TaskState{mesos.TASK_FAILED, mesos.TASK_FINISHED, mesos.TASK_KILLED, mesos.TASK_LOST}).Draw(rt, "state")
				agent := taskAgent[id]
				used[agent] = minus(used[agent], running[id])
				delete(running, id)
				st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: id}, State: state.Enum(), AgentID: &mesos.AgentID{Value: agent},
					Source: mesos.SOURCE_EXECUTOR.Enum()}
				if err := s.handle(ctx, &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}); err != nil {
					rt.Fatal(err)
				}
				settle() // its acknowledgement
			},
			"a call fails": func(rt *rapid.T) {
				master.failNext[rapid.SampledFrom([]scheduler.Call_Type{scheduler.Call_ACCEPT, scheduler.Call_DECLINE, scheduler.Call_REVIVE}).Draw(rt, "call")] = true
			},
			"cycle": func(rt *rapid.T) { cycle() },
		})
	})
}
