package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// pongInFlight keeps at most one pong outstanding per agent.
type pongState struct {
	inFlight atomic.Bool
}

// sendPong answers a master ping. A 404 means the master no longer knows
// this agent (it was marked unreachable): the link is dropped so that the
// agent re-registers with its tasks.
func (a *Agent) sendPong() {
	if !a.pong.inFlight.CompareAndSwap(false, true) {
		return
	}
	a.mu.Lock()
	id, ctx, cancelLink := a.id, a.runCtx, a.cancelLink
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.pong.inFlight.Store(false)
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := a.post(ctx, link.PathPong, link.Pong{AgentID: id})
		if errors.Is(err, errNotRegistered) && cancelLink != nil {
			klog.InfoS("Master does not know this agent any more, registering again", "agent", id)
			cancelLink()
		}
	}()
}

// Terminate makes the agent shut every executor down when Serve stops,
// checkpointed or not, and forget its checkpoint (Mesos' agent on SIGUSR1).
// Call it before cancelling Serve's context.
func (a *Agent) Terminate() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, fw := range a.frameworks {
		fw.removed = true
	}
	a.terminate = true
}

// removed handles the master removing this agent for good (an operator
// marked it gone, or its machine went DOWN for maintenance): every executor
// is killed, the checkpoint and pending updates are dropped and the agent
// registers anew, with a new ID, when the master accepts it again.
func (a *Agent) removed(reason string) {
	klog.InfoS("Agent was removed by the master, shutting down its executors and starting afresh", "agent", a.ID(), "reason", reason)
	a.mu.Lock()
	for _, fw := range a.frameworks {
		fw.removed = true
		for _, r := range fw.executors {
			r.closeStream()
			r.shutdown = true
			a.terminateLocked(r, 0)
		}
	}
	a.frameworks = map[string]*frameworkState{}
	a.id = ""
	a.connected = false
	a.mu.Unlock()
	a.updates.clear()
	a.removeCheckpoint()
}
