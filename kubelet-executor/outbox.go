package kubeletexecutor

import (
	"context"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// sendStatusLocked records an update as unacknowledged and queues it for the
// agent. Updates are sent in order; one that fails to send is still part of
// the next SUBSCRIBE's unacknowledged updates.
func (e *Executor) sendStatusLocked(id mesos.TaskID, r taskstate.Report, reason *mesos.TaskStatus_Reason) {
	u := uuid.New()
	st := mesos.TaskStatus{
		TaskID:     id,
		State:      r.State.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &mesos.ExecutorID{Value: e.mesos.ExecutorID},
		UUID:       u[:],
		Timestamp:  ptr.To(float64(time.Now().UnixNano()) / 1e9),
		Reason:     reason,
	}
	if r.Message != "" {
		st.Message = ptr.To(r.Message)
	}
	if podtask.IsNodeTask(id.Value) && e.workDir != "" {
		// The bridge builds the host paths of this agent's volumes from it.
		st.Data = podtask.StatusData{WorkDir: e.workDir}.Encode()
	}
	if len(r.PodIPs) > 0 {
		st.Data = podtask.StatusDataOf(r.PodIPs).Encode()
		var addrs []mesos.NetworkInfo_IPAddress
		for _, ip := range r.PodIPs {
			addrs = append(addrs, mesos.NetworkInfo_IPAddress{IPAddress: ptr.To(ip)})
		}
		st.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: []mesos.NetworkInfo{{IPAddresses: addrs}}}
	}
	if r.Terminal() {
		e.ended.add(id.Value, r.State)
	}
	upd := mesosexec.Call_Update{Status: st}
	e.unackedUpdates = append(e.unackedUpdates, upd)
	e.outbox = append(e.outbox, upd)
	e.kickSender()
}

func (e *Executor) kickSender() {
	select {
	case e.outboxSignal <- struct{}{}:
	default:
	}
}

// sendLoop sends queued updates to the agent while subscribed.
func (e *Executor) sendLoop(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.outboxSignal:
		}
		for {
			e.mu.Lock()
			if len(e.outbox) == 0 || !e.subscribed {
				e.mu.Unlock()
				break
			}
			upd := e.outbox[0]
			e.outbox = e.outbox[1:]
			e.sending = true
			e.mu.Unlock()
			resp, err := e.agentCalls.Send(ctx, calls.NonStreaming(calls.Update(upd.Status)))
			if resp != nil {
				resp.Close()
			}
			e.mu.Lock()
			e.sending = false
			e.mu.Unlock()
			if err != nil {
				// It stays unacknowledged and goes out with the next SUBSCRIBE.
				logger.Error(err, "Send status update", "task", upd.Status.TaskID.Value, "state", upd.Status.GetState())
				continue
			}
			logger.V(2).Info("Sent status update", "task", upd.Status.TaskID.Value, "state", upd.Status.GetState(),
				"message", upd.Status.GetMessage())
		}
	}
}

// flush waits up to d for queued updates (and the one being sent) to reach the agent.
func (e *Executor) flush(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		e.mu.Lock()
		n, sending := len(e.outbox), e.sending
		e.mu.Unlock()
		if n == 0 && !sending {
			return
		}
		e.kickSender()
		time.Sleep(20 * time.Millisecond)
	}
}

// maxEndedTasks bounds how many ended tasks an executor remembers. A KILL
// for an ended task comes within moments of its end (while the agent holds
// the terminal update unacknowledged); the bound only keeps a long-lived
// executor's memory flat.
const maxEndedTasks = 4096

// endedTasks are the tasks whose terminal update was sent, the oldest
// forgotten first past maxEndedTasks. Not safe for concurrent use.
type endedTasks struct {
	states map[string]endedTask
	order  []endedTask // oldest first; an entry whose seq no longer matches was forgotten or re-added
	seq    uint64
}

type endedTask struct {
	id    string
	state mesos.TaskState
	seq   uint64
}

func (m *endedTasks) add(id string, s mesos.TaskState) {
	m.seq++
	t := endedTask{id: id, state: s, seq: m.seq}
	m.states[id] = t
	m.order = append(m.order, t)
	for len(m.order) > maxEndedTasks {
		if old := m.order[0]; m.states[old.id].seq == old.seq {
			delete(m.states, old.id)
		}
		m.order = m.order[1:]
	}
}

func (m *endedTasks) get(id string) (mesos.TaskState, bool) {
	t, ok := m.states[id]
	return t.state, ok
}

// forget drops id (a new attempt under the same task ID).
func (m *endedTasks) forget(id string) { delete(m.states, id) }
