package master

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// Version is the Mesos version the master reports.
const Version = "1.12.0"

// Config configures a Master. Zero values take the Mesos defaults.
type Config struct {
	// Hostname advertised in master_info; defaults to the OS hostname.
	Hostname string
	// IP and Port advertised; default to the listener's address.
	IP   string
	Port int
	// WorkDir is accepted for compatibility; state is kept in memory.
	WorkDir string
	// AllocationInterval between allocation rounds (Mesos default 1s).
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers held longer than this; 0 never.
	OfferTimeout time.Duration
	// HeartbeatInterval of scheduler HEARTBEAT events (Mesos default 15s).
	HeartbeatInterval time.Duration
	// HA: leader election and registry in etcd (ha.go); standalone when unset.
	HA HAConfig
	// Auth: framework authentication (auth.go).
	Auth AuthConfig
	// AgentPingInterval is how often the master pings agents over the link;
	// at most AgentPingTimeout.
	AgentPingInterval time.Duration
	// AgentPingTimeout and MaxAgentPingTimeouts: an agent that has not
	// answered pings for their product becomes unreachable (Mesos'
	// --agent_ping_timeout, default 15s, and --max_agent_ping_timeouts, 5).
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// RegistryMaxAgentAge: an agent unreachable for longer is removed and its
	// tasks become TASK_GONE (Mesos' --registry_max_agent_age, 2 weeks).
	RegistryMaxAgentAge time.Duration
	// Weights of roles (Mesos' --weights); roles not listed weigh 1.
	Weights map[string]float64
	// Quotas of roles at start; UPDATE_QUOTA and friends change them.
	Quotas map[string]Quota
}

func (c *Config) setDefaults() {
	c.setPartitionDefaults()
	if c.AllocationInterval <= 0 {
		c.AllocationInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.AgentPingInterval <= 0 {
		c.AgentPingInterval = 5 * time.Second
	}
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		} else {
			c.Hostname = "localhost"
		}
	}
}

// Master is a Mesos master. Create it with New and run it with Serve.
type Master struct {
	cfg       Config
	id        string
	startTime time.Time
	ready     chan struct{} // closed once Serve knows its address
	ha        leadership    // leader election state (ha.go)
	metrics   counters      // message counters (metrics.go)

	mu                  sync.Mutex
	frameworks          map[string]*framework
	completedFrameworks []*framework
	agents              map[string]*agent
	offers              map[string]*offer
	nextFramework       int
	nextAgent           int
	nextOffer           int
	closed              bool
	part                partitionState   // agent health (partition.go)
	maint               maintenanceState // maintenance schedule (maintenance.go)
	roleCfg             roleConfig
}

// New returns a Master with a fresh master ID.
func New(cfg Config) *Master {
	cfg.setDefaults()
	return &Master{
		cfg:        cfg,
		id:         newUUID(),
		startTime:  time.Now(),
		ready:      make(chan struct{}),
		frameworks: map[string]*framework{},
		agents:     map[string]*agent{},
		offers:     map[string]*offer{},
		roleCfg:    newRoleConfig(cfg),
	}
}

// ID is the master ID, the prefix of the agent, framework and offer IDs it
// assigns.
func (m *Master) ID() string { return m.id }

// Handler serves the master's HTTP endpoints.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("/master/state", m.serveState)
	mux.HandleFunc("/state", m.serveState)
	mux.HandleFunc("/master/state.json", m.serveState)
	mux.HandleFunc("/master/redirect", m.serveRedirect)
	mux.HandleFunc("/redirect", m.serveRedirect)
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/master/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	m.registerExtraRoutes(mux)
	mux.HandleFunc(link.PathRegister, m.serveAgentRegister)
	mux.HandleFunc(link.PathPong, m.serveAgentPong)
	mux.HandleFunc(link.PathStatus, m.serveAgentStatus)
	mux.HandleFunc(link.PathExecutorExited, m.serveExecutorExited)
	mux.HandleFunc(link.PathMessage, m.serveExecutorMessage)
	mux.HandleFunc(link.PathOversubscribed, m.serveAgentOversubscribed)
	return m.wrapHandler(mux)
}

// Serve runs the master on ln until ctx ends, then closes every scheduler
// stream and agent link and returns. The advertised address defaults to
// ln's.
func (m *Master) Serve(ctx context.Context, ln net.Listener) error {
	m.cfg.IP, m.cfg.Port = wire.Advertised(ln, m.cfg.IP, m.cfg.Port)
	close(m.ready)
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.allocationLoop(ctx) }()
	m.startHA(ctx, cancel, &wg)
	wg.Add(2)
	go func() { defer wg.Done(); m.partitionLoop(ctx) }()
	go func() { defer wg.Done(); m.maintenanceLoop(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	klog.InfoS("Mesos master started", "id", m.id, "address", m.address())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	m.shutdown()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	klog.InfoS("Mesos master stopped", "id", m.id)
	return nil
}

// shutdown closes all streams so their handlers return.
func (m *Master) shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, fw := range m.frameworks {
		if fw.box != nil {
			fw.box.Close()
		}
	}
	for _, a := range m.agents {
		if a.box != nil {
			a.box.Close()
		}
	}
}

func (m *Master) address() string {
	return net.JoinHostPort(m.cfg.IP, strconv.Itoa(m.cfg.Port))
}

func (m *Master) pid() string { return "master@" + m.address() }

// masterInfo is shaped like a Mesos 1.12 master's. QUOTA_V2 is left out of
// the capabilities: mesos-go v0.0.11 cannot encode it to JSON.
func (m *Master) masterInfo() *mesos.MasterInfo {
	port := uint32(m.cfg.Port)
	var ip uint32
	if v4 := net.ParseIP(m.cfg.IP).To4(); v4 != nil {
		ip = binary.LittleEndian.Uint32(v4) // network order read as a little-endian host int, as Mesos does
	}
	pid, host, ver := m.pid(), m.cfg.Hostname, Version
	ipStr := m.cfg.IP
	return &mesos.MasterInfo{
		ID:       m.id,
		IP:       ip,
		Port:     &port,
		PID:      &pid,
		Hostname: &host,
		Version:  &ver,
		Address:  &mesos.Address{Hostname: &host, IP: &ipStr, Port: int32(m.cfg.Port)},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
		},
	}
}

func (m *Master) serveRedirect(w http.ResponseWriter, r *http.Request) {
	m.serveLeaderRedirect(w, r)
}

// framework is a registered framework.
type framework struct {
	id              string
	info            mesos.FrameworkInfo
	role            string
	box             *mailbox.Box[*scheduler.Event] // nil when disconnected
	streamID        string
	connected       bool
	recovered       bool // learnt from a re-registering agent, not yet re-subscribed
	suppressedRoles map[string]bool
	registeredTime  time.Time
	unregistered    time.Time
	failoverTimer   *time.Timer
	tasks           map[string]*task // by task ID
	completed       []*task
	filters         []filter
}

func (fw *framework) partitionAware() bool {
	for _, c := range fw.info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_PARTITION_AWARE {
			return true
		}
	}
	return false
}

// send queues an event if the framework is connected.
func (fw *framework) send(e *scheduler.Event) {
	if fw.connected && fw.box != nil {
		fw.box.Push(e)
	}
}

// frameworkRole is the role offers to fw are allocated to.
func frameworkRole(info *mesos.FrameworkInfo) string {
	for _, c := range info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_MULTI_ROLE && len(info.GetRoles()) > 0 {
			return info.GetRoles()[0]
		}
	}
	if r := info.GetRole(); r != "" {
		return r
	}
	return "*"
}

// task is the master's record of a task.
type task struct {
	task         mesos.Task // name, IDs, state, resources (allocated), statuses
	resources    mesos.Resources
	latest       mesos.TaskStatus
	terminal     bool
	terminalUUID []byte
}

// agent is a registered agent.
type agent struct {
	id             string
	info           mesos.AgentInfo
	endpoint       string // ip:port
	total          mesos.Resources
	box            *mailbox.Box[link.Command] // nil when disconnected
	active         bool
	registeredTime time.Time
	// executors by framework ID → executor ID.
	executors map[string]map[string]*executor
}

type executor struct {
	info      mesos.ExecutorInfo
	resources mesos.Resources
}

func (a *agent) hostIPPort() (string, string, int) {
	host, port, _ := net.SplitHostPort(a.endpoint)
	p, _ := strconv.Atoi(port)
	return a.info.GetHostname(), host, p
}

// offer is an outstanding offer.
type offer struct {
	id        string
	fwID      string
	agentID   string
	resources mesos.Resources // unallocated
	role      string
	created   time.Time
}

// filter refuses resources of one agent to one framework until expiry.
type filter struct {
	agentID   string
	role      string
	resources mesos.Resources
	until     time.Time
}

func newUUID() string {
	b := newUUIDBytes()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newUUIDBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
