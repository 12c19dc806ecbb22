package agent_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// A simulated executor with OnLaunch reports a task running only after the
// hook returned nil, and failed with the hook's error otherwise; the hook is
// told the hostname of the agent the task landed on.
func TestSimulatedOnLaunch(t *testing.T) {
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	var (
		mu     sync.Mutex
		hooked = map[string]string{} // task ID → agent hostname
	)
	release := make(chan struct{})
	sim, err := agent.NewSimulated(agent.SimulatedConfig{
		Master: m.Addr, Hostname: "hook", Count: 1, Resources: "cpus:2;mem:1024",
		RegistrationBackoff: 100 * time.Millisecond, StatusUpdateRetryInterval: time.Second,
		OnLaunch: func(ctx context.Context, host string, ti mesos.TaskInfo) error {
			mu.Lock()
			hooked[ti.TaskID.Value] = host
			mu.Unlock()
			if ti.TaskID.Value == "bad" {
				return errors.New("cannot bind")
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, mesostest.Listen(t)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("simulated agents: %v", err)
			}
		case <-time.After(mesostest.StopTimeout):
			t.Errorf("simulated agents did not stop")
		}
	})
	select {
	case <-sim.Registered():
	case <-time.After(10 * time.Second):
		t.Fatal("simulated agent did not register")
	}
	s := subscribe(t, &env{t: t, masterURL: m.URL}, frameworkInfo("hook", false))
	good, bad := task("good", mesos.Offer{}), task("bad", mesos.Offer{})
	good.Command = &mesos.CommandInfo{Value: ptr("true")}
	bad.Command = &mesos.CommandInfo{Value: ptr("true")}
	s.launch(good, bad)

	states := map[string][]mesos.TaskState{}
	messages := map[string]string{}
	record := func(st mesos.TaskStatus) {
		s.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		states[st.TaskID.Value] = append(states[st.TaskID.Value], st.GetState())
		messages[st.TaskID.Value] = st.GetMessage()
	}
	read := func(until func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !until() {
			record(s.Next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status)
		}
	}
	last := func(id string) mesos.TaskState {
		if l := states[id]; len(l) > 0 {
			return l[len(l)-1]
		}
		return mesos.TASK_STAGING
	}
	read(func() bool { return last("bad") == mesos.TASK_FAILED && last("good") == mesos.TASK_STARTING })
	if messages["bad"] != "cannot bind" {
		t.Errorf("failed task's message = %q, want the hook's error", messages["bad"])
	}
	// good stays STARTING while its hook blocks.
	for quiet := time.After(300 * time.Millisecond); ; {
		var e *scheduler.Event
		select {
		case e = <-s.Events:
		case <-quiet:
		}
		if e == nil {
			break
		}
		if e.Type == scheduler.Event_UPDATE {
			record(e.Update.Status)
		}
	}
	if last("good") != mesos.TASK_STARTING {
		t.Fatalf("good is %s before its hook returned", last("good"))
	}
	close(release)
	read(func() bool { return last("good") == mesos.TASK_RUNNING })
	mu.Lock()
	defer mu.Unlock()
	if hooked["good"] != "hook-sim0" || hooked["bad"] != "hook-sim0" {
		t.Errorf("hook calls = %v, want both on hook-sim0", hooked)
	}
}
