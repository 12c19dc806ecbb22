package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// serveExecutor is the v1 executor API.
func (a *Agent) serveExecutor(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method))
		return
	}
	n, err := wire.Negotiate(r)
	if err != nil {
		wire.WriteError(w, err)
		return
	}
	var call executor.Call
	if err := wire.DecodeCall(r, n, &call); err != nil {
		wire.WriteError(w, err)
		return
	}
	switch call.Type {
	case executor.Call_SUBSCRIBE:
		a.subscribeExecutor(w, r, n, &call)
	case executor.Call_UPDATE:
		if err := a.executorUpdate(&call); err != nil {
			wire.WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case executor.Call_MESSAGE:
		if call.Message == nil {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Expecting 'message' to be present"))
			return
		}
		if _, err := a.findRun(&call); err != nil {
			wire.WriteError(w, err)
			return
		}
		msg := link.Message{AgentID: a.ID(), FrameworkID: call.FrameworkID.Value, ExecutorID: call.ExecutorID.Value, Data: call.Message.Data}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			ctx, cancel := context.WithTimeout(a.runCtx, 10*time.Second)
			defer cancel()
			if err := a.post(ctx, link.PathMessage, msg); err != nil {
				klog.InfoS("Executor message not delivered", "err", err)
			}
		}()
		w.WriteHeader(http.StatusAccepted)
	case executor.Call_HEARTBEAT:
		w.WriteHeader(http.StatusAccepted)
	default:
		wire.WriteError(w, wire.Errorf(http.StatusBadRequest, "Expecting 'type' to be present"))
	}
}

func (a *Agent) findRun(call *executor.Call) (*executorRun, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.findRunLocked(call)
}

func (a *Agent) findRunLocked(call *executor.Call) (*executorRun, error) {
	fw := a.frameworks[call.FrameworkID.Value]
	if fw == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Framework cannot be found")
	}
	r := fw.executors[call.ExecutorID.Value]
	if r == nil || r.exited || r.command || r.builtin {
		return nil, wire.Errorf(http.StatusBadRequest, "Executor cannot be found")
	}
	return r, nil
}

func (a *Agent) subscribeExecutor(w http.ResponseWriter, req *http.Request, n wire.Negotiation, call *executor.Call) {
	box := mailbox.New[*executor.Event]()
	a.mu.Lock()
	r, err := a.findRunLocked(call)
	if err != nil {
		a.mu.Unlock()
		wire.WriteError(w, err)
		return
	}
	fw := a.frameworks[call.FrameworkID.Value]
	if r.stream != nil {
		r.stream.Close()
	}
	r.stream = box
	r.subscribedOnce = true
	info := a.agentInfoLocked()
	box.Push(&executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
		ExecutorInfo:  r.info,
		FrameworkInfo: fw.info,
		AgentInfo:     info,
		ContainerID:   &mesos.ContainerID{Value: r.containerID},
	}})
	// Updates the executor still holds unacknowledged are taken over.
	if call.Subscribe != nil {
		for _, u := range call.Subscribe.UnacknowledgedUpdates {
			st := u.Status
			if len(st.UUID) > 0 && a.updates.wasAcknowledged(r.fwID, st.TaskID.Value, st.UUID) {
				box.Push(&executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}})
				continue
			}
			if len(st.UUID) > 0 && !a.updates.has(r.fwID, st.TaskID.Value, st.UUID) && r.tasks[st.TaskID.Value] != nil {
				a.takeExecutorStatusLocked(r, st)
			}
		}
	}
	for _, ti := range r.pending {
		box.Push(&executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: ti}})
	}
	r.pending = nil
	if r.shutdown {
		box.Push(&executor.Event{Type: executor.Event_SHUTDOWN})
	}
	a.mu.Unlock()
	klog.InfoS("Executor subscribed", "framework", r.fwID, "executor", r.info.ExecutorID.Value)

	defer func() {
		box.Close()
		a.mu.Lock()
		if r.stream == box {
			r.stream = nil
		}
		a.mu.Unlock()
	}()
	stream := wire.StartStream(w, n, nil)
	hb := time.NewTicker(a.cfg.ExecutorHeartbeatInterval)
	defer hb.Stop()
	_ = box.Pump(req.Context().Done(), hb.C, true,
		func(e *executor.Event) error { return stream.Send(e) },
		func() error { return stream.Send(&executor.Event{Type: executor.Event_HEARTBEAT}) })
}

func (a *Agent) prepareExecutorStatusLocked(r *executorRun, st *mesos.TaskStatus) {
	st.Source = mesos.SOURCE_EXECUTOR.Enum()
	st.AgentID = &mesos.AgentID{Value: a.id}
	eid := r.info.ExecutorID
	st.ExecutorID = &eid
	if st.Timestamp == nil {
		st.Timestamp = ptr(nowSeconds())
	}
}

// executorUpdate validates an UPDATE call as Mesos does and queues it.
func (a *Agent) executorUpdate(call *executor.Call) error {
	if call.Update == nil {
		return wire.Errorf(http.StatusBadRequest, "Expecting 'update' to be present")
	}
	st := call.Update.Status
	if len(st.UUID) == 0 {
		return wire.Errorf(http.StatusBadRequest, "Expecting 'uuid' to be present")
	}
	if st.GetState() == mesos.TASK_STAGING {
		return wire.Errorf(http.StatusBadRequest, "Received TASK_STAGING from executor which is not allowed")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.findRunLocked(call)
	if err != nil {
		return err
	}
	a.takeExecutorStatusLocked(r, st)
	return nil
}

// takeExecutorStatusLocked records a status the executor sent and queues it
// for the scheduler, as Mesos' agent does (slave.cpp, Slave::_statusUpdate
// and Executor::updateTaskState): a status for a task that is already
// terminal (its terminal update not yet acknowledged) is refused, logged and
// dropped, and the executor is sent ACKNOWLEDGED for it so that it does not
// retry. The UPDATE call itself was accepted (202) before that, as Mesos'
// executor API answers every valid UPDATE. A status for a task the run no
// longer has (its terminal update was acknowledged) or never had is
// forwarded, and never acknowledged to the executor (updateManager.acknowledge).
func (a *Agent) takeExecutorStatusLocked(r *executorRun, st mesos.TaskStatus) {
	a.prepareExecutorStatusLocked(r, &st)
	if t := r.tasks[st.TaskID.Value]; t != nil {
		if isTerminal(t.state) {
			klog.ErrorS(fmt.Errorf("%w with state %s", errTaskTerminated, t.state), "Failed to update state of task",
				"framework", r.fwID, "task", st.TaskID.Value, "state", st.GetState())
			r.send(&executor.Event{Type: executor.Event_ACKNOWLEDGED,
				Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}})
			return
		}
		t.state = st.GetState()
	}
	a.updates.add(r.fwID, st, nil)
}

// errTaskTerminated is why a status for a terminal task is dropped (Mesos'
// words).
var errTaskTerminated = errors.New("Task is already terminated")
