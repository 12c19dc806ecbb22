package node

import (
	"context"
	"sync"
)

// Group is what a node runs for its life (a kubelet and kube-proxy, or a
// simulated node's loops): functions started together, stopped together.
type Group struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartGroup runs each fn in its own goroutine with a context that ctx's
// values but not its end reach: only Stop ends them.
func StartGroup(ctx context.Context, fns ...func(context.Context)) *Group {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &Group{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() { fn(runCtx) })
	}
	go func() { wg.Wait(); close(g.done) }()
	return g
}

// Stop ends the group's context and waits for every function to return, or
// for ctx to end (its error then).
func (g *Group) Stop(ctx context.Context) error {
	g.cancel()
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
