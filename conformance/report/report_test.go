package report

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func read(t *testing.T, file string) []Result {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestReadRunOfGoTestJSON(t *testing.T) {
	rs := read(t, "testdata/run.json")
	type row struct {
		name   string
		status Status
		dur    time.Duration
		detail string
		fault  *Fault
	}
	want := []row{
		{"TestPass", Pass, 1500 * time.Millisecond, "", nil},
		{"TestFault", Fail, 42250 * time.Millisecond, "a pod ran twice", &Fault{PodsRunTwice: 1, Recovery: 12345 * time.Millisecond}},
		{"TestSkip", Skip, 0, "long fault scenario: set KUBEMESOS_E2E_FAULTS=1", nil},
		{"TestSub", Pass, 0, "", nil},
		{"TestSub/a", Pass, 0, "", nil},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d results %+v, want %d", len(rs), rs, len(want))
	}
	for i, w := range want {
		r := rs[i]
		if r.Name != w.name || r.Status != w.status || r.Duration != w.dur || r.Detail != w.detail {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
		if (r.Fault == nil) != (w.fault == nil) || (r.Fault != nil && *r.Fault != *w.fault) {
			t.Errorf("%s fault = %+v, want %+v", r.Name, r.Fault, w.fault)
		}
	}
	if s := Summarize(rs); s.OK || s.Passed != 3 || s.Failed != 1 || s.Skipped != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestSetupFailureIsARow(t *testing.T) {
	rs := read(t, "testdata/setup-failed.json")
	if len(rs) != 1 || !rs[0].Setup || rs[0].Status != Fail || !strings.Contains(rs[0].Detail, "must run as root") {
		t.Fatalf("got %+v, want one failed setup row naming the cause", rs)
	}
	if Summarize(rs).OK {
		t.Error("a failed setup summarized as OK")
	}
}

func TestStreamEndingInAScenarioIsUnfinished(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: killing the leader\n"}
`
	rs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Status != Running || Summarize(rs).OK {
		t.Fatalf("got %+v, want TestA unfinished and the run not OK", rs)
	}
}

func TestFaultWithLostPodsIsNotOKEvenIfThePassWasRecorded(t *testing.T) {
	f := Fault{PodsLost: 2, Recovery: time.Second}
	rs := []Result{{Name: "TestX", Status: Pass, Fault: &f}}
	if Summarize(rs).OK {
		t.Error("a fault that lost 2 pods summarized as OK")
	}
}

func TestFaultLineRoundTrips(t *testing.T) {
	for _, f := range []Fault{{}, {PodsLost: 3, PodsRunTwice: 1, Recovery: 1234567 * time.Microsecond}} {
		line := "    faults_test.go:88: " + f.Line()
		got, ok, err := ParseFault(line)
		want := f
		want.Recovery = f.Recovery.Round(time.Millisecond)
		if err != nil || !ok || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v, %v; want %+v", line, got, ok, err, want)
		}
	}
	if _, ok, err := ParseFault("    x_test.go:1: hello"); ok || err != nil {
		t.Errorf("a plain line parsed as a fault (%v, %v)", ok, err)
	}
}

func TestBadInputIsAnError(t *testing.T) {
	for name, in := range map[string]string{
		"not json":          "=== RUN TestA\n",
		"malformed fault":   `{"Action":"output","Package":"p","Test":"TestA","Output":"    a.go:1: fault result: pods_lost=x\n"}`,
		"bad recovery time": `{"Action":"output","Package":"p","Test":"TestA","Output":"    a.go:1: fault result: pods_lost=0 pods_run_twice=0 recovery=soon\n"}`,
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTableShowsFaultColumnsAndTotals(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, read(t, "testdata/run.json")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"SCENARIO", "RECOVERY",
		"TestFault", "fail", "42.3s", "12.3s", "a pod ran twice",
		"TestSkip", "skip", "KUBEMESOS_E2E_FAULTS=1",
		"3 passed, 1 failed, 1 skipped, 0 unfinished",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "TestFault ") && !strings.Contains(l, " 0 ") {
			t.Errorf("fault row without its pods-lost count: %q", l)
		}
		if strings.HasPrefix(l, "TestPass ") && strings.Count(l, " - ") < 3 {
			t.Errorf("non-fault row should show - for the fault columns: %q", l)
		}
	}
}
