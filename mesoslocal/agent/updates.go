package agent

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// updateManager is the agent's status update manager: per task, updates are
// forwarded one at a time, in order, and the head is resent until the
// scheduler acknowledges it.
type updateManager struct {
	a       *Agent
	mu      sync.Mutex
	streams map[string]*updateStream // by framework ID + "/" + task ID
	wake    chan struct{}
	// acked remembers the last acknowledged UUIDs per task, so that an
	// executor re-subscribing with an update acknowledged meanwhile gets
	// ACKNOWLEDGED instead of a duplicate being forwarded.
	acked map[string][][]byte
}

type updateStream struct {
	fwID     string
	pending  []mesos.TaskStatus
	lastSent time.Time // zero: head not sent yet
}

func newUpdateManager(a *Agent) *updateManager {
	return &updateManager{a: a, streams: map[string]*updateStream{}, wake: make(chan struct{}, 1)}
}

func (u *updateManager) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// add queues st for the framework. It must not take the agent's lock.
func (u *updateManager) add(fwID string, st mesos.TaskStatus, _ any) {
	u.mu.Lock()
	key := fwID + "/" + st.TaskID.Value
	s := u.streams[key]
	if s == nil {
		s = &updateStream{fwID: fwID}
		u.streams[key] = s
	}
	s.pending = append(s.pending, st)
	u.mu.Unlock()
	u.poke()
}

// has reports whether an update with this UUID is queued for the task.
func (u *updateManager) has(fwID string, taskID string, uuid []byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.streams[fwID+"/"+taskID]; s != nil {
		for _, p := range s.pending {
			if bytes.Equal(p.UUID, uuid) {
				return true
			}
		}
	}
	return false
}

// pendingFor reports whether any update of the task is unacknowledged.
func (u *updateManager) pendingFor(fwID, taskID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.streams[fwID+"/"+taskID]
	return s != nil && len(s.pending) > 0
}

// resendAll marks every head as unsent (after re-registration).
func (u *updateManager) resendAll() {
	u.mu.Lock()
	for _, s := range u.streams {
		s.lastSent = time.Time{}
	}
	u.mu.Unlock()
	u.poke()
}

func (u *updateManager) dropFramework(fwID string) {
	u.mu.Lock()
	for k, s := range u.streams {
		if s.fwID == fwID {
			delete(u.streams, k)
		}
	}
	u.mu.Unlock()
}

// acknowledge pops the head of a task's stream if uuid matches; an update
// that came from the executor is then acknowledged to it.
func (u *updateManager) acknowledge(fwID, taskID string, uuid []byte) {
	u.mu.Lock()
	key := fwID + "/" + taskID
	s := u.streams[key]
	if s == nil || len(s.pending) == 0 || !bytes.Equal(s.pending[0].UUID, uuid) {
		u.mu.Unlock()
		klog.V(2).InfoS("Ignoring acknowledgement of unknown update", "framework", fwID, "task", taskID)
		return
	}
	head := s.pending[0]
	s.pending = s.pending[1:]
	u.rememberAckLocked(key, uuid)
	s.lastSent = time.Time{}
	if len(s.pending) == 0 {
		delete(u.streams, key)
	}
	u.mu.Unlock()
	u.poke()
	if head.GetSource() != mesos.SOURCE_EXECUTOR || head.ExecutorID == nil {
		return
	}
	a := u.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if fw := a.frameworks[fwID]; fw != nil {
		// As Mesos finds the executor to acknowledge by the task: a status
		// for a task the run no longer has (or never had) is not
		// acknowledged to the executor.
		if r := fw.executors[head.ExecutorID.Value]; r != nil && r.tasks[taskID] != nil {
			r.send(&executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: head.TaskID, UUID: head.UUID}})
			if t := r.tasks[taskID]; isTerminal(t.state) && !u.pendingFor(fwID, taskID) {
				delete(r.tasks, taskID)
			}
		}
	}
}

// run forwards stream heads to the master while the agent is registered.
func (u *updateManager) run(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-tick.C:
		}
		u.a.mu.Lock()
		connected, agentID := u.a.connected, u.a.id
		u.a.mu.Unlock()
		if !connected {
			continue
		}
		type item struct {
			key string
			msg link.StatusUpdate
			st  mesos.TaskStatus
		}
		var due []item
		now := time.Now()
		u.mu.Lock()
		for k, s := range u.streams {
			if len(s.pending) == 0 {
				continue
			}
			if !s.lastSent.IsZero() && now.Sub(s.lastSent) < u.a.cfg.StatusUpdateRetryInterval {
				continue
			}
			s.lastSent = now
			st := s.pending[0]
			due = append(due, item{key: k, st: st, msg: link.StatusUpdate{AgentID: agentID, FrameworkID: s.fwID, Status: link.Marshal(&st)}})
		}
		u.mu.Unlock()
		for _, it := range due {
			err := u.a.post(ctx, link.PathStatus, it.msg)
			switch {
			case err == nil:
				klog.V(2).InfoS("Forwarded status update", "framework", it.msg.FrameworkID, "task", it.st.TaskID.Value, "state", it.st.GetState())
			case errors.Is(err, errFrameworkGone):
				u.dropFramework(it.msg.FrameworkID)
			default:
				// Try again soon rather than after the full retry interval.
				u.mu.Lock()
				if s := u.streams[it.key]; s != nil {
					s.lastSent = time.Now().Add(-u.a.cfg.StatusUpdateRetryInterval + time.Second)
				}
				u.mu.Unlock()
				klog.V(2).InfoS("Status update not delivered", "task", it.st.TaskID.Value, "err", err)
			}
		}
	}
}
