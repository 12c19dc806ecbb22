package mesostest

import (
	"context"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// SubscribeTimeout is how long Subscribe waits for SUBSCRIBED.
const SubscribeTimeout = 5 * time.Second

// Scheduler is a framework subscribed through mesos-go's httpsched client
// (protobuf), as a real scheduler talks to a Mesos master.
type Scheduler struct {
	t testing.TB
	// Caller sends calls on the subscription (Call and MustCall set the
	// framework ID; a direct call must set it itself).
	Caller calls.Caller
	// FrameworkID is the ID SUBSCRIBED gave.
	FrameworkID string
	// Events are the subscription's events in order, SUBSCRIBED included;
	// closed when the stream ends. Next skips events of other types.
	Events <-chan *scheduler.Event
	cancel context.CancelFunc
}

// Subscribe subscribes info to the master at masterURL ("http://host:port")
// and waits up to SubscribeTimeout for SUBSCRIBED. The subscription ends
// with Cancel or when the test ends.
func Subscribe(t testing.TB, masterURL string, info *mesos.FrameworkInfo) *Scheduler {
	t.Helper()
	cli := httpcli.New(
		httpcli.Endpoint(masterURL+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
	)
	caller := httpsched.NewCaller(cli)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := caller.Call(ctx, calls.Subscribe(info))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	events := make(chan *scheduler.Event, 1000)
	go func() {
		defer resp.Close()
		defer close(events)
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				return
			}
			events <- &e
		}
	}()
	s := &Scheduler{t: t, Caller: caller, Events: events, cancel: cancel}
	s.FrameworkID = s.Next(scheduler.Event_SUBSCRIBED, SubscribeTimeout).Subscribed.FrameworkID.Value
	return s
}

// Cancel ends the subscription, as a scheduler that goes away does.
func (s *Scheduler) Cancel() { s.cancel() }

// Next returns the next event of type typ, skipping others, and fails the
// test if none comes within timeout or the stream ends.
func (s *Scheduler) Next(typ scheduler.Event_Type, timeout time.Duration) *scheduler.Event {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-s.Events:
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

// Call sends c as the framework.
func (s *Scheduler) Call(c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: s.FrameworkID}
	resp, err := s.Caller.Call(context.Background(), c)
	if resp != nil {
		resp.Close()
	}
	return err
}

// MustCall is Call, failing the test on an error.
func (s *Scheduler) MustCall(c *scheduler.Call) {
	s.t.Helper()
	if err := s.Call(c); err != nil {
		s.t.Fatalf("%s: %v", c.Type, err)
	}
}

// Update returns the next status update of taskID, skipping other events
// and updates; with ack, it acknowledges every update with a UUID it reads,
// taskID's included.
func (s *Scheduler) Update(taskID string, ack bool, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.Next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status
		if ack && len(st.UUID) > 0 {
			s.MustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		if st.TaskID.Value == taskID {
			return st
		}
	}
}

// Running reads updates until every task of ids is TASK_RUNNING,
// acknowledging those with a UUID, and fails the test if one of them (or
// another task) ends up in any state but STAGING, STARTING or RUNNING, or
// if timeout passes first.
func (s *Scheduler) Running(timeout time.Duration, ids ...string) {
	s.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(timeout)
	for len(want) > 0 {
		st := s.Next(scheduler.Event_UPDATE, time.Until(deadline)).Update.Status
		if len(st.UUID) > 0 {
			s.MustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
		}
		switch st.GetState() {
		case mesos.TASK_RUNNING:
			delete(want, st.TaskID.Value)
		case mesos.TASK_STAGING, mesos.TASK_STARTING:
		default:
			s.t.Fatalf("task %s: %s %s %s", st.TaskID.Value, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
}
