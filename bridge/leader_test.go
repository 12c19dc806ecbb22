package bridge_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubemesos/kubemesos/bridge"
)

// candidate runs an Election until the test ends; terms counts the terms
// it led, lease is the lease of the current one, and each term waits for
// its context.
type candidate struct {
	leading atomic.Bool
	terms   atomic.Int32
	lease   atomic.Int64
	ended   chan error // the cause of each term's end
	stop    func()
	done    chan error
}

func startCandidate(t *testing.T, cli *clientv3.Client, name string, ttl time.Duration, resign bool) *candidate {
	t.Helper()
	c := &candidate{ended: make(chan error, 8), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	el := &bridge.Election{Client: cli, Store: bridge.NewEtcdStore(cli, "/el"), Identity: name, LeaseTTL: ttl, ResignOnStop: resign,
		OnLeader: func(leading bool) { c.leading.Store(leading) }}
	go func() {
		c.done <- el.Run(ctx, func(ctx context.Context, term bridge.Term) error {
			c.terms.Add(1)
			resp, err := cli.Get(ctx, term.Key)
			if err == nil && len(resp.Kvs) == 1 {
				c.lease.Store(resp.Kvs[0].Lease)
			}
			<-ctx.Done()
			c.ended <- context.Cause(ctx)
			return nil
		})
	}()
	c.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-c.done; err != nil {
			t.Errorf("%s: Run = %v", name, err)
		}
	})
	t.Cleanup(c.stop)
	return c
}

// TestElectionLostLeaseEndsTermAtOnce: a leader whose lease ends (revoked
// here, as when it expired) has its term's context cancelled as soon as its
// client learns it (at its next keep-alive, within a third of the TTL), with
// ErrLostLeadership, and stands by again: it campaigns and leads again once
// the other candidate is gone. Meanwhile the other already leads: the
// overlap that fencing the writes covers.
func TestElectionLostLeaseEndsTermAtOnce(t *testing.T) {
	cli, endpoint := etcdClient(t)
	a := startCandidate(t, cli, "a", 5*time.Second, true)
	eventually(t, 10*time.Second, "a leading", func() (bool, string) { return a.leading.Load(), "" })
	b := startCandidate(t, newEtcdClient(t, endpoint), "b", 5*time.Second, true)

	revoked := time.Now()
	if _, err := cli.Revoke(t.Context(), clientv3.LeaseID(a.lease.Load())); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-a.ended:
		if !errors.Is(cause, bridge.ErrLostLeadership) {
			t.Fatalf("term ended by %v, want ErrLostLeadership", cause)
		}
		t.Logf("term ended %v after its lease was revoked", time.Since(revoked).Round(time.Millisecond))
	case <-time.After(5*time.Second/3 + time.Second):
		t.Fatal("the term went on after its lease was revoked")
	}
	eventually(t, 5*time.Second, "b leading", func() (bool, string) { return b.leading.Load() && !a.leading.Load(), "" })

	// a stood by: once b stops (resigning), a leads again.
	b.stop()
	eventually(t, 5*time.Second, "a leading again", func() (bool, string) { return a.leading.Load(), "" })
	if n := a.terms.Load(); n != 2 {
		t.Fatalf("a led %d terms, want 2", n)
	}
}

// TestElectionResignOnStop: a leader stopped with ResignOnStop hands over
// at once; one stopped without it (as a killed one) only when its lease ends.
func TestElectionResignOnStop(t *testing.T) {
	for _, resign := range []bool{true, false} {
		cli, endpoint := etcdClient(t)
		const ttl = 3 * time.Second
		a := startCandidate(t, cli, "a", ttl, resign)
		eventually(t, 10*time.Second, "a leading", func() (bool, string) { return a.leading.Load(), "" })
		b := startCandidate(t, newEtcdClient(t, endpoint), "b", ttl, resign)
		time.Sleep(200 * time.Millisecond) // b campaigns
		stopped := time.Now()
		a.stop()
		eventually(t, ttl+5*time.Second, "b leading", func() (bool, string) { return b.leading.Load(), "" })
		took := time.Since(stopped)
		t.Logf("resign=%v: b leads %v after a stopped", resign, took.Round(time.Millisecond))
		if resign && took > time.Second {
			t.Errorf("with ResignOnStop the handover took %v", took)
		}
		if !resign && took < ttl/2 {
			t.Errorf("without ResignOnStop b led %v after a stopped, before a's lease (%v) could end", took, ttl)
		}
	}
}
