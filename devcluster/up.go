package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
	"github.com/kubemesos/kubemesos/manifests/addons"
)

// Defaults of Config.
const (
	DefaultDir            = ".kubemesos"
	DefaultAgents         = 2
	DefaultSchedulers     = 2
	DefaultMasterPort     = 5050
	DefaultAgentPort      = 5051
	DefaultAgentResources = "cpus:2;mem:4096;disk:20000;ports:[31000-32000]"
)

// ExecutorPath is the PATH the kubelet-executor gets: with
// --executor_environment_variables it inherits nothing else.
const ExecutorPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config describes a dev cluster.
type Config struct {
	// Agents is the number of Mesos agents (hosts); default DefaultAgents.
	Agents int
	// Dir holds everything of the cluster; default DefaultDir.
	Dir string
	// BinDir holds the Kubernetes binaries; default bindir.Default().
	BinDir string
	// Kubemesos is the kubemesos binary run for the master, the agents, the
	// bridge and (by the agents) the executor; default os.Executable().
	Kubemesos string
	// Network is the hosts' addressing; default node.DefaultNetwork().
	Network node.Network
	// AgentPrefix names the agents (and their nodes): <AgentPrefix><i>;
	// default "agent-".
	AgentPrefix string
	// MasterPort and AgentPort default to 5050 and 5051.
	MasterPort, AgentPort int
	// AgentResources is each agent's --resources; default DefaultAgentResources.
	AgentResources string
	// Oversubscribe is what each agent offers as revocable resources besides
	// AgentResources (oversubscribe.go); zero: nothing.
	Oversubscribe Oversubscription
	// RevocablePods makes the bridges place opted-in BestEffort pods on
	// revocable resources (`kubemesos scheduler --revocable-pods`) even when
	// the agents start without Oversubscribe (one restarted WithEstimate
	// offers them); Oversubscribe implies it.
	RevocablePods bool
	// Verbosity is passed as -v to the kubemesos children.
	Verbosity int
	// StartTimeout bounds Up; default 5 minutes.
	StartTimeout time.Duration
	// Schedulers is how many bridges run (`kubemesos scheduler`), electing
	// their leader in the control plane's etcd; default DefaultSchedulers.
	Schedulers int
	// Masters is how many Mesos masters run (1..3; default 1). With more
	// than one they elect their leader in the control plane's etcd (the
	// part ZooKeeper plays for Apache Mesos); master i listens on
	// MasterPort+2(i-1), and the agents and bridges are given all of them.
	Masters int
	// TestImages also imports the upstream end-to-end suite's images
	// (images.Suite: agnhost, busybox, nginx, the sample API server, etcd,
	// ... under the names e2e.test pulls) built from BinDir and Debian
	// packages into every agent, for end-to-end tests. The layout is kept
	// in TestImagesCache (when set) and reused while its inputs stay the same.
	TestImages      bool
	TestImagesCache string
}

func (c Config) withDefaults() (Config, error) {
	if c.Agents == 0 {
		c.Agents = DefaultAgents
	}
	if c.Agents < 1 || c.Agents > 50 {
		return c, fmt.Errorf("devcluster: %d agents: want 1..50", c.Agents)
	}
	if c.Masters == 0 {
		c.Masters = 1
	}
	if c.Masters < 1 || c.Masters > 3 {
		return c, fmt.Errorf("devcluster: %d masters: want 1..3", c.Masters)
	}
	if c.Schedulers == 0 {
		c.Schedulers = DefaultSchedulers
	}
	if c.Schedulers < 1 || c.Schedulers > 5 {
		return c, fmt.Errorf("devcluster: %d schedulers: want 1..5", c.Schedulers)
	}
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, err
	}
	c.Dir = dir
	if c.BinDir == "" {
		if c.BinDir, err = bindir.Default(); err != nil {
			return c, err
		}
	}
	if c.BinDir, err = filepath.Abs(c.BinDir); err != nil {
		return c, err
	}
	if c.Kubemesos == "" {
		if c.Kubemesos, err = os.Executable(); err != nil {
			return c, fmt.Errorf("devcluster: kubemesos binary: %w", err)
		}
	}
	if c.Network.Bridge == "" {
		c.Network = node.DefaultNetwork()
	}
	if !c.Network.ServiceCIDR.IsValid() {
		c.Network.ServiceCIDR = netip.MustParsePrefix(controlplane.DefaultServiceCIDR)
	}
	if c.AgentPrefix == "" {
		c.AgentPrefix = "agent-"
	}
	if c.MasterPort == 0 {
		c.MasterPort = DefaultMasterPort
	}
	if c.AgentPort == 0 {
		c.AgentPort = DefaultAgentPort
	}
	if c.AgentResources == "" {
		c.AgentResources = DefaultAgentResources
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 5 * time.Minute
	}
	return c, nil
}

// Cluster is a running dev cluster.
type Cluster struct {
	// Dir is the cluster directory.
	Dir string
	// Kubeconfig is the admin kubeconfig (<Dir>/kubeconfig).
	Kubeconfig string
	// EnvFile exports KUBECONFIG, MESOS_MASTER and PATH (<Dir>/env).
	EnvFile string
	// MesosMaster is the master's URL, http://10.200.0.1:5050; with several
	// masters their URLs, comma-separated (a non-leader redirects to the
	// leader).
	MesosMaster string
	// ControlPlane is the running control plane.
	ControlPlane *controlplane.ControlPlane
	// Hosts are the agents' hosts, in order.
	Hosts []node.State

	// ClusterDNS is the kube-dns Service's ClusterIP the kubelets use.
	ClusterDNS string
	// BridgeDebug are the bridges' --debug-address, comma-separated
	// (`kubemesos why` asks them): on the gateway's address, so clusters
	// side by side do not clash.
	BridgeDebug string
	// BridgeMetrics are the bridges' metrics URLs, comma-separated.
	BridgeMetrics string

	cfg   Config
	state *State
	hosts map[string]*node.Host
	procs map[string]*proc.Process
	// specs and markers of the children, for Restart; life supervises them.
	specs   map[string]proc.Spec
	markers map[string]string
	life    context.Context
	// supervised children are started again when they exit (supervise).
	supervised map[string]bool

	mu       sync.Mutex
	stopping bool
	downOnce sync.Once
	downErr  error
}

// Up starts a dev cluster (see the package doc) and returns once the agents
// are registered with the master and the bridge has subscribed. On error it
// tears down whatever it started. The cluster's processes stop when ctx is
// done; call Down to tear it down in order.
func Up(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := preflight(cfg); err != nil {
		return nil, err
	}
	if err := checkSocketPaths(cfg); err != nil {
		return nil, err
	}
	logger := klog.FromContext(ctx)
	if _, err := ReadState(cfg.Dir); err == nil {
		logger.Info("A cluster is recorded in the directory; tearing it down first", "dir", cfg.Dir)
		if err := Down(ctx, cfg.Dir); err != nil {
			return nil, err
		}
	}
	if err := freshDir(cfg.Dir); err != nil {
		return nil, err
	}
	c := &Cluster{
		Dir:         cfg.Dir,
		Kubeconfig:  filepath.Join(cfg.Dir, "kubeconfig"),
		EnvFile:     filepath.Join(cfg.Dir, "env"),
		MesosMaster: strings.Join(masterURLs(cfg), ","),
		cfg:         cfg,
		state:       &State{Dir: cfg.Dir, Owner: ownerProc()},
		hosts:       map[string]*node.Host{},
		procs:       map[string]*proc.Process{},
		specs:       map[string]proc.Spec{},
		markers:     map[string]string{},
		supervised:  map[string]bool{},
	}
	if err := writeState(c.state); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := c.start(ctx, startCtx); err != nil {
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer tcancel()
		if derr := c.Down(tctx); derr != nil {
			logger.Error(derr, "Tearing down after a failed start")
		}
		return nil, fmt.Errorf("devcluster: up: %w", err)
	}
	return c, nil
}

// preflight checks what Up needs from the machine, with errors that say
// what to install.
func preflight(cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("devcluster: must run as root (network namespaces, veths, cgroups)")
	}
	for _, tool := range []string{"ip", "nsenter", "containerd", "ctr", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("devcluster: %s not found (Debian: iproute2 util-linux containerd runc containernetworking-plugins iptables busybox-static): %w", tool, err)
		}
	}
	if _, err := os.Stat(images.DefaultBusybox); err != nil {
		return fmt.Errorf("devcluster: busybox-static is needed for the images: %w", err)
	}
	if err := bindir.Check(cfg.BinDir, "etcd", "kube-apiserver", "kube-controller-manager", "kubelet", "kube-proxy", "coredns", "metrics-server"); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	return nil
}

// maxSocketPath is the longest path a unix socket may have (sun_path).
const maxSocketPath = 107

// checkSocketPaths refuses a cluster directory so deep that the kubelet's
// pod-resources socket (<Dir>/agents/<agent>/state/<node>/kubelet/pod-resources/<10 digits>)
// would not fit in a unix socket path: the kubelet would fail to start with
// "bind: invalid argument".
func checkSocketPaths(cfg Config) error {
	name := fmt.Sprintf("%s%d", cfg.AgentPrefix, cfg.Agents)
	sock := filepath.Join(cfg.Dir, "agents", name, "state", strings.ToLower(name), "kubelet", "pod-resources", "0123456789")
	if len(sock) > maxSocketPath {
		return fmt.Errorf("devcluster: directory %s is too deep: the kubelet's sockets under it (%s, %d bytes) exceed the %d-byte limit of unix socket paths; use a shorter --dir",
			cfg.Dir, sock, len(sock), maxSocketPath)
	}
	return nil
}

// freshDir empties the parts of dir a previous cluster left, refusing when
// anything is still mounted there.
func freshDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if m, err := node.MountsUnder(dir); err != nil || len(m) > 0 {
		return fmt.Errorf("devcluster: %s still has mounts %v (%v); run kubemesos down", dir, m, err)
	}
	for _, sub := range []string{"controlplane", "agents", "mesos", "logs", "images", "kubeconfig", "env"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("devcluster: %w", err)
		}
	}
	return nil
}

func (c *Cluster) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return writeState(c.state)
}

// child starts a kubemesos subcommand (or another program) supervised by
// life, records it and reports an unexpected exit.
func (c *Cluster) child(life context.Context, name string, spec proc.Spec, marker string) (*proc.Process, *Proc, error) {
	spec.Name = name
	if spec.LogFile == "" {
		spec.LogFile = filepath.Join(c.Dir, "logs", name+".log")
	}
	p, err := proc.Start(life, spec)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.specs[name], c.markers[name], c.life = spec, marker, life
	c.mu.Unlock()
	go func() {
		<-p.Exited()
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if !stopping && life.Err() == nil {
			klog.FromContext(life).Error(p.Err(), "Cluster process exited", "name", name, "log", spec.LogFile)
			c.mu.Lock()
			supervised := c.supervised[name]
			c.mu.Unlock()
			if supervised {
				go c.supervise(life, name)
			}
		}
	}()
	return p, &Proc{Name: name, PID: p.PID(), Marker: marker}, nil
}

// schedulerArgs adds the verbosity (the Mesos daemons take Mesos' flags only).
func (c *Cluster) schedulerArgs(args ...string) []string {
	if c.cfg.Verbosity > 0 {
		args = append(args, "-v", strconv.Itoa(c.cfg.Verbosity))
	}
	return args
}

func (c *Cluster) start(life, ctx context.Context) error {
	cfg := c.cfg
	logger := klog.FromContext(ctx)
	gw := cfg.Network.Gateway.Addr().String()
	dns, err := addons.ClusterDNSIP(cfg.Network.ServiceCIDR)
	if err != nil {
		return err
	}
	c.ClusterDNS = dns.String()

	start := time.Now()
	archives, err := images.Build(ctx, images.Options{OutDir: filepath.Join(c.Dir, "images")})
	if err != nil {
		return err
	}
	more, err := images.BuildBinaryImages(images.Addons, cfg.BinDir, filepath.Join(c.Dir, "images"))
	if err != nil {
		return err
	}
	archives = append(archives, more...)
	if cfg.TestImages {
		for i := range archives {
			if archives[i].Ref == images.PauseRef {
				archives[i].Aliases = append(archives[i].Aliases, images.UpstreamPause)
			}
		}
		suite, err := images.BuildSuite(ctx, images.SuiteOptions{BinDir: cfg.BinDir}, filepath.Join(c.Dir, "images"), cfg.TestImagesCache)
		if err != nil {
			return err
		}
		archives = append(archives, suite)
	}
	logger.Info("Images built", "count", len(archives), "took", time.Since(start).Round(time.Millisecond))

	sw, err := node.SetupSwitch(ctx, cfg.Network)
	c.state.Switch = &sw
	if serr := c.save(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}

	start = time.Now()
	cp, err := controlplane.Start(life, controlplane.Options{
		Dir:               filepath.Join(c.Dir, "controlplane"),
		BinDir:            cfg.BinDir,
		BindAddress:       gw,
		ControllerManager: true,
		ClusterCIDR:       cfg.Network.PodCIDRs.String(),
		ServiceCIDR:       cfg.Network.ServiceCIDR.String(),
		VerifyKubelets:    true,
		StartTimeout:      cfg.StartTimeout,
	})
	if err != nil {
		return err
	}
	c.ControlPlane = cp
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if pid, ok := cp.PIDs()[name]; ok {
			c.state.ControlPlane = append(c.state.ControlPlane, Proc{Name: name, PID: pid, Marker: cp.Dir})
		}
	}
	if err := c.save(); err != nil {
		return err
	}
	if err := copyFile(cp.AdminKubeconfig, c.Kubeconfig); err != nil {
		return err
	}
	logger.Info("Control plane up", "url", cp.URL, "took", time.Since(start).Round(time.Millisecond))

	if err := c.startMasters(life, ctx); err != nil {
		return err
	}

	for i := 1; i <= cfg.Agents; i++ {
		if err := c.startAgent(life, ctx, i, archives); err != nil {
			return fmt.Errorf("%s%d: %w", cfg.AgentPrefix, i, err)
		}
	}
	if err := c.waitMaster(ctx, func(s *masterState) bool { return s.activeAgents() >= cfg.Agents }); err != nil {
		return fmt.Errorf("waiting for %d agents to register: %w", cfg.Agents, err)
	}
	logger.Info("Agents registered", "count", cfg.Agents)

	bridgeKubeconfig, err := cp.Kubeconfig("bridge", "kubemesos-bridge", "kubemesos:bridges")
	if err != nil {
		return err
	}
	// Bridges elect their leader in the control plane's etcd; bridge i
	// serves metrics on <gateway>:10259+2(i-1) and its debug listener on
	// the port after.
	var debugs, metrics []string
	for i := 1; i <= cfg.Schedulers; i++ {
		name := BridgeName(i)
		metricsAt := net.JoinHostPort(gw, strconv.Itoa(10259+2*(i-1)))
		debugAt := net.JoinHostPort(gw, strconv.Itoa(10260+2*(i-1)))
		_, rec, err := c.child(life, name, proc.Spec{
			Path: cfg.Kubemesos,
			Args: c.schedulerArgs(append([]string{"scheduler",
				"--mesos-master", c.MesosMaster,
				"--kubeconfig", bridgeKubeconfig,
				"--executor-command", cfg.Kubemesos + " executor",
				"--etcd-endpoints", cp.EtcdURL,
				"--etcd-prefix", "/kubemesos",
				"--metrics-address", metricsAt,
				"--debug-address", debugAt}, cfg.Oversubscribe.bridgeArgs(cfg.RevocablePods)...)...),
		}, bridgeKubeconfig)
		if err != nil {
			return err
		}
		c.state.Bridges = append(c.state.Bridges, *rec)
		if err := c.save(); err != nil {
			return err
		}
		debugs = append(debugs, debugAt)
		metrics = append(metrics, "http://"+metricsAt+"/metrics")
	}
	c.BridgeDebug, c.BridgeMetrics = strings.Join(debugs, ","), strings.Join(metrics, ",")
	if err := c.waitMaster(ctx, func(s *masterState) bool { return s.activeFramework("kubemesos") }); err != nil {
		return fmt.Errorf("waiting for a bridge to lead and subscribe: %w; log:\n%s", err, proc.Tail(filepath.Join(c.Dir, "logs", BridgeName(1)+".log"), 2000))
	}
	logger.Info("Bridge subscribed", "master", c.MesosMaster, "bridges", cfg.Schedulers)

	start = time.Now()
	if err := c.waitNodes(ctx); err != nil {
		return err
	}
	logger.Info("Every agent is a Ready node", "count", cfg.Agents, "took", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := c.startAddons(ctx); err != nil {
		return err
	}
	logger.Info("Cluster DNS ready", "clusterIP", c.ClusterDNS, "took", time.Since(start).Round(time.Millisecond))

	env := fmt.Sprintf("export KUBECONFIG=%s\nexport MESOS_MASTER=%s\nexport KUBEMESOS_BRIDGE_DEBUG=%s\nexport KUBEMESOS_METRICS=%s\nexport PATH=%s:$PATH\n",
		shellQuote(c.Kubeconfig), c.MesosMaster, c.BridgeDebug, c.BridgeMetrics, shellQuote(cfg.BinDir))
	if err := os.WriteFile(c.EnvFile, []byte(env), 0o644); err != nil {
		return fmt.Errorf("env file: %w", err)
	}
	return nil
}

// startAgent creates host i, imports the images into its containerd, issues
// its identities and starts its Mesos agent inside the host's namespace.
func (c *Cluster) startAgent(life, ctx context.Context, i int, archives []images.Archive) error {
	cfg := c.cfg
	name := fmt.Sprintf("%s%d", cfg.AgentPrefix, i)
	hcfg := node.Config{Name: name, Index: i, Dir: filepath.Join(c.Dir, "agents", name), Network: cfg.Network, SandboxImage: images.PauseRef}
	planned, err := node.Plan(hcfg)
	if err != nil {
		return err
	}
	// Recorded before anything exists, so a crash half-way is undone too.
	c.state.Hosts = append(c.state.Hosts, planned)
	if err := c.save(); err != nil {
		return err
	}
	h, err := node.Create(life, hcfg)
	if err != nil {
		return err
	}
	st := h.State()
	c.hosts[name] = h
	c.Hosts = append(c.Hosts, st)
	c.state.Hosts[len(c.state.Hosts)-1] = st
	if err := c.save(); err != nil {
		return err
	}
	if err := images.ImportAll(ctx, st.ContainerdSocket, archives); err != nil {
		return err
	}

	cp := c.ControlPlane
	nodeKubeconfig, err := cp.NodeKubeconfig(name)
	if err != nil {
		return err
	}
	execKubeconfig, err := cp.Kubeconfig("executor-"+name, "kubemesos-executor", "kubemesos:executors")
	if err != nil {
		return err
	}
	// kube-proxy's own identity: the bootstrap ClusterRoleBinding
	// system:node-proxier grants user system:kube-proxy what it reads.
	proxyKubeconfig, err := cp.Kubeconfig("kube-proxy-"+name, "system:kube-proxy")
	if err != nil {
		return err
	}
	// The kubelet's serving certificate, which the API server and
	// metrics-server verify.
	serving, err := cp.CA().IssueServing("kubelet-"+name, []string{name}, []net.IP{net.ParseIP(st.IP)})
	if err != nil {
		return err
	}
	env := ExecutorEnv(st, nodeKubeconfig, execKubeconfig, cp.ClientCAFile(), cfg.BinDir)
	env["KUBEMESOS_KUBELET_TLS_CERT_FILE"], env["KUBEMESOS_KUBELET_TLS_KEY_FILE"] = serving.CertFile, serving.KeyFile
	maps.Copy(env, ProxyEnv(proxyKubeconfig, cp.ClusterCIDR))
	maps.Copy(env, DNSEnv(c.ClusterDNS, addons.DefaultClusterDomain))
	maps.Copy(env, PreloadedImagesEnv(archives))
	envJSON, err := json.Marshal(env)
	if err != nil {
		return err
	}
	workDir := filepath.Join(st.Dir, "mesos")
	_, rec, err := c.child(life, name, proc.Spec{
		Path: cfg.Kubemesos,
		Args: append([]string{"mesos-agent",
			"--master", strings.Join(masterAddrs(cfg), ","),
			"--ip", st.IP,
			"--port", strconv.Itoa(cfg.AgentPort),
			"--hostname", name,
			"--work_dir", workDir,
			"--resources", cfg.AgentResources,
			// The agents run on this machine: declare its architecture, which
			// Mesos does not report (podtask.NodeLabels assumes amd64 otherwise).
			"--attributes", fmt.Sprintf("rack:r%d;%s:%s", i, corev1.LabelArchStable, runtime.GOARCH),
			"--executor_environment_variables", string(envJSON)}, cfg.Oversubscribe.agentArgs()...),
		NetNS:   st.NetNS,
		LogFile: filepath.Join(st.LogDir(), "mesos-agent.log"),
	}, workDir)
	if err != nil {
		return err
	}
	c.state.Agents = append(c.state.Agents, *rec)
	if err := c.save(); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Agent started", "agent", name, "ip", st.IP, "podCIDR", st.PodCIDR, "netns", st.NetNS)
	return nil
}

// startMasters starts the Mesos masters and waits until one leads.
func (c *Cluster) startMasters(life, ctx context.Context) error {
	cfg := c.cfg
	for i, addr := range masterAddrs(cfg) {
		host, port, _ := net.SplitHostPort(addr)
		name := MasterName(i + 1)
		dir := filepath.Join(c.Dir, "mesos", "master")
		if i > 0 {
			dir = filepath.Join(c.Dir, "mesos", name)
		}
		args := []string{"mesos-master", "--ip", host, "--port", port, "--work_dir", dir}
		if cfg.Masters > 1 {
			args = append(args, "--etcd_endpoints", c.ControlPlane.EtcdURL, "--etcd_prefix", "/mesos")
		}
		// Like Apache Mesos masters, which abort when they lose their
		// ZooKeeper session, these exit when their etcd session ends: they
		// run supervised, as a real deployment runs them.
		c.mu.Lock()
		c.supervised[name] = cfg.Masters > 1
		c.mu.Unlock()
		_, rec, err := c.child(life, name, proc.Spec{Path: cfg.Kubemesos, Args: args}, dir)
		if err != nil {
			return err
		}
		if i == 0 {
			c.state.Master = rec
		} else {
			c.state.Masters = append(c.state.Masters, *rec)
		}
		if err := c.save(); err != nil {
			return err
		}
	}
	if err := c.waitMaster(ctx, func(*masterState) bool { return true }); err != nil {
		return fmt.Errorf("mesos-master: %w; log:\n%s", err, proc.Tail(filepath.Join(c.Dir, "logs", MasterName(1)+".log"), 2000))
	}
	return nil
}

// masterAddrs are the masters' host:port, in order.
func masterAddrs(cfg Config) []string {
	var out []string
	for i := 0; i < cfg.Masters; i++ {
		out = append(out, net.JoinHostPort(cfg.Network.Gateway.Addr().String(), strconv.Itoa(cfg.MasterPort+2*i)))
	}
	return out
}

func masterURLs(cfg Config) []string {
	var out []string
	for _, a := range masterAddrs(cfg) {
		out = append(out, "http://"+a)
	}
	return out
}

// MasterName is the name (and log file) of Mesos master i (1-based): the
// first is "mesos-master", as with a single one.
func MasterName(i int) string {
	if i == 1 {
		return "mesos-master"
	}
	return fmt.Sprintf("mesos-master-%d", i)
}

// BridgeName is the name (and log file) of bridge i (1-based).
func BridgeName(i int) string { return fmt.Sprintf("bridge-%d", i) }

// ExecutorEnv is the environment the agent of host st gives the
// kubelet-executor (docs/contracts.md).
func ExecutorEnv(st node.State, nodeKubeconfig, executorKubeconfig, clientCA, binDir string) map[string]string {
	return map[string]string{
		"PATH":                          ExecutorPath,
		"KUBEMESOS_KUBECONFIG":          nodeKubeconfig,
		"KUBEMESOS_EXECUTOR_KUBECONFIG": executorKubeconfig,
		"KUBEMESOS_CLIENT_CA":           clientCA,
		"KUBEMESOS_CRI_SOCKET":          st.CRIEndpoint(),
		"KUBEMESOS_POD_CIDR":            st.PodCIDR,
		"KUBEMESOS_CNI_CONF_DIR":        st.CNIConfDir(),
		"KUBEMESOS_CNI_BIN_DIR":         "/usr/lib/cni",
		"KUBEMESOS_STATE_DIR":           st.StateDir(),
		"KUBEMESOS_BIN_DIR":             binDir,
		"KUBEMESOS_NODE_IP":             st.IP,
		"KUBEMESOS_CGROUP_ROOT":         st.CgroupRoot,
	}
}

// ProxyEnv is the kube-proxy part of the kubelet-executor's environment
// (docs/contracts.md): kube-proxy's kubeconfig and the cluster's pod network.
func ProxyEnv(proxyKubeconfig, clusterCIDR string) map[string]string {
	return map[string]string{
		"KUBEMESOS_PROXY_KUBECONFIG": proxyKubeconfig,
		"KUBEMESOS_CLUSTER_CIDR":     clusterCIDR,
	}
}

// DNSEnv is the cluster-DNS part of the kubelet-executor's environment
// (docs/contracts.md): the kubelets' clusterDNS and clusterDomain.
func DNSEnv(clusterDNS, domain string) map[string]string {
	return map[string]string{
		"KUBEMESOS_CLUSTER_DNS":    clusterDNS,
		"KUBEMESOS_CLUSTER_DOMAIN": domain,
	}
}

// PreloadedImagesEnv names the images imported into every agent's containerd
// (KUBEMESOS_PRELOADED_IMAGES, docs/contracts.md), so no kubelet pulls them
// again to verify credentials while another pod pulls the same image.
func PreloadedImagesEnv(archives []images.Archive) map[string]string {
	var names []string
	for _, a := range archives {
		for _, ref := range a.Names() {
			names = append(names, images.Name(ref))
		}
	}
	slices.Sort(names)
	return map[string]string{"KUBEMESOS_PRELOADED_IMAGES": strings.Join(slices.Compact(names), ",")}
}

// Down tears the cluster down in reverse order: the bridge, the agents
// (which shut their executors down), the hosts (pod sandboxes, containerd,
// network), the master, the control plane and the switch. Calling it again
// returns the first result.
func (c *Cluster) Down(ctx context.Context) error {
	c.downOnce.Do(func() {
		c.mu.Lock()
		c.stopping = true
		st := *c.state
		c.mu.Unlock()
		c.downErr = teardown(ctx, &st, c)
	})
	return c.downErr
}

// masterState is the part of /master/state Up waits on.
type masterState struct {
	Slaves []struct {
		Hostname string `json:"hostname"`
		Active   bool   `json:"active"`
	} `json:"slaves"`
	Frameworks []struct {
		Name   string `json:"name"`
		Active bool   `json:"active"`
	} `json:"frameworks"`
}

func (s *masterState) activeAgents() int {
	n := 0
	for _, a := range s.Slaves {
		if a.Active {
			n++
		}
	}
	return n
}

func (s *masterState) activeFramework(name string) bool {
	for _, f := range s.Frameworks {
		if f.Name == name && f.Active {
			return true
		}
	}
	return false
}

// waitMaster polls the master's /master/state until cond holds.
// It fails early when one of the cluster's processes has exited.
func (c *Cluster) waitMaster(ctx context.Context, cond func(*masterState) bool) error {
	// A non-leading master redirects /master/state to the leader.
	master := masterURLs(c.cfg)[0]
	hc := &http.Client{Timeout: 2 * time.Second}
	return c.waitFor(ctx, master+"/master/state", func() (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, master+"/master/state", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, "status " + resp.Status
		}
		var s masterState
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return false, err.Error()
		}
		return cond(&s), "not yet"
	})
}

// waitFor polls cond every 250 ms until it holds, failing early when one of
// the cluster's processes has exited; the error names what and cond's last
// detail.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func() (bool, string)) error {
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		if err := c.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %s)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// exited returns an error naming a cluster process that is no longer running.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.procs {
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited: %v", name, p.Err())
		default:
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
