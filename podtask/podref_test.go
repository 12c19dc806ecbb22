package podtask

import (
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestPodRefRoundTripAndBadData(t *testing.T) {
	r := PodRef{Namespace: "a", Name: "b", UID: "c"}
	got, err := DecodePodRef(r.Encode())
	if err != nil || got != r {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"namespace":"a"}`, `[1,2]`, `null`} {
		if _, err := DecodePodRef([]byte(bad)); !errors.Is(err, ErrBadTaskData) {
			t.Errorf("%q: got %v, want ErrBadTaskData", bad, err)
		}
	}
}

func TestDecodeTaskChecksIDAgainstUID(t *testing.T) {
	ref := PodRef{Namespace: "ns", Name: "web-0", UID: "u-1"}
	info := ref.TaskInfo(Attempt{Epoch: 7, Seq: 2})
	if info.TaskID.Value != "pod.u-1.7.2" || info.Name != "ns/web-0" {
		t.Fatalf("TaskInfo ID %q name %q", info.TaskID.Value, info.Name)
	}
	labels := map[string]string{}
	for _, l := range info.GetLabels().GetLabels() {
		labels[l.Key] = l.GetValue()
	}
	if labels[LabelNamespace] != "ns" || labels[LabelName] != "web-0" || labels[LabelUID] != "u-1" || len(labels) != 3 {
		t.Fatalf("labels %v", labels)
	}
	got, err := DecodeTask(info)
	if err != nil || got != ref {
		t.Fatalf("DecodeTask = %v, %v", got, err)
	}

	tests := []struct {
		name   string
		taskID string
		data   []byte
		want   error
	}{
		{"task ID of another pod", "pod.other", ref.Encode(), ErrTaskIDMismatch},
		{"task ID of no pod", "spark.1", ref.Encode(), ErrTaskIDMismatch},
		{"another attempt's ID, same pod", "pod.u-1.9.9", ref.Encode(), nil},
		{"an older bridge's ID, same pod", "pod.u-1", ref.Encode(), nil},
		{"garbage", "pod.u-1", []byte("\x00"), ErrBadTaskData},
		{"no data", "pod.u-1", nil, ErrBadTaskData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeTask(mesos.TaskInfo{TaskID: mesos.TaskID{Value: tc.taskID}, Data: tc.data})
			if tc.want == nil {
				if err != nil || got != ref {
					t.Fatalf("DecodeTask = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrBadTaskData) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want != ErrTaskIDMismatch && errors.Is(err, ErrTaskIDMismatch) {
				t.Fatalf("bad data reported as an ID mismatch: %v", err)
			}
		})
	}
}

func TestStatusData(t *testing.T) {
	d := StatusDataOf([]string{"10.0.0.2", "fd00::2"})
	if d.PodIP != "10.0.0.2" || len(d.PodIPs) != 2 {
		t.Fatalf("StatusDataOf = %+v", d)
	}
	back, err := DecodeStatusData(d.Encode())
	if err != nil || back.PodIP != d.PodIP || len(back.PodIPs) != 2 || back.PodIPs[1] != "fd00::2" {
		t.Fatalf("round trip %+v %v", back, err)
	}
	if empty, err := DecodeStatusData(nil); err != nil || empty.PodIP != "" {
		t.Fatalf("no data: %+v %v", empty, err)
	}
	if _, err := DecodeStatusData([]byte("{")); err == nil {
		t.Fatal("garbage accepted")
	}
	if got := string(StatusDataOf(nil).Encode()); got != "{}" {
		t.Fatalf("no IPs encode as %s", got)
	}
	wd, err := DecodeStatusData(StatusData{WorkDir: "/var/lib/mesos"}.Encode())
	if err != nil || wd.WorkDir != "/var/lib/mesos" {
		t.Fatalf("work_dir round trip %+v %v", wd, err)
	}
	if _, err := DecodeStatusData([]byte(`{"workDir":"var/lib/mesos"}`)); err == nil {
		t.Fatal("relative work_dir accepted")
	}
}

func TestIsTerminal(t *testing.T) {
	terminal := map[mesos.TaskState]bool{
		mesos.TASK_FINISHED: true, mesos.TASK_FAILED: true, mesos.TASK_KILLED: true, mesos.TASK_ERROR: true,
		mesos.TASK_LOST: true, mesos.TASK_DROPPED: true, mesos.TASK_GONE: true, mesos.TASK_GONE_BY_OPERATOR: true,
	}
	for v := range mesos.TaskState_name {
		s := mesos.TaskState(v)
		if IsTerminal(s) != terminal[s] {
			t.Errorf("IsTerminal(%s) = %v", s, IsTerminal(s))
		}
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
