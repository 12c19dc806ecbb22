package bridge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bridge's Prometheus metrics (namespace kubemesos). They are
// collected by decorators around the bridge's edges, not by the loop: the
// Mesos caller and event stream (Instrument), the framework store
// (InstrumentStore) and the leader election (SetLeader).
type Metrics struct {
	leader          prometheus.Gauge
	failovers       prometheus.Counter
	calls           *prometheus.CounterVec
	callDuration    *prometheus.HistogramVec
	offersReceived  prometheus.Counter
	offersDeclined  prometheus.Counter
	offersRescinded prometheus.Counter
	offersHeld      prometheus.Gauge
	launches        *prometheus.CounterVec
	kills           *prometheus.CounterVec
	intentWrites    *prometheus.CounterVec
	reg             prometheus.Registerer
	// leading and subscribed follow SetLeader and the SUBSCRIBED events, for Ready.
	leading, subscribed atomic.Bool
}

// Ready says whether the bridge does its part: a leader once subscribed to
// Mesos, a standby always (its caches were synced before it started
// campaigning); and why not.
func (m *Metrics) Ready() (bool, string) {
	if m.leading.Load() && !m.subscribed.Load() {
		return false, "leader, not subscribed to Mesos yet"
	}
	return true, ""
}

// Results of calls and writes, as metric labels.
const (
	ResultOK      = "ok"
	ResultError   = "error"
	ResultDeposed = "deposed"
)

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "kubemesos"
	m := &Metrics{
		reg: reg,
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "leader",
			Help: "1 while this bridge is the leader (subscribed to Mesos or subscribing), 0 while it stands by."}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "leader_terms_total",
			Help: "Leadership terms this bridge won: each one after the first is a failover to it."}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "mesos_calls_total",
			Help: "Calls to the Mesos master by type and result."}, []string{"type", "result"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "mesos_call_duration_seconds",
			Help: "Latency of calls to the Mesos master (SUBSCRIBE: until the stream opened).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)},
			[]string{"type"}),
		offersReceived: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "offers_received_total",
			Help: "Offers received from Mesos."}),
		offersDeclined: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "offers_declined_total",
			Help: "Offers declined (DECLINE calls the master took)."}),
		offersRescinded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "offers_rescinded_total",
			Help: "Offers Mesos rescinded."}),
		offersHeld: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "offers_held",
			Help: "Offers held: received and not yet accepted, declined or rescinded on the current subscription."}),
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "launches_total",
			Help: "Tasks sent in ACCEPT LAUNCH operations, by the result of the ACCEPT call."}, []string{"result"}),
		kills: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "kills_total",
			Help: "KILL calls by result."}, []string{"result"}),
		intentWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "intent_writes_total",
			Help: "Transactions writing launch intents, by result (deposed: refused, another bridge leads)."}, []string{"result"}),
	}
	reg.MustRegister(m.leader, m.failovers, m.calls, m.callDuration, m.offersReceived, m.offersDeclined,
		m.offersRescinded, m.offersHeld, m.launches, m.kills, m.intentWrites)
	return m
}

// PendingPods registers kubemesos_pending_pods, read from pods at each scrape.
func (m *Metrics) PendingPods(pods PodSource) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kubemesos", Name: "pending_pods",
		Help: "Pods of this scheduler name waiting for a node (launched ones included until they are bound)."},
		func() float64 { return float64(len(pods.Pending())) }))
}

// SetLeader records a term beginning (true) or ending; for Election.OnLeader.
func (m *Metrics) SetLeader(leading bool) {
	m.subscribed.Store(false)
	m.leading.Store(leading)
	if leading {
		m.leader.Set(1)
		m.failovers.Inc()
		return
	}
	m.leader.Set(0)
	m.offersHeld.Set(0) // a term's offers end with its subscription
}

// Instrument decorates fw's calls and events with the metrics.
func (m *Metrics) Instrument(fw *Framework) { fw.Decorate(m.Caller, m.Event) }

// Caller is a caller decorator counting calls, their latency and what they
// carried (launches, declined offers, kills), as mesos-go's callrules.Metrics.
func (m *Metrics) Caller(next calls.Caller) calls.Caller {
	return calls.CallerFunc(func(ctx context.Context, c *scheduler.Call) (mesos.Response, error) {
		start := time.Now()
		resp, err := next.Call(ctx, c)
		typ := c.GetType().String()
		m.callDuration.WithLabelValues(typ).Observe(time.Since(start).Seconds())
		result := ResultOK
		if err != nil {
			result = ResultError
		}
		m.calls.WithLabelValues(typ, result).Inc()
		switch c.GetType() {
		case scheduler.Call_ACCEPT:
			n := 0
			for _, op := range c.GetAccept().GetOperations() {
				n += len(op.GetLaunch().GetTaskInfos())
			}
			m.launches.WithLabelValues(result).Add(float64(n))
			if err == nil {
				m.offersHeld.Sub(float64(len(c.GetAccept().GetOfferIDs())))
			}
		case scheduler.Call_DECLINE:
			if err == nil {
				n := float64(len(c.GetDecline().GetOfferIDs()))
				m.offersDeclined.Add(n)
				m.offersHeld.Sub(n)
			}
		case scheduler.Call_KILL:
			m.kills.WithLabelValues(result).Inc()
		}
		return resp, err
	})
}

// Event counts the offers an event brings or takes away.
func (m *Metrics) Event(e *scheduler.Event) {
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		m.offersHeld.Set(0) // offers of an earlier subscription are void
		m.subscribed.Store(true)
	case scheduler.Event_OFFERS:
		n := float64(len(e.GetOffers().GetOffers()))
		m.offersReceived.Add(n)
		m.offersHeld.Add(n)
	case scheduler.Event_RESCIND:
		m.offersRescinded.Inc()
		m.offersHeld.Dec()
	}
}

// InstrumentStore decorates a store that keeps intents with the count of
// intent writes by result; the store is returned as is otherwise.
func (m *Metrics) InstrumentStore(s FrameworkStore) FrameworkStore {
	is, ok := s.(IntentStore)
	if !ok {
		return s
	}
	return &instrumentedStore{FrameworkStore: s, intents: is, m: m}
}

type instrumentedStore struct {
	FrameworkStore
	intents IntentStore
	m       *Metrics
}

// LaunchEpoch is the wrapped store's (EpochSource), 0 if it has none.
func (s *instrumentedStore) LaunchEpoch() uint64 {
	if es, ok := s.FrameworkStore.(EpochSource); ok {
		return es.LaunchEpoch()
	}
	return 0
}

func (s *instrumentedStore) Intents(ctx context.Context) ([]LaunchIntent, error) {
	return s.intents.Intents(ctx)
}

func (s *instrumentedStore) ApplyIntents(ctx context.Context, put []LaunchIntent, remove []string) error {
	err := s.intents.ApplyIntents(ctx, put, remove)
	switch {
	case err == nil:
		s.m.intentWrites.WithLabelValues(ResultOK).Inc()
	case errors.Is(err, ErrDeposed):
		s.m.intentWrites.WithLabelValues(ResultDeposed).Inc()
	default:
		s.m.intentWrites.WithLabelValues(ResultError).Inc()
	}
	return err
}
