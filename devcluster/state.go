package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/devcluster/proc"
)

// StateFile is the name, under the cluster directory, of the file Down reads.
const StateFile = "state.json"

// State records what Up started, for Down after a crash.
type State struct {
	Dir string `json:"dir"`
	// Owner is the process that ran Up and still supervises the cluster.
	Owner        *Proc             `json:"owner,omitempty"`
	Switch       *node.SwitchState `json:"switch,omitempty"`
	ControlPlane []Proc            `json:"controlPlane,omitempty"`
	Master       *Proc             `json:"master,omitempty"`
	// Masters are the masters after the first when several run.
	Masters []Proc       `json:"masters,omitempty"`
	Hosts   []node.State `json:"hosts,omitempty"`
	Agents  []Proc       `json:"agents,omitempty"`
	// Bridge is the single bridge of a state file written before several ran.
	Bridge  *Proc  `json:"bridge,omitempty"`
	Bridges []Proc `json:"bridges,omitempty"`
}

// Proc is a recorded process.
type Proc struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Marker is a string its command line contains; a PID whose command line
	// lacks it belongs to another process now and is left alone.
	Marker string `json:"marker"`
	// Exe and StartTime, when set, identify the process instead of Marker:
	// its executable (/proc/PID/exe resolved) and its start time (clock
	// ticks after boot, /proc/PID/stat), which a reused PID does not have.
	// The owner is recorded so: its command line says only how it was
	// invoked ("bin/kubemesos up", "./kubemesos up", a symlink).
	Exe       string `json:"exe,omitempty"`
	StartTime uint64 `json:"startTime,omitempty"`
}

// ownerProc records the calling process as a cluster's owner.
func ownerProc() *Proc {
	pid := os.Getpid()
	p := &Proc{Name: "owner", PID: pid}
	p.Exe, _ = procExe(pid)
	p.StartTime, _ = procStartTime(pid)
	if p.Exe == "" || p.StartTime == 0 {
		// No /proc: fall back to the command line.
		p.Marker, _ = os.Executable()
	}
	return p
}

// is reports whether the process with p's PID is still the one recorded.
func (p Proc) is() bool {
	if p.PID <= 0 || !proc.Alive(p.PID) {
		return false
	}
	if p.Exe == "" {
		return cmdlineHas(p.PID, p.Marker)
	}
	exe, err := procExe(p.PID)
	if err != nil || exe != p.Exe {
		return false
	}
	start, err := procStartTime(p.PID)
	return err == nil && start == p.StartTime
}

// procExe is the executable of a process. A binary replaced on disk since
// the process started (a rebuild of bin/kubemesos) still names it: the
// kernel's " (deleted)" suffix is dropped.
func procExe(pid int) (string, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}

// procStartTime is a process's start time in clock ticks after boot (field
// 22 of /proc/PID/stat).
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name, which may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // fields 1 (pid) and 2 (comm) precede; field 3 is fields[0]
	if len(fields) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	return strconv.ParseUint(fields[startField], 10, 64)
}

func statePath(dir string) string { return filepath.Join(dir, StateFile) }

// ReadState reads the state file of the cluster in dir; it returns
// os.ErrNotExist (wrapped) when there is none.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("devcluster: %s: %w", statePath(dir), err)
	}
	return &st, nil
}

func writeState(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(st.Dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("devcluster: state: %w", err)
	}
	if err := os.Rename(tmp, statePath(st.Dir)); err != nil {
		return fmt.Errorf("devcluster: state: %w", err)
	}
	return nil
}

// Down tears down the cluster recorded in dir's state file: the bridge, the
// agents (and whatever still runs on their hosts), the hosts, the master, the
// control plane and the switch. It is idempotent; without a state file it
// does nothing.
func Down(ctx context.Context, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	st, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		klog.FromContext(ctx).Info("No cluster recorded", "dir", dir)
		return nil
	}
	if err != nil {
		return err
	}
	if st.Owner != nil && st.Owner.PID != os.Getpid() && st.Owner.is() {
		// The process that ran Up tears down best: ask it and wait.
		klog.FromContext(ctx).Info("Asking the process that runs the cluster to stop it", "pid", st.Owner.PID)
		if err := syscall.Kill(st.Owner.PID, syscall.SIGTERM); err == nil {
			for proc.Alive(st.Owner.PID) {
				select {
				case <-ctx.Done():
					return fmt.Errorf("devcluster: waiting for pid %d to stop the cluster: %w", st.Owner.PID, ctx.Err())
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
		if st, err = ReadState(dir); errors.Is(err, os.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return teardown(ctx, st, nil)
}

func cmdlineHas(pid int, marker string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && marker != "" && bytes.Contains(b, []byte(marker))
}

// teardown undoes st in reverse start order. live, when set, stops the
// processes through their supervisors instead of by recorded PID.
func teardown(ctx context.Context, st *State, live *Cluster) error {
	logger := klog.FromContext(ctx)
	var errs []error
	stop := func(p *Proc, sup *proc.Process, grace time.Duration) {
		if p == nil {
			return
		}
		var err error
		if sup != nil {
			err = sup.Stop(grace)
		} else {
			err = stopRecorded(ctx, *p, grace)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.Name, err))
		} else {
			logger.V(1).Info("Stopped", "name", p.Name, "pid", p.PID)
		}
	}
	sup := func(name string) *proc.Process {
		if live == nil {
			return nil
		}
		return live.procs[name]
	}
	stop(st.Bridge, sup("bridge"), 10*time.Second)
	for i := range st.Bridges {
		stop(&st.Bridges[i], sup(st.Bridges[i].Name), 10*time.Second)
	}
	for i := range st.Agents {
		// SIGUSR1 makes a Mesos agent shut every executor down before it
		// exits (SIGTERM alone leaves checkpointed executors running for the
		// next agent to recover); the executors stop their kubelets.
		a := &st.Agents[i]
		if a.PID > 0 && cmdlineHas(a.PID, a.Marker) && syscall.Kill(a.PID, syscall.SIGUSR1) == nil {
			deadline := time.Now().Add(30 * time.Second)
			for proc.Alive(a.PID) && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
		stop(a, sup(a.Name), 30*time.Second)
	}
	for i := len(st.Hosts) - 1; i >= 0; i-- {
		var err error
		if live != nil && live.hosts[st.Hosts[i].Name] != nil {
			err = live.hosts[st.Hosts[i].Name].Destroy(ctx)
		} else {
			err = node.Teardown(ctx, st.Hosts[i])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", st.Hosts[i].Name, err))
		} else {
			logger.V(1).Info("Host torn down", "host", st.Hosts[i].Name)
		}
	}
	for i := range st.Masters {
		stop(&st.Masters[i], sup(st.Masters[i].Name), 10*time.Second)
	}
	stop(st.Master, sup(MasterName(1)), 10*time.Second)
	if live != nil && live.ControlPlane != nil {
		if err := live.ControlPlane.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("control plane: %w", err))
		}
	} else {
		for i := len(st.ControlPlane) - 1; i >= 0; i-- {
			stop(&st.ControlPlane[i], nil, 15*time.Second)
		}
		_ = os.Remove(filepath.Join(st.Dir, "controlplane", "controlplane.json"))
	}
	if st.Switch != nil {
		// After the kubelets: it restores the sysctls they changed.
		if err := node.TeardownSwitch(ctx, *st.Switch); err != nil {
			errs = append(errs, fmt.Errorf("switch: %w", err))
		}
	}
	// Empty once every host is gone; fails harmlessly otherwise.
	_ = os.Remove(node.DefaultRunDir)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devcluster: down: %w", err)
	}
	if err := os.Remove(statePath(st.Dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("devcluster: %w", err)
	}
	logger.Info("Cluster down", "dir", st.Dir)
	return nil
}

// stopRecorded stops a process known by its recorded PID (and process
// group, as proc starts every child in its own) if its command line still
// contains the marker.
func stopRecorded(ctx context.Context, p Proc, grace time.Duration) error {
	if p.PID <= 0 || !proc.Alive(p.PID) {
		return nil
	}
	if !cmdlineHas(p.PID, p.Marker) {
		klog.FromContext(ctx).Info("Recorded PID is another process now; leaving it", "name", p.Name, "pid", p.PID)
		return nil
	}
	signal := func(sig syscall.Signal) {
		// The group first (proc makes each child a group leader), then the PID.
		if pgid, err := syscall.Getpgid(p.PID); err == nil && pgid == p.PID {
			_ = syscall.Kill(-p.PID, sig)
		}
		_ = syscall.Kill(p.PID, sig)
	}
	signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for proc.Alive(p.PID) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if proc.Alive(p.PID) {
		signal(syscall.SIGKILL)
		for i := 0; i < 50 && proc.Alive(p.PID); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if proc.Alive(p.PID) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, p.PID)
	}
	return nil
}
