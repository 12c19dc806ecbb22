package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Process is a child process kept running until its context ends: when it
// exits it is started again after a backoff that doubles up to MaxBackoff and
// resets once a run lasted StableAfter. Its stdout and stderr are appended to
// LogPath. It dies with the executor (parent-death signal) and runs in its own
// process group, so stopping it reaches its children too.
type Process struct {
	Name    string
	Path    string
	Args    []string
	LogPath string

	MinBackoff  time.Duration // default 500ms
	MaxBackoff  time.Duration // default 30s
	StableAfter time.Duration // default 60s
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 10s).
	StopTimeout time.Duration

	mu       sync.Mutex
	starts   int
	lastExit error
}

// Starts is how many times the process was started.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Run supervises the process until ctx is done, then stops it (SIGTERM to its
// group, SIGKILL after StopTimeout) and returns once it has exited.
func (p *Process) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("process", p.Name)
	minB, maxB, stable := orDefault(p.MinBackoff, 500*time.Millisecond), orDefault(p.MaxBackoff, 30*time.Second),
		orDefault(p.StableAfter, time.Minute)
	backoff := minB
	for {
		if ctx.Err() != nil {
			return nil
		}
		started := time.Now()
		err := p.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		ran := time.Since(started)
		if ran >= stable {
			backoff = minB
		}
		logger.Error(err, "Supervised process exited; restarting", "ranFor", ran.Round(time.Millisecond), "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxB)
	}
}

func (p *Process) runOnce(ctx context.Context) error {
	log, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log %s: %w", p.LogPath, err)
	}
	defer log.Close()
	fmt.Fprintf(log, "==== %s: starting %s %v\n", time.Now().Format(time.RFC3339Nano), p.Path, p.Args)
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Path, err)
	}
	p.mu.Lock()
	p.starts++
	p.mu.Unlock()
	klog.FromContext(ctx).Info("Started supervised process", "process", p.Name, "pid", cmd.Process.Pid, "log", p.LogPath)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return fmt.Errorf("%s: %w", p.Name, err)
	case <-ctx.Done():
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(orDefault(p.StopTimeout, 10*time.Second)):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	fmt.Fprintf(log, "==== %s: stopped\n", time.Now().Format(time.RFC3339Nano))
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
