package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
)

// HAConfig configures leader election among several masters through etcd,
// the stand-in for Mesos' --zk. Without endpoints a master is a standalone
// leader.
type HAConfig struct {
	// EtcdEndpoints of the etcd cluster (--etcd_endpoints).
	EtcdEndpoints []string
	// EtcdPrefix of the election and registry keys (--etcd_prefix,
	// default "/mesos").
	EtcdPrefix string
	// SessionTTL after which a dead master loses leadership (Mesos'
	// --zk_session_timeout, default 10s; etcd rounds to whole seconds).
	SessionTTL time.Duration
	// ResignOnStop gives leadership up at once when Serve returns. By
	// default the lease is left to expire after SessionTTL, as the ZooKeeper
	// session of a stopped Mesos master does.
	ResignOnStop bool
}

func (c *HAConfig) enabled() bool { return len(c.EtcdEndpoints) > 0 }

func (c *HAConfig) prefix() string {
	p := strings.TrimSuffix(c.EtcdPrefix, "/")
	if p == "" {
		p = "/mesos"
	}
	return p
}

// ElectionKey is the etcd key prefix under which masters campaign; the
// value of the oldest key is the leader's host:port. Agents given
// etcd://host:port/prefix read it to find the leader.
func ElectionKey(prefix string) string {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		p = "/mesos"
	}
	return p + "/leader"
}

// leadership is the master's view of the leader election. A master without
// an election backend is always the leader.
type leadership struct {
	mu          sync.Mutex
	contending  bool      // an election backend is configured
	leader      bool      // this master is the elected leader
	leaderAddr  string    // host:port of the current leader, "" when unknown
	electedTime time.Time // when this master became leader
	registered  map[string]bool
}

// isLeader reports whether this master is the leading master.
func (m *Master) isLeader() bool {
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	return !m.ha.contending || m.ha.leader
}

// leaderAddress is the host:port of the leader ("" when none is known).
func (m *Master) leaderAddress() string {
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	if !m.ha.contending || m.ha.leader {
		return m.address()
	}
	return m.ha.leaderAddr
}

// electedTime is when this master became the leader (its start time for a
// standalone master).
func (m *Master) electedTime() time.Time {
	m.ha.mu.Lock()
	defer m.ha.mu.Unlock()
	if !m.ha.contending {
		return m.startTime
	}
	return m.ha.electedTime
}

// redirectToLeader answers r with 307 and the leader's address when this
// master is not the leader (503 when no leader is known), as a Mesos master
// does for scheduler and operator calls. It reports whether it answered.
func (m *Master) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	if m.isLeader() {
		return false
	}
	addr := m.leaderAddress()
	if addr == "" {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return true
	}
	w.Header().Set("Location", "//"+addr+r.URL.Path)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}

// leaderOnly lists the endpoints a non-leading master redirects.
var leaderOnly = map[string]bool{
	"/api/v1/scheduler":     true,
	"/api/v1":               true,
	"/master/state":         true,
	"/state":                true,
	"/master/state.json":    true,
	link.PathRegister:       true,
	link.PathStatus:         true,
	link.PathExecutorExited: true,
	link.PathMessage:        true,
	link.PathOversubscribed: true,
	"/master/frameworks":    true,
	"/master/slaves":        true,
	"/master/roles":         true,
}

// serveLeaderRedirect is /master/redirect: 307 to the leader, 503 when no
// leader is elected.
func (m *Master) serveLeaderRedirect(w http.ResponseWriter, _ *http.Request) {
	addr := m.leaderAddress()
	if addr == "" {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", "//"+addr)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// startHA contends for leadership when etcd endpoints are configured. It
// calls stop when this master loses leadership after having held it (a
// Mesos master aborts then).
func (m *Master) startHA(ctx context.Context, stop context.CancelFunc, wg *sync.WaitGroup) {
	if !m.cfg.HA.enabled() {
		return
	}
	m.ha.mu.Lock()
	m.ha.contending = true
	m.ha.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.runElection(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Leader election ended, stopping the master", "master", m.id)
			stop()
		}
	}()
}

func (m *Master) runElection(ctx context.Context) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   m.cfg.HA.EtcdEndpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		Context:     ctx,
	})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	ttl := int(m.cfg.HA.SessionTTL.Round(time.Second) / time.Second)
	if ttl <= 0 {
		ttl = 10
	}
	var session *concurrency.Session
	for {
		session, err = concurrency.NewSession(cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
		if err == nil {
			break
		}
		klog.InfoS("Cannot reach etcd, retrying", "endpoints", m.cfg.HA.EtcdEndpoints, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	prefix := m.cfg.HA.prefix()
	el := concurrency.NewElection(session, ElectionKey(prefix))
	go m.observeLeader(ctx, el)

	klog.InfoS("Contending for leadership", "master", m.id, "address", m.address(), "key", ElectionKey(prefix))
	if err := el.Campaign(ctx, m.address()); err != nil {
		m.releaseSession(session, el)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign: %w", err)
	}
	m.becomeLeader(ctx, cli, prefix)
	defer m.releaseSession(session, el)

	guard := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-session.Done():
			m.ha.mu.Lock()
			m.ha.leader = false
			m.ha.mu.Unlock()
			return errors.New("lost leadership: etcd session expired")
		case <-tick.C:
			m.syncRegistry(ctx, cli, prefix, guard)
			m.expireRecoveredFrameworks()
		}
	}
}

// releaseSession resigns with ResignOnStop; otherwise the lease is left to
// expire, so the others take over after SessionTTL.
func (m *Master) releaseSession(session *concurrency.Session, el *concurrency.Election) {
	if !m.cfg.HA.ResignOnStop {
		session.Orphan()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if el.Key() != "" {
		_ = el.Resign(ctx)
	}
	_ = session.Close()
}

// observeLeader follows the election so a non-leader can redirect.
func (m *Master) observeLeader(ctx context.Context, el *concurrency.Election) {
	for ctx.Err() == nil {
		for resp := range el.Observe(ctx) {
			if len(resp.Kvs) == 0 {
				continue
			}
			addr := string(resp.Kvs[0].Value)
			m.ha.mu.Lock()
			changed := m.ha.leaderAddr != addr
			m.ha.leaderAddr = addr
			m.ha.mu.Unlock()
			if changed {
				klog.InfoS("Leading master", "leader", addr, "self", m.address())
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// registryFramework is what the registry keeps of a framework.
type registryFramework struct {
	Info json.RawMessage `json:"info"` // mesos.FrameworkInfo, protobuf JSON
}

func registryFrameworksKey(prefix string) string { return prefix + "/registry/frameworks/" }
func registryAgentsKey(prefix string) string     { return prefix + "/registry/agents/" }

// becomeLeader loads the registry: frameworks it lists are recovered and
// must re-subscribe within their failover_timeout; agents re-register on
// their own.
func (m *Master) becomeLeader(ctx context.Context, cli *clientv3.Client, prefix string) {
	start := time.Now()
	var fws []mesos.FrameworkInfo
	agents := 0
	if resp, err := cli.Get(ctx, registryFrameworksKey(prefix), clientv3.WithPrefix()); err != nil {
		klog.ErrorS(err, "Reading the registry failed; starting without it")
	} else {
		for _, kv := range resp.Kvs {
			var rf registryFramework
			var fi mesos.FrameworkInfo
			if json.Unmarshal(kv.Value, &rf) != nil || link.Unmarshal(rf.Info, &fi) != nil || fi.GetID().GetValue() == "" {
				continue
			}
			fws = append(fws, fi)
		}
	}
	if resp, err := cli.Get(ctx, registryAgentsKey(prefix), clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
		agents = int(resp.Count)
	}
	m.mu.Lock()
	reg := map[string]bool{}
	for _, fi := range fws {
		id := fi.GetID().GetValue()
		reg["f/"+id] = true
		if m.frameworks[id] != nil || m.isCompletedLocked(id) {
			continue
		}
		m.frameworks[id] = &framework{id: id, info: fi, role: frameworkRole(&fi), recovered: true, tasks: map[string]*task{}, registeredTime: time.Now()}
	}
	m.mu.Unlock()
	m.ha.mu.Lock()
	m.ha.leader = true
	m.ha.leaderAddr = m.address()
	m.ha.electedTime = time.Now()
	m.ha.registered = reg
	m.ha.mu.Unlock()
	klog.InfoS("Elected as the leading master", "master", m.id, "address", m.address(),
		"registryFrameworks", len(fws), "registryAgents", agents, "recoveryTime", time.Since(start))
}

// syncRegistry writes the IDs of current frameworks and agents to etcd
// and deletes removed frameworks, guarded by still holding leadership.
func (m *Master) syncRegistry(ctx context.Context, cli *clientv3.Client, prefix string, guard clientv3.Cmp) {
	want := map[string][]byte{}
	m.mu.Lock()
	for id, fw := range m.frameworks {
		b, err := json.Marshal(registryFramework{Info: link.Marshal(&fw.info)})
		if err == nil && fw.info.GetID().GetValue() != "" {
			want["f/"+id] = b
		}
	}
	for id, a := range m.agents {
		want["a/"+id] = link.Marshal(&a.info)
	}
	m.mu.Unlock()
	m.ha.mu.Lock()
	have := m.ha.registered
	m.ha.mu.Unlock()
	var ops []clientv3.Op
	next := map[string]bool{}
	key := func(k string) string {
		if strings.HasPrefix(k, "f/") {
			return registryFrameworksKey(prefix) + k[2:]
		}
		return registryAgentsKey(prefix) + k[2:]
	}
	for k, v := range want {
		next[k] = true
		if !have[k] {
			ops = append(ops, clientv3.OpPut(key(k), string(v)))
		}
	}
	for k := range have {
		// Agents stay in the registry (Mesos keeps them until marked gone);
		// removed frameworks leave it.
		if _, ok := want[k]; ok {
			continue
		}
		if strings.HasPrefix(k, "f/") {
			ops = append(ops, clientv3.OpDelete(key(k)))
		} else {
			next[k] = true
		}
	}
	if len(ops) == 0 {
		return
	}
	for len(ops) > 0 {
		n := min(len(ops), 100)
		resp, err := cli.Txn(ctx).If(guard).Then(ops[:n]...).Commit()
		if err != nil || !resp.Succeeded {
			klog.V(2).InfoS("Registry update failed", "err", err)
			return
		}
		ops = ops[n:]
	}
	m.ha.mu.Lock()
	m.ha.registered = next
	m.ha.mu.Unlock()
}

// expireRecoveredFrameworks removes frameworks that did not re-subscribe
// within their failover_timeout after this master was elected; their tasks
// are killed, as in Mesos.
func (m *Master) expireRecoveredFrameworks() {
	elected := m.electedTime()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, fw := range m.frameworks {
		if !fw.recovered || fw.connected {
			continue
		}
		timeout := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
		if time.Since(elected) >= timeout {
			klog.InfoS("Framework did not re-subscribe within its failover timeout after master failover, removing it", "framework", fw.id, "failoverTimeout", timeout)
			m.removeFrameworkLocked(fw)
		}
	}
}
