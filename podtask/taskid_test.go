package podtask

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"pgregory.net/rapid"
)

func TestTaskIDForms(t *testing.T) {
	tests := []struct {
		id      string
		uid     types.UID
		attempt Attempt
		ok      bool
	}{
		{"pod.u-1.7.2", "u-1", Attempt{Epoch: 7, Seq: 2}, true},
		{"pod.u-1.0.1", "u-1", Attempt{Seq: 1}, true},
		{"pod.u-1", "u-1", Attempt{}, true},   // an older bridge's: adopted
		{"pod.u-1.0.0", "", Attempt{}, false}, // the zero attempt has the older form only
		{"pod.u-1.07.2", "", Attempt{}, false},
		{"pod.u-1.7", "", Attempt{}, false},
		{"pod.u-1.7.2.3", "", Attempt{}, false},
		{"pod.u-1.x.2", "", Attempt{}, false},
		{"pod.u-1.-1.2", "", Attempt{}, false},
		{"pod..7.2", "", Attempt{}, false},
		{"pod.", "", Attempt{}, false},
		{"", "", Attempt{}, false},
		{"Pod.x", "", Attempt{}, false},
		{"spark.1", "", Attempt{}, false},
		{"node.agent.1700000000000000042", "", Attempt{}, false},
	}
	for _, tc := range tests {
		uid, a, ok := ParseTaskID(tc.id)
		if uid != tc.uid || a != tc.attempt || ok != tc.ok {
			t.Errorf("ParseTaskID(%q) = %q, %+v, %v; want %q, %+v, %v", tc.id, uid, a, ok, tc.uid, tc.attempt, tc.ok)
		}
		if u, ok := UIDFromTaskID(tc.id); u != tc.uid || ok != tc.ok {
			t.Errorf("UIDFromTaskID(%q) = %q, %v", tc.id, u, ok)
		}
	}
}

// TestPropertyTaskIDRoundTrip: every attempt of every pod has its own ID,
// and the ID gives back the pod and the attempt.
func TestPropertyTaskIDRoundTrip(t *testing.T) {
	uidGen := rapid.StringMatching(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	rapid.Check(t, func(rt *rapid.T) {
		uid := types.UID(uidGen.Draw(rt, "uid"))
		a := Attempt{Epoch: rapid.Uint64().Draw(rt, "epoch"), Seq: rapid.Uint64().Draw(rt, "seq")}
		b := Attempt{Epoch: rapid.Uint64().Draw(rt, "epoch2"), Seq: rapid.Uint64().Draw(rt, "seq2")}
		id := TaskID(uid, a)
		gotUID, gotA, ok := ParseTaskID(id)
		if !ok || gotUID != uid || gotA != a {
			rt.Fatalf("ParseTaskID(%q) = %q, %+v, %v", id, gotUID, gotA, ok)
		}
		if (a == b) != (id == TaskID(uid, b)) {
			rt.Fatalf("attempts %+v and %+v: IDs %q and %q", a, b, id, TaskID(uid, b))
		}
		if IsNodeTask(id) {
			rt.Fatalf("%q reads as a node task", id)
		}
	})
}

// FuzzParseTaskID: task IDs come from Mesos (updates, reconciliation, state);
// whatever one holds, parsing does not panic, and what it accepts is the
// one canonical ID of that pod and attempt.
func FuzzParseTaskID(f *testing.F) {
	for _, s := range []string{"pod.u-1.7.2", "pod.u-1", "pod.", "pod.a.b.c", "node.a.1", "pod.u.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		uid, a, ok := ParseTaskID(id)
		if !ok {
			return
		}
		if uid == "" || TaskID(uid, a) != id {
			t.Fatalf("ParseTaskID(%q) = %q, %+v: not its canonical ID %q", id, uid, a, TaskID(uid, a))
		}
	})
}
