package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/devcluster/proc"
)

// Fault injection for end-to-end tests: crash one of the cluster's
// processes and start it again, cut an agent's host off the switch and
// wire it back. Names are those of the logs: BridgeName(i), MasterName(i),
// the agents' names.

// ErrUnknownProcess is returned for a name the cluster did not start.
var ErrUnknownProcess = errors.New("devcluster: no such cluster process")

// ErrRunning is returned by Restart for a process that runs (again).
var ErrRunning = errors.New("devcluster: process is running")

// SuperviseDelay is how long a supervised process that exited stays down
// before it is started again.
const SuperviseDelay = 2 * time.Second

// supervise starts name again after SuperviseDelay, and again after each
// failed start, until it runs (also when a test restarted it first) or
// the cluster stops.
func (c *Cluster) supervise(life context.Context, name string) {
	logger := klog.FromContext(life)
	for {
		select {
		case <-life.Done():
			return
		case <-time.After(SuperviseDelay):
		}
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return
		}
		err := c.Restart(name)
		if err == nil {
			logger.Info("Supervised process started again", "name", name)
			return
		}
		if errors.Is(err, ErrRunning) {
			return
		}
		logger.Error(err, "Starting a supervised process again", "name", name)
	}
}

// Running reports whether name runs now.
func (c *Cluster) Running(name string) bool {
	p, err := c.process(name)
	if err != nil {
		return false
	}
	select {
	case <-p.Exited():
		return false
	default:
		return true
	}
}

func (c *Cluster) process(name string) (*proc.Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProcess, name)
	}
	return p, nil
}

// PID is the process ID of the cluster process name.
func (c *Cluster) PID(name string) (int, error) {
	p, err := c.process(name)
	if err != nil {
		return 0, err
	}
	return p.PID(), nil
}

// Kill sends SIGKILL to the process group of name (kill -9, a crash) and
// waits until it has exited.
func (c *Cluster) Kill(name string) error {
	p, err := c.process(name)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.Exited():
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("devcluster: %s (pid %d) still running 30s after SIGKILL", name, p.PID())
	}
}

// Restart starts name again, with the same command, environment and log
// file, once it has exited (after Kill, or a crash of its own), and records
// its new PID in the state file. A Mesos master of several is supervised:
// it is started again SuperviseDelay after it exited, and Restart of one
// that is back returns ErrRunning.
func (c *Cluster) Restart(name string) error {
	if err := c.stopped(name); err != nil {
		return err
	}
	c.mu.Lock()
	spec, marker, life := c.specs[name], c.markers[name], c.life
	c.mu.Unlock()
	if life == nil || life.Err() != nil {
		return fmt.Errorf("devcluster: restart %s: the cluster is stopping", name)
	}
	_, rec, err := c.child(life, name, spec, marker)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, list := range [][]Proc{c.state.Bridges, c.state.Agents, c.state.Masters} {
		for i := range list {
			if list[i].Name == name {
				list[i] = *rec
			}
		}
	}
	if c.state.Master != nil && c.state.Master.Name == name {
		c.state.Master = rec
	}
	c.mu.Unlock()
	return c.save()
}

// Args are the arguments the cluster process name runs with.
func (c *Cluster) Args(name string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	spec, ok := c.specs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProcess, name)
	}
	return append([]string(nil), spec.Args...), nil
}

// RestartWithArgs is Restart with other arguments (a bridge given another
// --executor-command, say), which later restarts keep.
func (c *Cluster) RestartWithArgs(name string, args []string) error {
	if err := c.stopped(name); err != nil {
		return err
	}
	c.mu.Lock()
	spec := c.specs[name]
	spec.Args = append([]string(nil), args...)
	c.specs[name] = spec
	c.mu.Unlock()
	return c.Restart(name)
}

// stopped returns nil when the process name has exited, ErrRunning while it
// runs, ErrUnknownProcess for a name the cluster did not start.
func (c *Cluster) stopped(name string) error {
	p, err := c.process(name)
	if err != nil {
		return err
	}
	select {
	case <-p.Exited():
		return nil
	default:
		return fmt.Errorf("%w: %s (pid %d)", ErrRunning, name, p.PID())
	}
}

func (c *Cluster) host(agent string) (node.State, error) {
	for _, h := range c.Hosts {
		if h.Name == agent {
			return h, nil
		}
	}
	return node.State{}, fmt.Errorf("%w: no host %q", ErrUnknownProcess, agent)
}

// Partition cuts the host of agent off the switch: its veth leaves the
// bridge, so nothing reaches it or leaves it — not the master, the API
// server, other hosts or their pods — while every process on it keeps
// running. Heal undoes it.
func (c *Cluster) Partition(ctx context.Context, agent string) error {
	h, err := c.host(agent)
	if err != nil {
		return err
	}
	return ipLink(ctx, "set", h.HostVeth, "nomaster")
}

// Heal wires a partitioned host back to the switch.
func (c *Cluster) Heal(ctx context.Context, agent string) error {
	h, err := c.host(agent)
	if err != nil {
		return err
	}
	return ipLink(ctx, "set", h.HostVeth, "master", h.Bridge)
}

func ipLink(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"link"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("devcluster: ip link %v: %w: %s", args, err, out)
	}
	return nil
}
