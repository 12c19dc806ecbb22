package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

const executorEnvVar = "MESOSLOCAL_AGENT_TEST_EXECUTOR"

func TestMain(m *testing.M) {
	if os.Getenv(executorEnvVar) == "1" {
		if err := runRecoveringExecutor(); err != nil {
			fmt.Fprintln(os.Stderr, "test executor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runRecoveringExecutor is a custom executor on mesos-go's executor library
// that survives agent restarts as Mesos executors do: when the agent goes
// away and the framework checkpoints, it subscribes again (for up to
// MESOS_RECOVERY_TIMEOUT) with its unacknowledged tasks and updates.
// LAUNCH → TASK_RUNNING, KILL → TASK_KILLED, SHUTDOWN → exit.
func runRecoveringExecutor() error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	cli := httpcli.New(
		httpcli.Endpoint("http://"+cfg.AgentEndpoint+"/api/v1/executor"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
	)
	opts := executor.CallOptions{execcalls.Framework(cfg.FrameworkID), execcalls.Executor(cfg.ExecutorID)}
	subscriber := execcalls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)
	sender := execcalls.SenderWith(httpexec.NewSender(cli.Send), opts...)
	ctx := context.Background()
	tasks := map[string]mesos.TaskInfo{}
	unacked := map[string]executor.Call_Update{}
	execID := mesos.ExecutorID{Value: cfg.ExecutorID}
	update := func(id mesos.TaskID, state mesos.TaskState) error {
		st := mesos.TaskStatus{TaskID: id, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), ExecutorID: &execID, UUID: uuidBytes()}
		unacked[string(st.UUID)] = executor.Call_Update{Status: st}
		r, err := sender.Send(ctx, execcalls.NonStreaming(execcalls.Update(st)))
		if r != nil {
			r.Close()
		}
		return err
	}
	var disconnected time.Time
	for {
		var ts []mesos.TaskInfo
		for _, t := range tasks {
			ts = append(ts, t)
		}
		var us []executor.Call_Update
		for _, u := range unacked {
			us = append(us, u)
		}
		resp, err := subscriber.Send(ctx, execcalls.NonStreaming(execcalls.Subscribe(ts, us)))
		if err == nil {
			disconnected = time.Time{}
			err = func() error {
				defer resp.Close()
				for {
					var e executor.Event
					if err := resp.Decode(&e); err != nil {
						return err
					}
					switch e.Type {
					case executor.Event_LAUNCH:
						tasks[e.Launch.Task.TaskID.Value] = e.Launch.Task
						if err := update(e.Launch.Task.TaskID, mesos.TASK_RUNNING); err != nil {
							return err
						}
					case executor.Event_KILL:
						if err := update(e.Kill.TaskID, mesos.TASK_KILLED); err != nil {
							return err
						}
					case executor.Event_ACKNOWLEDGED:
						delete(unacked, string(e.Acknowledged.UUID))
					case executor.Event_SHUTDOWN:
						os.Exit(0)
					}
				}
			}()
		}
		if !cfg.Checkpoint {
			return fmt.Errorf("agent connection lost: %w", err)
		}
		if disconnected.IsZero() {
			disconnected = time.Now()
		}
		if time.Since(disconnected) > cfg.RecoveryTimeout {
			return errors.New("agent did not come back within the recovery timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func uuidBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

func listenAt(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("listen %s: %v", addr, err)
	return nil
}

// env is a master and a restartable agent on loopback ports.
type env struct {
	t         *testing.T
	masterURL string
	agentAddr string
	acfg      agent.Config
	agent     *agent.Agent
	stopAgent func()
}

func startEnv(t *testing.T, mutate func(*agent.Config)) *env {
	t.Helper()
	mln := listenAt(t, "127.0.0.1:0")
	m := master.New(master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, mln) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{t: t, masterURL: "http://" + mln.Addr().String(), agentAddr: "127.0.0.1:0"}
	e.acfg = agent.Config{
		Master:                      mln.Addr().String(),
		Hostname:                    "agent-1",
		WorkDir:                     t.TempDir(),
		Resources:                   "cpus:4;mem:4096;disk:20000;ports:[31000-32000]",
		ExecutorShutdownGracePeriod: time.Second,
		StatusUpdateRetryInterval:   time.Second,
		RegistrationBackoff:         100 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&e.acfg)
	}
	e.startAgent()
	return e
}

// startAgent starts an agent with the env's configuration, on the same
// address as the previous one.
func (e *env) startAgent() {
	e.t.Helper()
	a, err := agent.New(e.acfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ln := listenAt(e.t, e.agentAddr)
	e.agentAddr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	var once bool
	e.stopAgent = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("agent: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Errorf("agent did not stop")
		}
	}
	e.t.Cleanup(e.stopAgent)
	e.agent = a
	select {
	case <-a.Registered():
	case <-time.After(5 * time.Second):
		e.t.Fatal("agent did not register")
	}
}

type sched struct {
	t      *testing.T
	caller calls.Caller
	fwID   string
	events chan *scheduler.Event
}

func subscribe(t *testing.T, e *env, info *mesos.FrameworkInfo) *sched {
	t.Helper()
	cli := httpcli.New(httpcli.Endpoint(e.masterURL+"/api/v1/scheduler"), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	caller := httpsched.NewCaller(cli)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := caller.Call(ctx, calls.Subscribe(info))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	s := &sched{t: t, caller: caller, events: make(chan *scheduler.Event, 1000)}
	go func() {
		defer resp.Close()
		defer close(s.events)
		for {
			var ev scheduler.Event
			if err := resp.Decode(&ev); err != nil {
				return
			}
			s.events <- &ev
		}
	}()
	s.fwID = s.next(scheduler.Event_SUBSCRIBED, 5*time.Second).Subscribed.FrameworkID.Value
	return s
}

func (s *sched) next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-deadline:
			s.t.Fatalf("no %s event within %s", typ, timeout)
		}
	}
}

func (s *sched) call(c *scheduler.Call) {
	s.t.Helper()
	c.FrameworkID = &mesos.FrameworkID{Value: s.fwID}
	resp, err := s.caller.Call(context.Background(), c)
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		s.t.Fatalf("%s: %v", c.Type, err)
	}
}

// update returns the next status update of taskID, acknowledging it when
// ack is set.
func (s *sched) update(taskID string, ack bool, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status
		if ack && len(st.UUID) > 0 {
			s.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		if st.TaskID.Value == taskID {
			return st
		}
	}
}

func frameworkInfo(name string, checkpoint bool) *mesos.FrameworkInfo {
	return &mesos.FrameworkInfo{
		User: "root", Name: name, Roles: []string{"test"}, Checkpoint: &checkpoint,
		FailoverTimeout: ptr(60.0),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
}

func testExecutor(id string) *mesos.ExecutorInfo {
	exe, _ := os.Executable()
	return &mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id},
		Type:       mesos.ExecutorInfo_CUSTOM,
		Command: &mesos.CommandInfo{
			Shell: ptr(false), Value: ptr(exe), Arguments: []string{exe, "-test.run=^$"},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: executorEnvVar, Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("1")},
			}},
		},
		Resources: resources("cpus:0.1;mem:32"),
	}
}

func resources(s string) []mesos.Resource {
	var out []mesos.Resource
	for _, part := range strings.Split(s, ";") {
		name, v, _ := strings.Cut(part, ":")
		var f float64
		fmt.Sscan(v, &f)
		out = append(out, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: f}})
	}
	return out
}

func task(id string, o mesos.Offer) mesos.TaskInfo {
	rs := resources("cpus:0.1;mem:32")
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
	}
	return mesos.TaskInfo{Name: "task " + id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs}
}

// launch launches tasks on the next offer, leaving the rest unfiltered.
func (s *sched) launch(tasks ...mesos.TaskInfo) mesos.Offer {
	s.t.Helper()
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	for i := range tasks {
		tasks[i].AgentID = o.AgentID
		for j := range tasks[i].Resources {
			tasks[i].Resources[j].AllocationInfo = o.AllocationInfo
		}
	}
	acc := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID))
	acc.Accept.Filters = &mesos.Filters{RefuseSeconds: ptr(0.0)}
	s.call(acc)
	return o
}

func ptr[T any](v T) *T { return &v }

// agentExecutors reads the executors of the agent's /state.
func agentExecutors(t *testing.T, addr string) []map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Frameworks []struct {
			Executors []map[string]any `json:"executors"`
		} `json:"frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range st.Frameworks {
		out = append(out, f.Executors...)
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
