package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// Config configures an Agent.
type Config struct {
	// Master is host:port or an http URL of the master.
	Master string
	// IP and Port the agent advertises (offer url, MESOS_AGENT_ENDPOINT);
	// default to the listener's address.
	IP   string
	Port int
	// Hostname defaults to the OS hostname.
	Hostname string
	// WorkDir holds the sandboxes.
	WorkDir string
	// Resources and Attributes in Mesos flag syntax.
	Resources  string
	Attributes string
	// ExecutorEnvironment, when non-nil, is the whole base environment of
	// executors (Mesos' --executor_environment_variables); when nil they
	// inherit the agent's environment.
	ExecutorEnvironment map[string]string
	// ExecutorShutdownGracePeriod between SHUTDOWN and killing the process
	// group (Mesos default 5s).
	ExecutorShutdownGracePeriod time.Duration
	// StatusUpdateRetryInterval between resends of an unacknowledged update
	// (Mesos starts at 10s).
	StatusUpdateRetryInterval time.Duration
	// ExecutorHeartbeatInterval of HEARTBEAT events to executors.
	ExecutorHeartbeatInterval time.Duration
	// RegistrationBackoff between attempts to reach the master.
	RegistrationBackoff time.Duration
	// MasterPingTimeout: the link is considered broken after this long
	// without a message from the master.
	MasterPingTimeout time.Duration
	// ExecutorReregistrationTimeout: after a restart, recovered executors
	// that have not re-subscribed within it are shut down (Mesos'
	// --executor_reregistration_timeout, default 2s).
	ExecutorReregistrationTimeout time.Duration
	// FetcherCacheDir holds URIs fetched with cache set (Mesos'
	// --fetcher_cache_dir); default <work_dir>/fetcher-cache.
	FetcherCacheDir string
	// Domain is the agent's fault domain in Mesos' --domain JSON syntax:
	// {"fault_domain":{"region":{"name":"r1"},"zone":{"name":"z1"}}}.
	Domain string
	// ResourceEstimator is Mesos' --resource_estimator: empty (Mesos'
	// default, nothing is oversubscribed) or FixedResourceEstimator, which
	// reports ResourceEstimatorResources (the module parameter "resources"
	// of Mesos' fixed estimator, in --resources syntax) as oversubscribable.
	// SetResourceEstimate changes the estimate at runtime.
	ResourceEstimator          string
	ResourceEstimatorResources string
	// OversubscribedResourcesInterval between polls of the estimator
	// (Mesos' --oversubscribed_resources_interval, default 15secs).
	OversubscribedResourcesInterval time.Duration
	// QoSController is Mesos' --qos_controller: empty (no corrections, as
	// Mesos' default) or EstimateQoSController.
	QoSController string
	// QoSCorrectionIntervalMin between QoS corrections (Mesos'
	// --qos_correction_interval_min; here default 1s, Mesos polls its
	// controller without pause by default).
	QoSCorrectionIntervalMin time.Duration
}

// DefaultResources is used when Config.Resources is empty.
const DefaultResources = "cpus:2;mem:4096;disk:20000;ports:[31000-32000]"

func (c *Config) setDefaults() {
	if c.ExecutorShutdownGracePeriod <= 0 {
		c.ExecutorShutdownGracePeriod = 5 * time.Second
	}
	if c.StatusUpdateRetryInterval <= 0 {
		c.StatusUpdateRetryInterval = 10 * time.Second
	}
	if c.ExecutorHeartbeatInterval <= 0 {
		c.ExecutorHeartbeatInterval = 15 * time.Second
	}
	if c.RegistrationBackoff <= 0 {
		c.RegistrationBackoff = time.Second
	}
	if c.MasterPingTimeout <= 0 {
		c.MasterPingTimeout = 30 * time.Second
	}
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		} else {
			c.Hostname = "localhost"
		}
	}
	if c.Resources == "" {
		c.Resources = DefaultResources
	}
	if c.ExecutorReregistrationTimeout <= 0 {
		c.ExecutorReregistrationTimeout = 2 * time.Second
	}
	if c.OversubscribedResourcesInterval <= 0 {
		c.OversubscribedResourcesInterval = 15 * time.Second
	}
	if c.QoSCorrectionIntervalMin <= 0 {
		c.QoSCorrectionIntervalMin = time.Second
	}
	if c.FetcherCacheDir == "" && c.WorkDir != "" {
		c.FetcherCacheDir = filepath.Join(c.WorkDir, "fetcher-cache")
	}
}

// Agent is a Mesos agent. Create it with New and run it with Serve.
type Agent struct {
	cfg        Config
	masterURL  *url.URL // first master to try; nil with etcd://
	finder     *masterFinder
	resources  mesos.Resources
	attributes []mesos.Attribute
	domain     *mesos.DomainInfo
	client     *http.Client
	pong       pongState

	mu         sync.Mutex
	id         string
	masterID   string
	connected  bool
	frameworks map[string]*frameworkState
	updates    *updateManager
	registered chan struct{} // closed on first registration
	wg         sync.WaitGroup
	// runCtx ends when Serve stops; background deliveries use it.
	runCtx context.Context
	// cancelLink breaks the current master link (nil when there is none).
	cancelLink context.CancelFunc
	// stopped is set once Serve began to stop.
	stopped bool
	// terminate: Serve kills every executor and drops the checkpoint.
	terminate bool

	// estimate is the resource estimator's oversubscribable resources
	// (revocable); sentEstimate the total last reported to the master;
	// forwardEstimate asks for a report even if it did not change (after a
	// registration, as Mesos' agent forwards it on (re-)registration).
	estimate, sentEstimate mesos.Resources
	forwardEstimate        bool
	oversubscriptionPoke   chan struct{}
}

// New validates cfg and returns an Agent.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if cfg.Master == "" {
		return nil, errors.New("a master address is required")
	}
	if cfg.WorkDir == "" {
		return nil, errors.New("a work directory is required")
	}
	mu, finder, err := parseMasterSpec(cfg.Master)
	if err != nil {
		return nil, err
	}
	rs, err := resources.Parse(cfg.Resources)
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, fmt.Errorf("--attributes: %w", err)
	}
	domain, err := ParseDomain(cfg.Domain)
	if err != nil {
		return nil, fmt.Errorf("--domain: %w", err)
	}
	estimate, err := estimatorConfig(&cfg)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:        cfg,
		masterURL:  mu,
		finder:     finder,
		resources:  rs,
		attributes: attrs,
		domain:     domain,
		client:     &http.Client{Timeout: 10 * time.Second},
		frameworks: map[string]*frameworkState{},
		registered: make(chan struct{}),
		runCtx:     context.Background(),
		estimate:   estimate,

		oversubscriptionPoke: make(chan struct{}, 1),
	}
	a.updates = newUpdateManager(a)
	return a, nil
}

// ParseMaster accepts "host:port" or "http://host:port[/]".
func ParseMaster(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid master address %q", s)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("invalid master address %q: only http is supported", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// ID returns the agent ID, empty before the first registration.
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Registered is closed once the agent first registered with a master.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

func (a *Agent) endpoint() string { return net.JoinHostPort(a.cfg.IP, strconv.Itoa(a.cfg.Port)) }

// Handler serves the agent's HTTP endpoints.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.serveExecutor)
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/state", a.serveState)
	mux.HandleFunc("/slave(1)/state", a.serveState)
	return mux
}

// Serve runs the agent on ln until ctx ends; then it kills its executors'
// process groups and returns.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	a.cfg.IP, a.cfg.Port = wire.Advertised(ln, a.cfg.IP, a.cfg.Port)
	if err := os.MkdirAll(a.cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	if err := a.loadCheckpointedResources(); err != nil {
		_ = ln.Close()
		return err
	}
	if err := a.recoverState(ctx); err != nil {
		_ = ln.Close()
		return fmt.Errorf("recover: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	defer a.finder.close()
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.linkLoop(ctx) }()
	go func() { defer a.wg.Done(); a.updates.run(ctx) }()
	go func() { defer a.wg.Done(); a.checkpointLoop(ctx, 200*time.Millisecond) }()
	if a.cfg.ResourceEstimator != "" || a.cfg.QoSController != "" {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.oversubscriptionLoop(ctx) }()
	}
	klog.InfoS("Mesos agent started", "endpoint", a.endpoint(), "master", a.cfg.Master, "resources", a.resources.String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	a.killAll()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	a.wg.Wait()
	a.mu.Lock()
	terminate := a.terminate
	a.mu.Unlock()
	if terminate {
		a.removeCheckpoint()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	klog.InfoS("Mesos agent stopped", "agent", a.ID())
	return nil
}

// killAll terminates the process groups of the executors of frameworks
// that do not checkpoint: SIGTERM, then SIGKILL after a second. Executors
// of checkpointing frameworks keep running for the next agent to recover.
func (a *Agent) killAll() {
	a.mu.Lock()
	a.stopped = true
	var runs []*executorRun
	for _, fw := range a.frameworks {
		for _, r := range fw.executors {
			r.closeStream()
			// Tasks of the built-in default executor are not checkpointed:
			// they end with the agent.
			if fw.info.GetCheckpoint() && !fw.removed && !r.builtin {
				continue
			}
			for _, p := range r.processes() {
				if !p.exited && p.pid > 0 {
					runs = append(runs, p)
				}
			}
		}
	}
	a.mu.Unlock()
	for _, r := range runs {
		_ = syscall.Kill(-r.pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(time.Second)
	for _, r := range runs {
		select {
		case <-r.done:
		case <-time.After(time.Until(deadline)):
		}
		_ = syscall.Kill(-r.pid, syscall.SIGKILL)
		<-r.done
	}
}
