package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// DefaultStopGrace is how long a child gets between SIGTERM and SIGKILL when
// it is stopped because its context is done.
const DefaultStopGrace = 10 * time.Second

// NetNSDir is where named network namespaces are (as `ip netns add` makes them).
const NetNSDir = "/var/run/netns"

// Spec says what to run.
type Spec struct {
	// Name identifies the process in logs and errors.
	Name string
	// Path is the program to run.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is the child's whole environment. When nil the child inherits the
	// parent's environment (as with os/exec).
	Env []string
	// Dir is the working directory; empty means the parent's.
	Dir string
	// LogFile receives the child's stdout and stderr, appended. Its directory
	// is created. Empty discards the output.
	LogFile string
	// NetNS, when set, runs the child inside /var/run/netns/<NetNS>.
	NetNS string
}

// Process is a started child.
type Process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File

	exited  chan struct{}
	waitErr error // set before exited is closed

	stopOnce sync.Once
	stopErr  error
	stopping chan struct{} // closed when Stop begins
}

// ErrExitedEarly is wrapped by callers that expected a process to keep running.
var ErrExitedEarly = errors.New("process exited")

// Start starts the child described by s. The child is stopped with
// DefaultStopGrace when ctx is done.
func Start(ctx context.Context, s Spec) (*Process, error) {
	if s.Path == "" {
		return nil, fmt.Errorf("proc %q: no path", s.Name)
	}
	if s.Name == "" {
		s.Name = filepath.Base(s.Path)
	}
	path, args := s.Path, s.Args
	if s.NetNS != "" {
		nsenter, err := exec.LookPath("nsenter")
		if err != nil {
			return nil, fmt.Errorf("proc %q: netns %q needs nsenter: %w", s.Name, s.NetNS, err)
		}
		ns := filepath.Join(NetNSDir, s.NetNS)
		if _, err := os.Stat(ns); err != nil {
			return nil, fmt.Errorf("proc %q: network namespace: %w", s.Name, err)
		}
		args = append([]string{"--net=" + ns, "--", s.Path}, s.Args...)
		path = nsenter
	}
	cmd := exec.Command(path, args...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	var logFile *os.File
	if s.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(s.LogFile), 0o755); err != nil {
			return nil, fmt.Errorf("proc %q: log dir: %w", s.Name, err)
		}
		f, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("proc %q: log file: %w", s.Name, err)
		}
		logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	}
	if err := spawn(cmd); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("proc %q: start %s: %w", s.Name, s.Path, err)
	}
	p := &Process{
		name:     s.Name,
		cmd:      cmd,
		log:      logFile,
		exited:   make(chan struct{}),
		stopping: make(chan struct{}),
	}
	klog.FromContext(ctx).V(2).Info("Started process", "name", s.Name, "pid", cmd.Process.Pid, "path", s.Path, "netns", s.NetNS)
	go p.wait(ctx)
	go func() {
		select {
		case <-ctx.Done():
			if err := p.Stop(DefaultStopGrace); err != nil {
				klog.FromContext(ctx).Error(err, "Stopping process after context end", "name", p.name)
			}
		case <-p.exited:
		case <-p.stopping:
		}
	}()
	return p, nil
}

// Pdeathsig fires when the *thread* that forked the child exits, not the
// process. The Go runtime ends a thread when a goroutine locked to it (for
// example one that switched network namespaces) returns without unlocking,
// which would kill children started from it. So every child is forked from
// one goroutine locked to its thread for the life of the process.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnReq {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnReq <- r
	return <-r.done
}

func (p *Process) wait(ctx context.Context) {
	err := p.cmd.Wait()
	if p.log != nil {
		p.log.Close()
	}
	if err != nil {
		p.waitErr = fmt.Errorf("proc %q (pid %d): %w", p.name, p.cmd.Process.Pid, err)
	}
	klog.FromContext(ctx).V(2).Info("Process exited", "name", p.name, "pid", p.cmd.Process.Pid, "err", err)
	close(p.exited)
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// PID is the child's process ID (also its process group ID).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the child has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Wait blocks until the child exits and returns how it ended: nil for exit
// status 0, otherwise an error wrapping *exec.ExitError.
func (p *Process) Wait() error {
	<-p.exited
	return p.waitErr
}

// Err returns how the child ended, or nil while it still runs.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

// Signal sends sig to the child's process group (for fault injection:
// syscall.SIGKILL is a crash, SIGSTOP a hang). A group that is gone is not
// an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("proc %q: signal %v to group %d: %w", p.name, sig, p.cmd.Process.Pid, err)
	}
	return nil
}

// Stop sends SIGTERM to the child's process group, waits up to grace for the
// child to exit, then sends SIGKILL to the group and waits for the child to be
// reaped. It returns nil once the child is gone, however it ended; calling it
// again returns the first result.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		close(p.stopping)
		p.stopErr = p.stop(grace)
	})
	return p.stopErr
}

func (p *Process) stop(grace time.Duration) error {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		// The leader is gone; take down anything it left in its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("proc %q: SIGTERM to group %d: %w", p.name, pgid, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	case <-t.C:
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("proc %q: SIGKILL to group %d: %w", p.name, pgid, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("proc %q (pid %d): still not reaped 30s after SIGKILL", p.name, pgid)
	}
}

// Alive reports whether a process with this PID exists and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return errors.Is(err, syscall.EPERM)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return true
}

// Tail returns up to the last n bytes of a log file, for error messages.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b)
}
