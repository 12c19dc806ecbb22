package kubeletexecutor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/events"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/kubelet-executor/taskstate"
	"github.com/kubemesos/kubemesos/podtask"
)

// agentAPIPath is the agent's executor API.
const agentAPIPath = "/api/v1/executor"

// subscriptionLoop subscribes, serves events, and resubscribes with the
// unacknowledged tasks and updates after a disconnect, within the recovery
// timeout and with a backoff capped at MESOS_SUBSCRIPTION_BACKOFF_MAX.
func (e *Executor) subscriptionLoop(ctx, workCtx context.Context) {
	logger := klog.FromContext(ctx)
	handler := e.handler(workCtx)
	backoff, maxBackoff := 250*time.Millisecond, e.mesos.SubscriptionBackoffMax
	if maxBackoff <= 0 {
		maxBackoff = 2 * time.Second
	}
	disconnected := time.Now()
	for ctx.Err() == nil {
		e.mu.Lock()
		sub := calls.Subscribe(e.unackedTaskList(), append([]mesosexec.Call_Update(nil), e.unackedUpdates...))
		// Every queued update is unacknowledged and so part of this SUBSCRIBE.
		e.outbox = nil
		e.mu.Unlock()
		resp, err := e.subscriber.Send(ctx, calls.NonStreaming(sub))
		if err == nil {
			backoff = 250 * time.Millisecond
			err = e.eventLoop(ctx, resp, handler)
			disconnected = time.Now()
			e.mu.Lock()
			e.subscribed = false
			e.mu.Unlock()
		}
		if resp != nil {
			resp.Close()
		}
		if ctx.Err() != nil || e.isShuttingDown() {
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			logger.Error(err, "Subscription to the agent ended")
		} else {
			logger.Info("Disconnected from the agent")
		}
		if !e.mesos.Checkpoint {
			logger.Info("Framework does not checkpoint: an executor without its agent shuts down")
			e.requestShutdown()
			return
		}
		if time.Since(disconnected) > e.mesos.RecoveryTimeout {
			logger.Info("Could not resubscribe within the recovery timeout", "timeout", e.mesos.RecoveryTimeout)
			e.requestShutdown()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (e *Executor) eventLoop(ctx context.Context, dec encoding.Decoder, h events.Handler) error {
	for ctx.Err() == nil {
		var ev mesosexec.Event
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		if !hasBody(&ev) {
			klog.FromContext(ctx).Info("Malformed executor event ignored: its body is missing", "type", ev.GetType())
			continue
		}
		if err := h.HandleEvent(ctx, &ev); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var errAgentError = errors.New("agent sent ERROR")

// hasBody reports whether an event carries the body its type requires.
func hasBody(ev *mesosexec.Event) bool {
	switch ev.GetType() {
	case mesosexec.Event_SUBSCRIBED:
		return ev.Subscribed != nil
	case mesosexec.Event_LAUNCH:
		return ev.Launch != nil
	case mesosexec.Event_LAUNCH_GROUP:
		return ev.LaunchGroup != nil
	case mesosexec.Event_KILL:
		return ev.Kill != nil
	case mesosexec.Event_ACKNOWLEDGED:
		return ev.Acknowledged != nil
	case mesosexec.Event_MESSAGE:
		return ev.Message != nil
	case mesosexec.Event_ERROR:
		return ev.Error != nil
	}
	return true
}

func (e *Executor) handler(ctx context.Context) events.Handler {
	logger := klog.FromContext(ctx)
	return events.HandlerFuncs{
		mesosexec.Event_SUBSCRIBED: func(_ context.Context, ev *mesosexec.Event) error {
			e.onSubscribed(ctx, ev.Subscribed)
			return nil
		},
		mesosexec.Event_LAUNCH: func(_ context.Context, ev *mesosexec.Event) error {
			e.onLaunch(ctx, ev.Launch.Task)
			return nil
		},
		mesosexec.Event_LAUNCH_GROUP: func(_ context.Context, ev *mesosexec.Event) error {
			for _, t := range ev.LaunchGroup.TaskGroup.Tasks {
				e.mu.Lock()
				e.sendStatusLocked(t.TaskID, taskstate.Report{State: mesos.TASK_FAILED, Message: MessageTaskGroupsUnsupported},
					mesos.REASON_TASK_GROUP_INVALID.Enum())
				e.mu.Unlock()
			}
			return nil
		},
		mesosexec.Event_KILL: func(_ context.Context, ev *mesosexec.Event) error {
			e.onKill(ctx, ev.Kill.TaskID, ev.Kill.KillPolicy)
			return nil
		},
		mesosexec.Event_ACKNOWLEDGED: func(_ context.Context, ev *mesosexec.Event) error {
			e.onAcknowledged(ev.Acknowledged.TaskID.Value, ev.Acknowledged.UUID)
			return nil
		},
		mesosexec.Event_MESSAGE: func(_ context.Context, ev *mesosexec.Event) error {
			if string(ev.Message.Data) == podtask.MessageRetire {
				logger.Info("Retiring for an executor of a new configuration: exiting without draining the node")
				e.requestRetire()
				return nil
			}
			logger.V(2).Info("Framework message ignored", "bytes", len(ev.Message.Data))
			return nil
		},
		mesosexec.Event_SHUTDOWN: func(_ context.Context, _ *mesosexec.Event) error {
			e.requestShutdown()
			return nil
		},
		mesosexec.Event_ERROR: func(_ context.Context, ev *mesosexec.Event) error {
			return fmt.Errorf("%w: %s", errAgentError, ev.Error.Message)
		},
	}.Otherwise(func(_ context.Context, ev *mesosexec.Event) error {
		logger.Info("Unknown executor event ignored", "type", ev.GetType())
		return nil
	})
}

func (e *Executor) onSubscribed(ctx context.Context, s *mesosexec.Event_Subscribed) {
	e.mu.Lock()
	e.framework, e.executorInfo, e.subscribed = s.FrameworkInfo, s.ExecutorInfo, true
	first := !e.startedNode
	e.startedNode = true
	if first {
		e.nodeStarting = make(chan struct{})
	}
	e.mu.Unlock()
	klog.FromContext(ctx).Info("Subscribed to the agent", "agent", s.AgentInfo.GetHostname(),
		"framework", s.FrameworkInfo.GetName(), "resubscribed", !first)
	e.kickSender()
	if first {
		go e.bringUp(ctx, s.AgentInfo, PodResources(s.AgentInfo, s.FrameworkInfo, s.ExecutorInfo))
	}
}

func (e *Executor) onAcknowledged(taskID string, id []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.unackedTasks, taskID)
	for i, u := range e.unackedUpdates {
		if string(u.Status.UUID) == string(id) {
			e.unackedUpdates = append(e.unackedUpdates[:i], e.unackedUpdates[i+1:]...)
			break
		}
	}
}

func (e *Executor) unackedTaskList() []mesos.TaskInfo {
	out := make([]mesos.TaskInfo, 0, len(e.unackedTasks))
	for _, t := range e.unackedTasks {
		out = append(out, t)
	}
	return out
}
