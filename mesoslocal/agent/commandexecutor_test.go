package agent_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
)

func commandTask(id, shell string) mesos.TaskInfo {
	ti := task(id, mesos.Offer{})
	ti.Command = &mesos.CommandInfo{Shell: ptr(true), Value: ptr(shell)}
	return ti
}

// states collects the states of a task's updates until a terminal one.
func (s *sched) states(taskID string, timeout time.Duration) ([]mesos.TaskState, mesos.TaskStatus) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []mesos.TaskState
	for {
		st := s.update(taskID, true, time.Until(deadline))
		out = append(out, st.GetState())
		switch st.GetState() {
		case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST:
			return out, st
		}
	}
}

func equalStates(a []mesos.TaskState, b ...mesos.TaskState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Command tasks go STARTING → RUNNING → FINISHED or FAILED by exit code; a
// killed one that ignores SIGTERM is SIGKILLed after its grace period.
func TestCommandExecutor(t *testing.T) {
	e := startEnv(t, func(c *agent.Config) { c.Domain = `{"fault_domain":{"region":{"name":"eu"},"zone":{"name":"eu-1a"}}}` })
	s := subscribe(t, e, frameworkInfo("commands", false))
	o := s.launch(commandTask("ok", "test -d \"$MESOS_SANDBOX\" && exit 0"))
	if d := o.GetDomain().GetFaultDomain(); d == nil || d.Region.Name != "eu" || d.Zone.Name != "eu-1a" {
		t.Errorf("offer domain %+v", o.GetDomain())
	}
	states, st := s.states("ok", 10*time.Second)
	if !equalStates(states, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FINISHED) {
		t.Errorf("ok: states %v (%s)", states, st.GetMessage())
	}
	s.launch(commandTask("bad", "exit 3"))
	states, st = s.states("bad", 10*time.Second)
	if !equalStates(states, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FAILED) || st.GetMessage() != "Command exited with status 3" {
		t.Errorf("bad: states %v message %q", states, st.GetMessage())
	}

	// The shell tells when its trap is in place; a fixed wait is too short
	// on a loaded machine.
	trapped := filepath.Join(t.TempDir(), "trapped")
	stubborn := commandTask("stubborn", "trap '' TERM; touch "+trapped+"; sleep 30")
	stubborn.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(300 * time.Millisecond)}}
	s.launch(stubborn)
	if st := s.update("stubborn", true, 5*time.Second); st.GetState() != mesos.TASK_STARTING {
		t.Fatalf("stubborn: %v", st.GetState())
	}
	if st := s.update("stubborn", true, 5*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("stubborn: %v", st.GetState())
	}
	waitFor(t, 10*time.Second, "the shell's TERM trap", func() bool { _, err := os.Stat(trapped); return err == nil })
	start := time.Now()
	s.call(calls.Kill("stubborn", o.AgentID.Value))
	states, _ = s.states("stubborn", 10*time.Second)
	if !equalStates(states, mesos.TASK_KILLING, mesos.TASK_KILLED) {
		t.Errorf("stubborn: states %v", states)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("killed after %v, want the 300ms grace period", d)
	}
}

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipArchive(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The fetcher downloads CommandInfo URIs from an HTTP server into the
// sandbox, extracts tgz and zip archives, marks files executable and serves
// cached URIs from the fetcher cache.
func TestFetcher(t *testing.T) {
	var cachedHits atomic.Int32
	app := tgz(t, map[string]string{"app/run.sh": "#!/bin/sh\necho fetched\n"})
	data := zipArchive(t, map[string]string{"data/input.txt": "42\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.tgz":
			_, _ = w.Write(app)
		case "/data.zip":
			_, _ = w.Write(data)
		case "/tool":
			cachedHits.Add(1)
			_, _ = w.Write([]byte("#!/bin/sh\necho tool\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("fetching", false))
	uris := []mesos.CommandInfo_URI{
		{Value: srv.URL + "/app.tgz", Extract: ptr(true)},
		{Value: srv.URL + "/data.zip", Extract: ptr(true)},
		{Value: srv.URL + "/tool", Executable: ptr(true), Cache: ptr(true)},
	}
	ti := commandTask("fetch1", `test "$(./app/run.sh)" = fetched && test "$(cat data/input.txt)" = 42 && test "$(./tool)" = tool`)
	ti.Command.URIs = uris
	ti2 := commandTask("fetch2", `test "$(./tool)" = tool`)
	ti2.Command.URIs = uris[2:]
	s.launch(ti)
	if states, st := s.states("fetch1", 10*time.Second); states[len(states)-1] != mesos.TASK_FINISHED {
		t.Fatalf("fetch1: %v %s", states, st.GetMessage())
	}
	s.launch(ti2)
	if states, st := s.states("fetch2", 10*time.Second); states[len(states)-1] != mesos.TASK_FINISHED {
		t.Fatalf("fetch2: %v %s", states, st.GetMessage())
	}
	if n := cachedHits.Load(); n != 1 {
		t.Errorf("cached URI downloaded %d times, want 1", n)
	}

	missing := commandTask("fetch3", "true")
	missing.Command.URIs = []mesos.CommandInfo_URI{{Value: srv.URL + "/missing.tgz"}}
	s.launch(missing)
	if states, st := s.states("fetch3", 10*time.Second); states[len(states)-1] != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED {
		t.Errorf("fetch of a missing URI: %v %v %s", states, st.GetReason(), st.GetMessage())
	}
}

// A download that hangs does not hold the agent: its /state answers while
// the fetch runs, and it stops promptly, cancelling the fetch.
func TestSlowFetchDoesNotBlockAgent(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	e := startEnv(t, nil)
	s := subscribe(t, e, frameworkInfo("slow-fetch", false))
	ti := commandTask("slow", "true")
	ti.Command.URIs = []mesos.CommandInfo_URI{{Value: srv.URL + "/big.tgz"}}
	s.launch(ti)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not start the download")
	}
	stateDone := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + e.agentAddr + "/state")
		if err == nil {
			resp.Body.Close()
		}
		stateDone <- err
	}()
	if err := <-stateDone; err != nil {
		t.Fatalf("agent /state during a fetch: %v", err)
	}
	stopped := make(chan struct{})
	go func() { e.stopAgent(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the agent did not stop during a fetch")
	}
}
