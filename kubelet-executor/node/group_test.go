package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroup: the functions outlive the context they were started with and
// end on Stop; a function that does not return in time makes Stop return
// its context's error.
func TestGroup(t *testing.T) {
	startCtx, cancelStart := context.WithCancel(t.Context())
	var ended atomic.Int32
	g := StartGroup(startCtx, func(ctx context.Context) { <-ctx.Done(); ended.Add(1) }, func(ctx context.Context) { <-ctx.Done(); ended.Add(1) })
	cancelStart()
	time.Sleep(50 * time.Millisecond)
	if n := ended.Load(); n != 0 {
		t.Fatalf("%d functions ended with the start context", n)
	}
	if err := g.Stop(t.Context()); err != nil || ended.Load() != 2 {
		t.Fatalf("Stop = %v with %d ended, want nil and 2", err, ended.Load())
	}

	release := make(chan struct{})
	defer close(release)
	stuck := StartGroup(t.Context(), func(context.Context) { <-release })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := stuck.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop of a stuck group = %v, want DeadlineExceeded", err)
	}
}
