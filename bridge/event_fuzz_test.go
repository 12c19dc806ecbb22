package bridge

import (
	"encoding/binary"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// FuzzSchedulerEvents: the Mesos master's events are outside input,
// decoded from protobuf (mesos-go's codec, as Framework.Stream does) with
// any field possibly missing. Whatever sequence of events arrives, the
// scheduler handles each one (inverse offers included, with a drainer) and
// runs its cycle without panicking, holds
// only offers that name themselves and their agent, and never names a task
// twice in its ACCEPTs.
//
// The input is a sequence of events, each a 2-byte big-endian length and
// that many bytes of a protobuf scheduler.Event.
func FuzzSchedulerEvents(f *testing.F) {
	uid := testPod("a").UID
	offer := mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "a1",
		FrameworkID: mesos.FrameworkID{Value: "fw-1"},
		Resources:   toMesos(offermatcher.Resources{MilliCPU: 4000, MemoryMB: 4096}, nil, "kubernetes"),
	}
	seeds := []scheduler.Event{
		{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-1"}}},
		{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{offer}}},
		{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: "o1"}}},
		{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
			TaskID: mesos.TaskID{Value: podtask.TaskID(uid, podtask.Attempt{Epoch: 1, Seq: 1})}, State: mesos.TASK_RUNNING.Enum(),
			AgentID: &mesos.AgentID{Value: "a1"}, UUID: []byte("u"), Source: mesos.SOURCE_EXECUTOR.Enum()}}},
		{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
			TaskID: mesos.TaskID{Value: podtask.NodeTaskID("a1", time.Unix(1, 0))}, State: mesos.TASK_FAILED.Enum(),
			Reason: mesos.REASON_EXECUTOR_TERMINATED.Enum()}}},
		{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a1"}}},
		{Type: scheduler.Event_RESCIND},
		{Type: scheduler.Event_UPDATE},
		{Type: scheduler.Event_SUBSCRIBED},
		{Type: scheduler.Event_OFFERS},
		{Type: scheduler.Event_FAILURE},
		{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{{Resources: offer.Resources}, {ID: offer.ID}}}},
		{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: []mesos.InverseOffer{inverseOffer("io1", "a1", time.Unix(1, 0)), {}}}},
		{Type: scheduler.Event_RESCIND_INVERSE_OFFER, RescindInverseOffer: &scheduler.Event_RescindInverseOffer{InverseOfferID: mesos.OfferID{Value: "io1"}}},
		{Type: scheduler.Event_INVERSE_OFFERS},
		{Type: scheduler.Event_RESCIND_INVERSE_OFFER},
	}
	var all []byte
	for _, e := range seeds {
		b, err := e.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame(b))
		all = append(all, frame(b)...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newLoopTest(t, testPod("a"), testPod("b"))
		l.s.policy.NodeTasks = true
		l.s.UseDrainer(&fakeDrainer{})
		seen := map[string]bool{}
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				return
			}
			var e scheduler.Event
			if err := e.Unmarshal(data[:n]); err != nil {
				return // the codec refuses it: the stream ends with an error
			}
			data = data[n:]
			if err := l.s.handle(t.Context(), &e); err != nil {
				continue // the master ended the framework
			}
			for _, o := range l.s.offers.All() {
				if o.ID.Value == "" || o.AgentID.Value == "" {
					t.Fatalf("holding an offer that does not name itself and its agent: %+v", o)
				}
			}
			_ = l.s.cycle(t.Context())
			l.s.report.Drain(t.Context())
			for _, id := range launchedTasks(l.master.take(scheduler.Call_ACCEPT)) {
				if seen[id] {
					t.Fatalf("task %s launched twice", id)
				}
				seen[id] = true
			}
		}
	})
}

func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}
