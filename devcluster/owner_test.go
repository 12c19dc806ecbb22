package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/devcluster/proc"
)

// ownerDirEnv makes the test binary stand in for a `kubemesos up`: it records
// itself as the owner of a cluster in that directory, as Up does, and on
// SIGTERM removes the record (its teardown) and exits 0.
const ownerDirEnv = "DEVCLUSTER_TEST_OWNER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(ownerDirEnv); dir != "" {
		os.Exit(runFakeOwner(dir))
	}
	os.Exit(m.Run())
}

func runFakeOwner(dir string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if err := writeState(&State{Dir: dir, Owner: ownerProc()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {
	case <-term:
	case <-time.After(time.Minute):
		return 2
	}
	if err := os.Remove(statePath(dir)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestDownStopsOwnerStartedByRelativePath: Down finds the process that runs
// the cluster by its executable and start time, so an `up` started as
// `bin/kubemesos up` (a command line without the absolute path) is asked to
// stop, and Down returns once it has.
func TestDownStopsOwnerStartedByRelativePath(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("./"+filepath.Base(exe), "-test.run=^$")
	cmd.Dir = filepath.Dir(exe)
	cmd.Env = append(os.Environ(), ownerDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if proc.Alive(cmd.Process.Pid) {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var st *State
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err = ReadState(dir); err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			t.Fatalf("owner did not record itself: %v", err)
		}
	}
	if st.Owner.PID != cmd.Process.Pid {
		t.Fatalf("recorded owner pid %d, want %d", st.Owner.PID, cmd.Process.Pid)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); strings.Contains(string(b), exe) {
		t.Fatalf("the owner's command line %q names the absolute path; the test needs a relative one", b)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := Down(ctx, dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("owner ended with %v, want a clean exit after SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Down returned but the owner still runs")
	}
	if _, err := ReadState(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state after Down: %v, want none", err)
	}
}

// TestOwnerIdentity: a recorded process is recognised by executable and
// start time, whatever its command line; the same PID with another start
// time (a reused PID) or another executable is not it.
func TestOwnerIdentity(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	exe, err := procExe(pid)
	if err != nil {
		t.Fatal(err)
	}
	start, err := procStartTime(pid)
	if err != nil || start == 0 {
		t.Fatalf("start time %d: %v", start, err)
	}
	self := ownerProc()
	if self.Exe == "" || self.StartTime == 0 || !self.is() {
		t.Fatalf("ownerProc() = %+v does not identify this process", self)
	}
	for _, tc := range []struct {
		name string
		p    Proc
		want bool
	}{
		{"same process", Proc{PID: pid, Exe: exe, StartTime: start}, true},
		{"reused PID", Proc{PID: pid, Exe: exe, StartTime: start + 1}, false},
		{"other executable", Proc{PID: pid, Exe: exe + "-other", StartTime: start}, false},
		{"gone", Proc{PID: 0, Exe: exe, StartTime: start}, false},
		{"old record by command line", Proc{PID: pid, Marker: "30"}, true},
	} {
		if got := tc.p.is(); got != tc.want {
			t.Errorf("%s: is() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
