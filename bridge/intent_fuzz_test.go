package bridge

import (
	"reflect"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/podtask"
)

// FuzzDecodeIntent: whatever etcd holds, decoding an intent returns an
// error or an intent of the task its key names, of that task's pod, with an
// agent, that survives a round trip.
func FuzzDecodeIntent(f *testing.F) {
	id := podtask.TaskID("u1", podtask.Attempt{Epoch: 3, Seq: 1})
	good, err := EncodeIntent(LaunchIntent{
		Pod: podtask.PodRef{Namespace: "ns", Name: "p", UID: "u1"}, TaskID: id,
		AgentID: "a1", Hostname: "h", OfferID: "o1", Written: time.Unix(1, 0).UTC(), Confirmed: true,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(id, good)
	f.Add("pod.u1.3.2", good)
	f.Add("pod.u2.3.1", good)
	f.Add("pod.u1", []byte(`{"pod":{"uid":"u1"},"taskID":"pod.u1","agentID":"a"}`))
	f.Add("pod.u1", []byte(`{"pod":{"uid":"u1"},"taskID":"pod.u1"}`))
	f.Add("pod.u1", []byte(`{"pod":{"uid":"u1"},"taskID":"pod.u1","agentID":"a","written":"not a time"}`))
	f.Add("", []byte(`{}`))
	f.Add("node.a.1", []byte(`{"pod":{"uid":"a"},"taskID":"node.a.1","agentID":"a"}`))
	f.Add(id, []byte("\x00{"))
	f.Fuzz(func(t *testing.T, taskID string, data []byte) {
		in, err := DecodeIntent(taskID, data)
		if err != nil {
			return
		}
		uid, ok := podtask.UIDFromTaskID(taskID)
		if !ok || in.TaskID != taskID || in.Pod.UID != uid || in.AgentID == "" || in.Malformed {
			t.Fatalf("decoded %+v from the record of %q", in, taskID)
		}
		b, err := EncodeIntent(in)
		if err != nil {
			t.Fatalf("decoded intent does not encode: %v", err)
		}
		again, err := DecodeIntent(taskID, b)
		if err != nil || !reflect.DeepEqual(again, in) || !again.Written.Equal(in.Written) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, in)
		}
	})
}
