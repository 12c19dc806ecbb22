package k8sapi

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestNodeLabels(t *testing.T) {
	text := func(n, v string) mesos.Attribute {
		return mesos.Attribute{Name: n, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: v}}
	}
	attrs := []mesos.Attribute{
		text("rack", "r1"),
		{Name: "gen", Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: 3}},
		{Name: "ports", Type: mesos.RANGES, Ranges: &mesos.Value_Ranges{}},
		text("bad key!", "x"),
		text("zone", "not a valid value!"),
	}
	labels, skipped := NodeLabels("agent-1", attrs)
	want := map[string]string{"rack": "r1", "gen": "3", "kubernetes.io/hostname": "agent-1"}
	if len(labels) != len(want) {
		t.Fatalf("got %v want %v", labels, want)
	}
	for k, v := range want {
		if labels[k] != v {
			t.Fatalf("label %s: got %q want %q", k, labels[k], v)
		}
	}
	if len(skipped) != 3 {
		t.Fatalf("want 3 skipped, got %v", skipped)
	}
}

func TestPodRefRoundTripAndBadData(t *testing.T) {
	r := PodRef{Namespace: "a", Name: "b", UID: "c"}
	got, err := DecodePodRef(r.Encode())
	if err != nil || got != r {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"namespace":"a"}`, `[1,2]`} {
		if _, err := DecodePodRef([]byte(bad)); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if uid, ok := UIDFromTaskID(TaskID("x-1")); !ok || uid != "x-1" {
		t.Fatalf("UIDFromTaskID: %v %v", uid, ok)
	}
	if _, ok := UIDFromTaskID("spark.1"); ok {
		t.Fatal("a task of another framework is not a pod task")
	}
}

// FuzzDecodePodRef: task data comes from Mesos; whatever it holds, decoding
// never panics, and what it accepts is a complete reference that re-encodes
// to itself.
func FuzzDecodePodRef(f *testing.F) {
	for _, s := range []string{`{"namespace":"a","name":"b","uid":"c"}`, `{"namespace":""}`, `{`, `null`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodePodRef(data)
		if err != nil {
			return
		}
		if r.Namespace == "" || r.Name == "" || r.UID == "" {
			t.Fatalf("accepted an incomplete reference %+v from %q", r, data)
		}
		back, err := DecodePodRef(r.Encode())
		if err != nil || back != r {
			t.Fatalf("%+v does not round-trip: %+v %v", r, back, err)
		}
	})
}
