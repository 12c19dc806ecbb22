package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"k8s.io/klog/v2"
)

// Framework is the bridge's connection to the Mesos master: one SUBSCRIBE
// stream at a time, re-established with the same framework ID after a
// disconnect, and the calls made on it. It speaks application/x-protobuf, the
// only encoding mesos-go decodes reliably from current masters.
type Framework struct {
	opts      FrameworkOptions
	endpoints []string // scheduler API URLs of the masters, tried in turn
	info      mesos.FrameworkInfo

	mu     sync.Mutex
	caller calls.Caller // of the current subscription
	next   int          // index of the endpoint the next subscription tries
	// id is the framework ID the master assigned; empty until the first SUBSCRIBED.
	id string
	// wrap decorates each subscription's caller; observe sees every event
	// received (both may be nil; see Decorate).
	wrap    func(calls.Caller) calls.Caller
	observe func(*scheduler.Event)
}

// Decorate wraps every call to the master (SUBSCRIBE included) in wrap and
// shows every event received to observe, before the scheduler handles it,
// as mesos-go's callrules and eventrules do; for metrics and tests. Either
// may be nil. Later decorators wrap earlier ones. Call it before Stream.
func (f *Framework) Decorate(wrap func(calls.Caller) calls.Caller, observe func(*scheduler.Event)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if wrap != nil {
		if inner := f.wrap; inner != nil {
			f.wrap = func(c calls.Caller) calls.Caller { return wrap(inner(c)) }
		} else {
			f.wrap = wrap
		}
	}
	if observe != nil {
		if inner := f.observe; inner != nil {
			f.observe = func(e *scheduler.Event) { inner(e); observe(e) }
		} else {
			f.observe = observe
		}
	}
}

// FrameworkOptions describe the framework to the master.
type FrameworkOptions struct {
	// Master is one Mesos master or several, comma-separated (host:port or
	// http://host:port). A non-leading master redirects to the leader; when
	// a master cannot be reached the next one is tried.
	Master          string
	Name            string
	Role            string
	Principal       string
	Secret          string // with Principal: HTTP basic credentials for masters that authenticate frameworks
	FailoverTimeout time.Duration
	Hostname        string
	CallTimeout     time.Duration
}

// FrameworkStore keeps the framework ID across restarts of the bridge.
type FrameworkStore interface {
	// Load returns the stored ID, "" if there is none.
	Load(ctx context.Context) (string, error)
	Save(ctx context.Context, id string) error
}

// defaultHeartbeat is Mesos' scheduler heartbeat interval, used until
// SUBSCRIBED says otherwise.
const defaultHeartbeat = 15 * time.Second

// SchedulerEndpoint is the scheduler API URL of a master given as host:port or URL.
func SchedulerEndpoint(master string) (string, error) {
	if !strings.Contains(master, "://") {
		master = "http://" + master
	}
	u, err := url.Parse(master)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("mesos master %q: not host:port or http(s) URL", master)
	}
	u.Path = "/api/v1/scheduler"
	return u.String(), nil
}

// NewFramework prepares a framework; nothing is sent until Subscribe.
func NewFramework(o FrameworkOptions) (*Framework, error) {
	var endpoints []string
	for _, m := range strings.Split(o.Master, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		endpoint, err := SchedulerEndpoint(m)
		if err != nil {
			return nil, err
		}
		endpoints = append(endpoints, endpoint)
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("no mesos master given")
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	failover := o.FailoverTimeout.Seconds()
	info := mesos.FrameworkInfo{
		User:            "root",
		Name:            o.Name,
		Roles:           []string{o.Role},
		FailoverTimeout: &failover,
		Checkpoint:      boolp(true),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
			// Offers carry revocable resources; only pods that may use them
			// are placed there (revocable.go).
			{Type: mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES},
		},
	}
	if o.Principal != "" {
		info.Principal = proto(o.Principal)
	}
	if o.Hostname != "" {
		info.Hostname = proto(o.Hostname)
	}
	f := &Framework{opts: o, endpoints: endpoints, info: info}
	f.caller = f.newCaller(endpoints[0])
	return f, nil
}

// newCaller is a scheduler API client for one endpoint; it follows a
// non-leading master's redirect to the leader.
func (f *Framework) newCaller(endpoint string) calls.Caller {
	cfg := []httpcli.ConfigOpt{httpcli.Timeout(f.opts.CallTimeout)}
	if f.opts.Principal != "" && f.opts.Secret != "" {
		cfg = append(cfg, httpcli.BasicAuth(f.opts.Principal, f.opts.Secret))
	}
	cli := httpcli.New(
		httpcli.Endpoint(endpoint),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(cfg...)),
	)
	// No redirects or retries inside mesos-go: connect already chose the leader, and
	// Stream retries with the next master when this one fails.
	c := httpsched.NewCaller(cli, httpsched.AllowReconnection(true), httpsched.MaxRedirects(0))
	if f.wrap != nil {
		c = f.wrap(c)
	}
	return c
}

// connect picks the caller for the next subscription: the leader as named by
// the next master in turn. mesos-go follows a redirect for SUBSCRIBE only and
// would send every later call to the master it started with, so the bridge
// asks /master/redirect for the leader first and talks to it directly.
func (f *Framework) connect(ctx context.Context) calls.Caller {
	f.mu.Lock()
	endpoint := f.endpoints[f.next%len(f.endpoints)]
	f.next++
	f.mu.Unlock()
	endpoint = leaderEndpoint(ctx, endpoint)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caller = f.newCaller(endpoint)
	return f.caller
}

// leaderEndpoint is the scheduler endpoint of the leader that the master at
// endpoint names in its /master/redirect answer (the endpoint itself if the
// master cannot tell).
func leaderEndpoint(ctx context.Context, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	probe := *u
	probe.Path = "/master/redirect"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probe.String(), nil)
	if err != nil {
		return endpoint
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		return endpoint
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location")) // "//host:port" as Mesos answers
	if resp.StatusCode != http.StatusTemporaryRedirect || err != nil || loc.Host == "" {
		return endpoint
	}
	u.Host = loc.Host
	return u.String()
}

func (f *Framework) currentCaller() calls.Caller {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caller
}

// Resume makes the next SUBSCRIBE re-register an existing framework.
func (f *Framework) Resume(id string) { f.setID(id) }

// ID is the framework ID (empty before the first subscription).
func (f *Framework) ID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}

func (f *Framework) setID(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id = id
}

// subscribe opens one SUBSCRIBE stream and sends its events to out until the
// stream ends or ctx is done. It returns why the stream ended.
func (f *Framework) subscribe(ctx context.Context, out chan<- *scheduler.Event) error {
	info := f.info
	call := calls.Subscribe(&info)
	if id := f.ID(); id != "" {
		call = call.With(calls.SubscribeTo(id))
	}
	resp, err := f.connect(ctx).Call(ctx, call)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer resp.Close()
	stop := context.AfterFunc(ctx, func() { resp.Close() })
	defer stop()
	// A master that vanished without closing the connection is noticed when
	// several heartbeats are missed (Mesos' own advice to schedulers).
	silence := 5 * defaultHeartbeat
	watchdog := time.AfterFunc(silence, func() { resp.Close() })
	defer watchdog.Stop()
	for {
		var e scheduler.Event
		if err := resp.Decode(&e); err != nil {
			if !watchdog.Stop() {
				return fmt.Errorf("no event from the master for %v: %w", silence, err)
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("subscription stream closed by master: %w", err)
			}
			return fmt.Errorf("subscription stream: %w", err)
		}
		if hb := e.GetSubscribed().GetHeartbeatIntervalSeconds(); hb > 0 {
			silence = 5 * time.Duration(hb*float64(time.Second))
		}
		watchdog.Reset(silence)
		if f.observe != nil {
			f.observe(&e)
		}
		select {
		case out <- &e:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stream keeps a subscription open until ctx ends, re-subscribing with backoff.
func (f *Framework) Stream(ctx context.Context, out chan<- *scheduler.Event) {
	log := klog.FromContext(ctx)
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := f.subscribe(ctx, out)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 500 * time.Millisecond
		}
		log.Info("Mesos subscription ended; subscribing again", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

// call sends a call on the current subscription, as this framework.
func (f *Framework) call(ctx context.Context, c *scheduler.Call) error {
	c = c.With(calls.Framework(f.ID()))
	resp, err := f.currentCaller().Call(ctx, c)
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		return fmt.Errorf("mesos %s: %w", c.GetType(), err)
	}
	return nil
}
