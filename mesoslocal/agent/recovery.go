package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/internal/atomicfile"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// The agent checkpoints what it needs to recover after a restart with the
// same work directory, as Mesos' agent does under <work_dir>/meta: its ID,
// and for frameworks with FrameworkInfo.checkpoint set their executors
// (pid, container, sandbox), tasks with their latest state and the status
// updates not yet acknowledged. A restarted agent adopts the executors
// whose processes still run; they re-subscribe (the mesos-go executor
// library retries for MESOS_RECOVERY_TIMEOUT) and the agent re-registers
// with the master with their tasks.

// checkpointFile is the agent's checkpoint, relative to the work directory.
const checkpointFile = "meta/mesoslocal-agent.json"

type checkpoint struct {
	AgentID    string                `json:"agent_id"`
	Frameworks []checkpointFramework `json:"frameworks,omitempty"`
	Updates    []checkpointUpdate    `json:"updates,omitempty"`
}

type checkpointFramework struct {
	ID        string               `json:"id"`
	Info      []byte               `json:"info"` // mesos.FrameworkInfo
	Executors []checkpointExecutor `json:"executors,omitempty"`
}

type checkpointExecutor struct {
	Info        []byte           `json:"info"` // mesos.ExecutorInfo
	Command     bool             `json:"command,omitempty"`
	ContainerID string           `json:"container_id"`
	Directory   string           `json:"directory"`
	PID         int              `json:"pid"`
	StartTime   uint64           `json:"start_time"` // /proc/<pid>/stat starttime, against PID reuse
	Tasks       []checkpointTask `json:"tasks,omitempty"`
	Pending     [][]byte         `json:"pending,omitempty"` // mesos.TaskInfo not yet sent to the executor
}

type checkpointTask struct {
	Info   []byte `json:"info"` // mesos.TaskInfo
	State  string `json:"state"`
	Killed bool   `json:"killed,omitempty"`
}

type checkpointUpdate struct {
	FrameworkID string `json:"framework_id"`
	Status      []byte `json:"status"` // mesos.TaskStatus, in order per task
}

func (a *Agent) checkpointPath() string { return filepath.Join(a.cfg.WorkDir, checkpointFile) }

// snapshotLocked builds the checkpoint of the current state.
func (a *Agent) snapshotLocked() checkpoint {
	cp := checkpoint{AgentID: a.id}
	fwIDs := make([]string, 0, len(a.frameworks))
	for id := range a.frameworks {
		fwIDs = append(fwIDs, id)
	}
	sort.Strings(fwIDs)
	checkpointed := map[string]bool{}
	for _, id := range fwIDs {
		fw := a.frameworks[id]
		if fw.removed || !fw.info.GetCheckpoint() {
			continue
		}
		checkpointed[id] = true
		cf := checkpointFramework{ID: id, Info: link.Marshal(&fw.info)}
		eids := make([]string, 0, len(fw.executors))
		for eid := range fw.executors {
			eids = append(eids, eid)
		}
		sort.Strings(eids)
		for _, eid := range eids {
			r := fw.executors[eid]
			if r.exited || r.pid <= 0 {
				continue
			}
			ce := checkpointExecutor{Info: link.Marshal(&r.info), Command: r.command, ContainerID: r.containerID, Directory: r.dir, PID: r.pid, StartTime: r.startTime}
			tids := make([]string, 0, len(r.tasks))
			for tid := range r.tasks {
				tids = append(tids, tid)
			}
			sort.Strings(tids)
			for _, tid := range tids {
				t := r.tasks[tid]
				ce.Tasks = append(ce.Tasks, checkpointTask{Info: link.Marshal(&t.info), State: t.state.String(), Killed: t.killed})
			}
			for i := range r.pending {
				ce.Pending = append(ce.Pending, link.Marshal(&r.pending[i]))
			}
			cf.Executors = append(cf.Executors, ce)
		}
		cp.Frameworks = append(cp.Frameworks, cf)
	}
	cp.Updates = a.updates.snapshot(checkpointed)
	return cp
}

// checkpointLoop writes the checkpoint whenever the state changed, every
// interval, and once more when ctx ends.
func (a *Agent) checkpointLoop(ctx context.Context, interval time.Duration) {
	var last []byte
	write := func() {
		a.mu.Lock()
		cp := a.snapshotLocked()
		a.mu.Unlock()
		if cp.AgentID == "" {
			return
		}
		b, err := json.Marshal(cp)
		if err != nil {
			klog.ErrorS(err, "Encoding the agent checkpoint failed")
			return
		}
		if bytes.Equal(b, last) {
			return
		}
		if err := atomicfile.Write(a.checkpointPath(), b, 0o644); err != nil {
			klog.ErrorS(err, "Writing the agent checkpoint failed")
			return
		}
		last = b
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			write()
			return
		case <-t.C:
			write()
		}
	}
}

// removeCheckpoint forgets the checkpointed state (the agent was removed
// from the cluster and starts afresh).
func (a *Agent) removeCheckpoint() {
	if err := os.Remove(a.checkpointPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		klog.ErrorS(err, "Removing the agent checkpoint failed")
	}
}

// recoverState reads the checkpoint and adopts the executors whose
// processes still run. Executors that are gone have their non-terminal
// tasks failed; custom executors that do not re-subscribe within the
// executor re-registration timeout are shut down.
func (a *Agent) recoverState(ctx context.Context) error {
	b, err := os.ReadFile(a.checkpointPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("decode checkpoint %s: %w", a.checkpointPath(), err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.id = cp.AgentID
	var adopted, lost []*executorRun
	for _, cf := range cp.Frameworks {
		var fi mesos.FrameworkInfo
		if err := link.Unmarshal(cf.Info, &fi); err != nil {
			return fmt.Errorf("checkpointed framework %s: %w", cf.ID, err)
		}
		fw := a.frameworkLocked(cf.ID, &fi)
		for _, ce := range cf.Executors {
			var ei mesos.ExecutorInfo
			if err := link.Unmarshal(ce.Info, &ei); err != nil {
				return fmt.Errorf("checkpointed executor of %s: %w", cf.ID, err)
			}
			r := &executorRun{
				fwID: cf.ID, info: ei, command: ce.Command, containerID: ce.ContainerID, dir: ce.Directory,
				pid: ce.PID, startTime: ce.StartTime, tasks: map[string]*agentTask{}, done: make(chan struct{}), recovered: true,
			}
			for _, ct := range ce.Tasks {
				var ti mesos.TaskInfo
				if err := link.Unmarshal(ct.Info, &ti); err != nil {
					return fmt.Errorf("checkpointed task of %s: %w", cf.ID, err)
				}
				state := mesos.TASK_STAGING
				if v, ok := mesos.TaskState_value[ct.State]; ok {
					state = mesos.TaskState(v)
				}
				r.tasks[ti.TaskID.Value] = &agentTask{info: ti, state: state, killed: ct.Killed}
			}
			for _, p := range ce.Pending {
				var ti mesos.TaskInfo
				if err := link.Unmarshal(p, &ti); err == nil {
					r.pending = append(r.pending, ti)
				}
			}
			fw.executors[ei.ExecutorID.Value] = r
			if processAlive(ce.PID, ce.StartTime) {
				adopted = append(adopted, r)
			} else {
				lost = append(lost, r)
			}
		}
	}
	for _, u := range cp.Updates {
		var st mesos.TaskStatus
		if err := link.Unmarshal(u.Status, &st); err != nil {
			continue
		}
		a.updates.add(u.FrameworkID, st, nil)
	}
	klog.InfoS("Recovered agent state", "agent", a.id, "executors", len(adopted), "gone", len(lost), "updates", len(cp.Updates))
	for _, r := range lost {
		klog.InfoS("Checkpointed executor is no longer running", "framework", r.fwID, "executor", r.info.ExecutorID.Value, "pid", r.pid)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.executorExited(r, -1, errors.New("executor process is gone after agent restart"))
		}()
	}
	for _, r := range adopted {
		klog.InfoS("Adopted running executor", "framework", r.fwID, "executor", r.info.ExecutorID.Value, "pid", r.pid)
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.watchAdopted(ctx, r) }()
		if !r.command {
			time.AfterFunc(a.cfg.ExecutorReregistrationTimeout, func() { a.reregistrationTimeout(r) })
		}
	}
	return nil
}

// reregistrationTimeout shuts down a recovered executor that did not
// re-subscribe in time, as Mesos does after --executor_reregistration_timeout.
func (a *Agent) reregistrationTimeout(r *executorRun) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.exited || r.subscribedOnce {
		return
	}
	klog.InfoS("Recovered executor did not re-subscribe in time, shutting it down", "framework", r.fwID, "executor", r.info.ExecutorID.Value)
	for _, t := range r.tasks {
		if !isTerminal(t.state) {
			a.agentUpdateLocked(r, t.info.TaskID, mesos.TASK_FAILED, mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT, "Executor did not reregister within "+a.cfg.ExecutorReregistrationTimeout.String())
		}
	}
	r.shutdown = true
	a.terminateLocked(r, 0)
}

// watchAdopted waits for an adopted process (not a child of this agent) to
// end, then handles it like any executor exit; its status is unknown.
func (a *Agent) watchAdopted(ctx context.Context, r *executorRun) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !processAlive(r.pid, r.startTime) {
			a.executorExited(r, -1, errors.New("adopted executor process ended"))
			return
		}
	}
}

// processAlive reports whether pid runs (not a zombie) and, when
// startTime is known, is the process that was started then.
func processAlive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, st, err := procStat(pid)
	if err != nil {
		return false
	}
	if state == "Z" || state == "X" {
		return false
	}
	return startTime == 0 || st == startTime
}

// procStat returns the state and start time (clock ticks after boot) of pid
// from /proc/<pid>/stat.
func procStat(pid int) (string, uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, fmt.Errorf("read stat: %w", err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is the state (field 3); starttime is field 22.
	if len(fields) < 20 {
		return "", 0, errors.New("short stat")
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("parse starttime: %w", err)
	}
	return fields[0], st, nil
}

func processStartTime(pid int) uint64 {
	_, st, err := procStat(pid)
	if err != nil {
		return 0
	}
	return st
}

// snapshot lists the unacknowledged updates of the given frameworks in
// order, for the checkpoint.
func (u *updateManager) snapshot(frameworks map[string]bool) []checkpointUpdate {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := make([]string, 0, len(u.streams))
	for k, s := range u.streams {
		if frameworks[s.fwID] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []checkpointUpdate
	for _, k := range keys {
		s := u.streams[k]
		for i := range s.pending {
			out = append(out, checkpointUpdate{FrameworkID: s.fwID, Status: link.Marshal(&s.pending[i])})
		}
	}
	return out
}

// clear drops every queued update (the agent was removed).
func (u *updateManager) clear() {
	u.mu.Lock()
	u.streams = map[string]*updateStream{}
	u.mu.Unlock()
}

const ackMemory = 16

func (u *updateManager) rememberAckLocked(key string, uuid []byte) {
	if u.acked == nil {
		u.acked = map[string][][]byte{}
	}
	l := append(u.acked[key], append([]byte(nil), uuid...))
	if len(l) > ackMemory {
		l = l[len(l)-ackMemory:]
	}
	u.acked[key] = l
}

// wasAcknowledged reports whether the scheduler acknowledged this update.
func (u *updateManager) wasAcknowledged(fwID, taskID string, uuid []byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.acked[fwID+"/"+taskID] {
		if bytes.Equal(x, uuid) {
			return true
		}
	}
	return false
}
