package bridge

import (
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// FuzzDecodeIntent: whatever etcd holds, decoding an intent returns an
// error or an intent of the pod of its key that names that pod's task and
// an agent, and survives a round trip.
func FuzzDecodeIntent(f *testing.F) {
	good, err := EncodeIntent(LaunchIntent{
		Pod: podtask.PodRef{Namespace: "ns", Name: "p", UID: "u1"}, TaskID: podtask.TaskID("u1"),
		AgentID: "a1", Hostname: "h", OfferID: "o1", Written: time.Unix(1, 0).UTC(), Confirmed: true,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("u1", good)
	f.Add("u2", good)
	f.Add("u1", []byte(`{"pod":{"uid":"u1"},"taskID":"pod.u1"}`))
	f.Add("u1", []byte(`{"pod":{"uid":"u1"},"taskID":"pod.u1","agentID":"a","written":"not a time"}`))
	f.Add("", []byte(`{}`))
	f.Add("u1", []byte("\x00{"))
	f.Fuzz(func(t *testing.T, uid string, data []byte) {
		in, err := DecodeIntent(types.UID(uid), data)
		if err != nil {
			return
		}
		if in.Pod.UID != types.UID(uid) || in.TaskID != podtask.TaskID(in.Pod.UID) || in.AgentID == "" || in.Malformed {
			t.Fatalf("decoded %+v from the record of %q", in, uid)
		}
		b, err := EncodeIntent(in)
		if err != nil {
			t.Fatalf("decoded intent does not encode: %v", err)
		}
		again, err := DecodeIntent(types.UID(uid), b)
		if err != nil || !reflect.DeepEqual(again, in) || !again.Written.Equal(in.Written) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, in)
		}
	})
}
