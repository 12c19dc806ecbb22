package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/klog/v2"
)

// DefaultLeaseTTL is how long a leader that stopped renewing its etcd
// lease stays leader: the longest a takeover waits after a leader dies.
const DefaultLeaseTTL = 5 * time.Second

// Election runs one bridge of several: it campaigns in etcd and, for each
// term it wins, runs the leader's work with a context that ends as soon as
// the leadership does, and a store fenced by that term. Between terms the
// bridge is a standby: it keeps its caches (pod feed, node mirror) warm and
// campaigns again.
type Election struct {
	Client *clientv3.Client
	Store  *EtcdStore
	// Identity names this bridge in the election (e.g. host:pid).
	Identity string
	// LeaseTTL is the session TTL (DefaultLeaseTTL when 0; etcd rounds it
	// to whole seconds).
	LeaseTTL time.Duration
	// ResignOnStop gives up leadership at once when ctx ends, so a standby
	// takes over without waiting for the lease (a graceful stop). Without
	// it, the lease runs out as it does for a bridge that was killed.
	ResignOnStop bool
	// OnLeader is told when a term begins (true) and ends (false); may be nil.
	OnLeader func(leading bool)
}

// ErrLostLeadership is returned by a term whose etcd session ended: its
// lease expired or etcd could not be reached to renew it.
var ErrLostLeadership = errors.New("lost leadership: etcd session ended")

// Term is one won campaign.
type Term struct {
	// Key and Rev identify the leadership in etcd (the election key and its
	// create revision); Store writes only while they hold.
	Key   string
	Rev   int64
	Store *EtcdStore
}

// Run campaigns until ctx ends, calling lead for each term won. A term ends
// when lead returns or the session is lost; lead's context is cancelled at
// once in the latter case, so the leader stops issuing Mesos calls, and the
// bridge stands by and campaigns again, as it does after a term whose writes
// were refused (ErrDeposed) or that etcd could not start. Run returns nil
// when ctx ends, and lead's error when lead fails otherwise (the master
// ended the framework, the store holds a malformed framework ID, …): every
// bridge would fail the same way.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context, t Term) error) error {
	log := klog.FromContext(ctx)
	backoff := time.Second
	for ctx.Err() == nil {
		err := e.term(ctx, lead)
		if ctx.Err() != nil {
			return nil
		}
		var le *leadError
		if errors.As(err, &le) && !errors.Is(err, ErrDeposed) {
			return le.err
		}
		log.Error(err, "Leadership term ended; standing by", "identity", e.Identity, "campaignIn", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	return nil
}

// leadError is an error of the leader's work itself.
type leadError struct{ err error }

func (e *leadError) Error() string { return e.err.Error() }
func (e *leadError) Unwrap() error { return e.err }

// term is one session: campaign, lead, give up.
func (e *Election) term(ctx context.Context, lead func(context.Context, Term) error) error {
	log := klog.FromContext(ctx)
	ttl := int((e.ttl() + time.Second/2) / time.Second)
	session, err := concurrency.NewSession(e.Client, concurrency.WithTTL(max(ttl, 1)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcd session: %w", err)
	}
	el := concurrency.NewElection(session, e.Store.ElectionPrefix())
	// A session lost while campaigning or leading ends the term at once.
	termCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-session.Done():
			cancel(ErrLostLeadership)
		case <-termCtx.Done():
		}
	}()
	defer e.release(ctx, session, el)

	log.Info("Standing by: campaigning for leadership", "identity", e.Identity, "election", e.Store.ElectionPrefix())
	if err := el.Campaign(termCtx, e.Identity); err != nil {
		if cause := context.Cause(termCtx); cause != nil {
			return cause
		}
		return fmt.Errorf("campaign: %w", err)
	}
	t := Term{Key: el.Key(), Rev: el.Rev()}
	t.Store = e.Store.Fenced(t.Key, t.Rev)
	log.Info("Elected leader", "identity", e.Identity, "key", t.Key, "rev", t.Rev)
	if e.OnLeader != nil {
		e.OnLeader(true)
		defer e.OnLeader(false)
	}
	err = lead(termCtx, t)
	if cause := context.Cause(termCtx); errors.Is(cause, ErrLostLeadership) {
		return cause
	}
	if err == nil {
		return errors.New("leader stopped")
	}
	return &leadError{err: err}
}

func (e *Election) ttl() time.Duration {
	if e.LeaseTTL <= 0 {
		return DefaultLeaseTTL
	}
	return e.LeaseTTL
}

// release ends a session: at once (resign and revoke the lease) unless the
// bridge is stopping without ResignOnStop, when the lease is left to expire
// as that of a killed bridge does.
func (e *Election) release(ctx context.Context, session *concurrency.Session, el *concurrency.Election) {
	if ctx.Err() != nil && !e.ResignOnStop {
		session.Orphan()
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if el.Key() != "" {
		_ = el.Resign(rctx)
	}
	_, _ = e.Client.Revoke(rctx, session.Lease())
	session.Orphan()
}
