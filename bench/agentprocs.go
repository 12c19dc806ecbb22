package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultAgentsPerProcess is how many simulated agents one agent process
// hosts: each agent holds a link to the master and a few pooled
// connections, so 1,000 stay well under an open-file limit of 20,000.
const DefaultAgentsPerProcess = 1000

// agentStopGrace is how long an agent process has after SIGTERM before it
// is killed.
var agentStopGrace = 10 * time.Second

// Shares splits n agents over processes of at most perProcess agents each,
// as evenly as possible: Shares(2500, 1000) is [834 833 833].
func Shares(n, perProcess int) ([]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: %d agents: at least one is needed", n)
	}
	if perProcess < 1 {
		return nil, fmt.Errorf("bench: %d agents per process: at least one is needed", perProcess)
	}
	procs := (n + perProcess - 1) / perProcess
	out := make([]int, procs)
	for i := range out {
		out[i] = n / procs
		if i < n%procs {
			out[i]++
		}
	}
	return out, nil
}

// AgentProcs are the agent processes of one kubemesos run, each started
// as Command followed by AgentsSubcommand's flags, and ended by PID.
type AgentProcs struct {
	procs []*agentProc
}

type agentProc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit, valid after done
	// stopping: Stop sent SIGTERM; an exit after it is expected.
	mu       sync.Mutex
	stopping bool
}

// StartAgentProcs starts one process per share, process i with
// base.Count = shares[i] and base.Hostname = "<base.Hostname>-p<i>" so node
// names stay distinct, its standard error in logDir/agents-<i>.log; it
// returns once every process reported AgentsReady. A process that exits
// or stays silent past timeout fails the start, and every process started
// is stopped.
func StartAgentProcs(ctx context.Context, command []string, base AgentsConfig, shares []int, logDir string, timeout time.Duration) (*AgentProcs, error) {
	if len(command) == 0 {
		return nil, errors.New("bench: no agent command")
	}
	p := &AgentProcs{}
	ready := make(chan int, len(shares))
	for i, n := range shares {
		c := base
		c.Count = n
		c.Hostname = fmt.Sprintf("%s-p%d", base.Hostname, i)
		if _, err := ParseAgentsFlags(c.Args(), nil); err != nil {
			_ = p.Stop()
			return nil, err
		}
		proc, err := startAgentProc(command, c, filepath.Join(logDir, fmt.Sprintf("agents-%d.log", i)), func() { ready <- i })
		if err != nil {
			_ = p.Stop()
			return nil, err
		}
		p.procs = append(p.procs, proc)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for waiting := len(shares); waiting > 0; waiting-- {
		select {
		case <-ready:
		case err := <-p.firstExit():
			_ = p.Stop()
			return nil, err
		case <-deadline.C:
			_ = p.Stop()
			return nil, fmt.Errorf("bench: agent processes not registered within %s (logs in %s)", timeout, logDir)
		case <-ctx.Done():
			_ = p.Stop()
			return nil, ctx.Err()
		}
	}
	return p, nil
}

func startAgentProc(command []string, c AgentsConfig, logPath string, onReady func()) (*agentProc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: agent log: %w", err)
	}
	args := append(append(append([]string{}, command[1:]...), AgentsSubcommand), c.Args()...)
	cmd := exec.Command(command[0], args...)
	cmd.Stderr = log
	// The agents die with the bench even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("bench: agent process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("bench: agent process: %w", err)
	}
	proc := &agentProc{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if s.Text() == AgentsReady {
				onReady()
			}
		}
		err := cmd.Wait()
		proc.mu.Lock()
		if err == nil && !proc.stopping {
			err = errors.New("exited")
		}
		if err != nil {
			err = fmt.Errorf("bench: agent process %d (%s): %w (log %s)", cmd.Process.Pid, c.Hostname, err, logPath)
		}
		proc.err = err
		proc.mu.Unlock()
		close(proc.done)
	}()
	return proc, nil
}

// firstExit delivers the error of the first process that exits.
func (p *AgentProcs) firstExit() <-chan error {
	out := make(chan error, len(p.procs))
	for _, proc := range p.procs {
		go func() {
			<-proc.done
			out <- proc.err
		}()
	}
	return out
}

// PIDs of the processes, in share order.
func (p *AgentProcs) PIDs() []int {
	out := make([]int, len(p.procs))
	for i, proc := range p.procs {
		out[i] = proc.cmd.Process.Pid
	}
	return out
}

// Usage is the sum over the processes of their CPU time and of their peak
// RSS (VmHWM); an error when one has exited.
func (p *AgentProcs) Usage() (Usage, error) {
	var sum Usage
	for _, proc := range p.procs {
		select {
		case <-proc.done:
			return Usage{}, proc.err
		default:
		}
		u, err := ProcessUsage(proc.cmd.Process.Pid)
		if err != nil {
			// A process that just exited is a zombie without VmHWM
			// until it is reaped: report its exit rather than that.
			select {
			case <-proc.done:
				return Usage{}, proc.err
			case <-time.After(time.Second):
				return Usage{}, err
			}
		}
		sum.CPU += u.CPU
		sum.PeakRSS += u.PeakRSS
	}
	return sum, nil
}

// Stop sends SIGTERM to every process by its PID, waits agentStopGrace for
// each to exit and kills those that did not. It returns the first
// unexpected exit or kill.
func (p *AgentProcs) Stop() error {
	for _, proc := range p.procs {
		proc.mu.Lock()
		proc.stopping = true
		proc.mu.Unlock()
		select {
		case <-proc.done:
		default:
			_ = proc.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var first error
	deadline := time.Now().Add(agentStopGrace)
	for _, proc := range p.procs {
		select {
		case <-proc.done:
		case <-time.After(time.Until(deadline)):
			_ = proc.cmd.Process.Kill()
			<-proc.done
			if first == nil {
				first = fmt.Errorf("bench: agent process %d did not stop within %s after SIGTERM; killed", proc.cmd.Process.Pid, agentStopGrace)
			}
		}
		if proc.err != nil && first == nil && !isExitAfterSignal(proc.err) {
			first = proc.err
		}
		proc.log.Close()
	}
	return first
}

// isExitAfterSignal: the process ended by the signal Stop sent (or the
// kill after it) rather than by an error of its own.
func isExitAfterSignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
