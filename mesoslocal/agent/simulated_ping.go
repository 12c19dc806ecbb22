package agent

import (
	"context"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// answerLocked answers the master's pings, so a simulated agent stays
// reachable like a real one.
func (a *simAgent) answerLocked(ctx context.Context, c link.Command) {
	if c.Type != link.CmdPing || a.id == "" {
		return
	}
	a.s.goPost(ctx, link.PathPong, link.Pong{AgentID: a.id})
}
