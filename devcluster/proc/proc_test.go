package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPID waits for a file holding a PID and returns it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func TestStopTerminatesWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	logFile := filepath.Join(dir, "logs", "sh.log")
	p, err := Start(t.Context(), Spec{
		Name:    "sh",
		Path:    "/bin/sh",
		Args:    []string{"-c", `echo hello; sleep 300 & echo $! > "$0.tmp"; mv "$0.tmp" "$0"; wait`, pidFile},
		LogFile: logFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	grandchild := readPID(t, pidFile)
	if !Alive(p.PID()) || !Alive(grandchild) {
		t.Fatalf("child %d alive=%v, grandchild %d alive=%v", p.PID(), Alive(p.PID()), grandchild, Alive(grandchild))
	}
	if p.Err() != nil {
		t.Fatalf("Err() of a running process = %v", p.Err())
	}
	start := time.Now()
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("SIGTERM-able child took %v to stop", took)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited() not closed after Stop")
	}
	waitFor(t, 5*time.Second, "grandchild to die", func() bool { return !Alive(grandchild) })
	if Alive(p.PID()) {
		t.Errorf("child %d still alive", p.PID())
	}
	if got := Tail(logFile, 100); !strings.Contains(got, "hello") {
		t.Errorf("log file = %q, want it to contain the child's output", got)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	p, err := Start(t.Context(), Spec{
		Name: "stubborn",
		Path: "/bin/sh",
		// The shell ignores SIGTERM and so does its sleep child (ignored
		// signals are inherited).
		Args: []string{"-c", `trap "" TERM; touch "$0"; sleep 300`, ready},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "trap installed", func() bool { _, err := os.Stat(ready); return err == nil })
	start := time.Now()
	if err := p.Stop(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Errorf("stopped after %v, before the grace period: SIGTERM was not ignored?", took)
	}
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Errorf("Wait() = %v, want a signalled exit", err)
	}
	if Alive(p.PID()) {
		t.Errorf("pid %d alive after SIGKILL", p.PID())
	}
}

func TestWaitReportsExitStatus(t *testing.T) {
	p, err := Start(t.Context(), Spec{Path: "/bin/sh", Args: []string{"-c", "exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait() = %v, want exit status 3", err)
	}
	if p.Name() != "sh" {
		t.Errorf("Name() = %q, want the program's base name", p.Name())
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop after exit = %v", err)
	}
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p, err := Start(t.Context(), Spec{
		Path: "/bin/sh",
		Args: []string{"-c", `echo "$FOO $(pwd) ${HOME:-nohome}" > out`},
		Env:  []string{"FOO=bar"},
		Dir:  dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "bar " + dir + " nohome\n"; string(b) != want {
		t.Errorf("child saw %q, want %q", b, want)
	}
}

func TestContextEndStopsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Start(ctx, Spec{Path: "/bin/sleep", Args: []string{"300"}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("process outlived its context")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(t.Context(), Spec{Name: "x"}); err == nil {
		t.Error("Start without a path succeeded")
	}
	if _, err := Start(t.Context(), Spec{Path: "/nonexistent/binary"}); err == nil {
		t.Error("Start of a missing binary succeeded")
	}
	if _, err := Start(t.Context(), Spec{Path: "/bin/true", NetNS: "kubemesos-no-such-ns"}); err == nil {
		t.Error("Start in a missing network namespace succeeded")
	}
}

// TestHelperParent is not a test: it is the parent process that
// TestChildDiesWithParent starts and then kills.
func TestHelperParent(t *testing.T) {
	pidFile := os.Getenv("PROC_TEST_CHILD_PID_FILE")
	if pidFile == "" {
		t.Skip("helper process only")
	}
	p, err := Start(context.Background(), Spec{Path: "/bin/sleep", Args: []string{"300"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(pidFile+".tmp", []byte(fmt.Sprintf("%d\n", p.PID())), 0o644); err != nil {
		os.Exit(1)
	}
	if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
		os.Exit(1)
	}
	time.Sleep(5 * time.Minute)
}

func TestChildDiesWithParent(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	parent := exec.Command(os.Args[0], "-test.run=^TestHelperParent$")
	parent.Env = append(os.Environ(), "PROC_TEST_CHILD_PID_FILE="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Wait() //nolint:errcheck // killed on purpose
	child := readPID(t, pidFile)
	if !Alive(child) {
		t.Fatalf("child %d not running", child)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "orphaned child to die", func() bool { return !Alive(child) })
}

func TestNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	ns := fmt.Sprintf("kmproc-%d", os.Getpid())
	if out, err := exec.Command(ipCmd, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ipCmd, "netns", "delete", ns).Run() })

	out := filepath.Join(t.TempDir(), "ns")
	p, err := Start(t.Context(), Spec{
		Path:  "/bin/sh",
		Args:  []string{"-c", `readlink /proc/self/ns/net > "$0"; echo $$ >> "$0"`, out},
		NetNS: ns,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0] == own {
		t.Fatalf("child network namespace %q, ours %q", b, own)
	}
	if lines[1] != strconv.Itoa(p.PID()) {
		t.Errorf("child saw pid %s, PID() = %d: nsenter did not exec in place", lines[1], p.PID())
	}
}

// A child started from a goroutine that dies locked to its thread (which ends
// that thread) must not receive its parent-death signal. Several rounds,
// because the runtime keeps the main thread alive instead of ending it.
func TestChildSurvivesStartingThreadExit(t *testing.T) {
	var children []*Process
	defer func() {
		for _, p := range children {
			_ = p.Stop(time.Second)
		}
	}()
	for range 3 {
		started := make(chan *Process, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the runtime ends this thread when the goroutine returns
			p, err := Start(t.Context(), Spec{Path: "/bin/sleep", Args: []string{"300"}})
			if err != nil {
				t.Error(err)
			}
			started <- p
		}()
		p := <-started
		if p == nil {
			t.FailNow()
		}
		children = append(children, p)
	}
	time.Sleep(300 * time.Millisecond)
	for i, p := range children {
		if !Alive(p.PID()) {
			t.Errorf("child %d died with the thread of the goroutine that started it", i)
		}
	}
}

func TestSignal(t *testing.T) {
	p, err := Start(t.Context(), Spec{Path: "/bin/sleep", Args: []string{"300"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("Wait() = %v, want killed by SIGKILL", err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal to a gone group = %v", err)
	}
}
