package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/offermatcher"
)

func init() {
	register("scheduler", "run the bridge: a Mesos framework that schedules Kubernetes pods", runScheduler)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runScheduler(args []string) error {
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	self, _ := os.Executable()
	var (
		master     = fs.String("mesos-master", os.Getenv("MESOS_MASTER"), "Mesos masters, host:port or http://host:port, comma-separated")
		kubeconfig = fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the bridge's identity (empty: in-cluster)")
		apiQPS     = fs.Float64("kube-api-qps", 50, "queries per second to the API server (as kube-scheduler's --kube-api-qps; client-go's own default, 5, lets 1,000 pending pods wait minutes for their reasons)")
		apiBurst   = fs.Int("kube-api-burst", 100, "burst of queries to the API server")
		schedName  = fs.String("scheduler-name", "default-scheduler", "schedule pods whose spec.schedulerName is this")
		fwName     = fs.String("framework-name", "kubemesos", "Mesos framework name")
		role       = fs.String("role", "kubernetes", "Mesos role the framework subscribes with")
		principal  = fs.String("principal", "", "Mesos principal of the framework")
		secretFile = fs.String("secret-file", "", "file holding the principal's secret, for masters that authenticate frameworks")
		failover   = fs.Duration("failover-timeout", 7*24*time.Hour, "how long Mesos keeps the framework's tasks while no bridge is subscribed")
		execCmd    = fs.String("executor-command", filepath.Clean(self)+" executor", "shell command that starts the kubelet-executor on an agent")
		execCPU    = fs.Float64("executor-cpus", 0.1, "cpus for the executor and its kubelet on each agent")
		execMem    = fs.Int64("executor-mem", 128, "memory (MB) for the executor and its kubelet on each agent")
		offerTTL   = fs.Duration("offer-ttl", bridge.DefaultPolicy.OfferTTL, "longest time an unused offer is held before it is declined")
		declineFor = fs.Duration("decline-refuse", bridge.DefaultPolicy.DeclineFor, "refuse_seconds of declined offers")
		minCPU     = fs.Int64("pod-min-millicpu", bridge.DefaultPolicy.MinPod.MilliCPU, "cpu (milli) given to a pod that requests none")
		minMem     = fs.Int64("pod-min-mem", bridge.DefaultPolicy.MinPod.MemoryMB, "memory (MB) given to a pod that requests none")
		nodeTasks  = fs.Bool("node-tasks", bridge.DefaultPolicy.NodeTasks, "launch a node task on every agent that offers resources, so each is a Ready Node before its first pod (DaemonSets reach it); false: a node comes with its agent's first pod, and offers are suppressed while nothing is pending")
		adoptFor   = fs.Duration("adopt-window", bridge.DefaultPolicy.AdoptWindow, "how long a bound pod whose executor ended under it waits for an offer of its agent to be launched again there, for the next executor to adopt it, before it is evicted; keep it at most the executors' KUBEMESOS_ADOPT_WINDOW (0: mark such pods Failed at once)")
		storeNS    = fs.String("framework-store-namespace", "kubemesos-system", "without --etcd-endpoints: namespace of the ConfigMap that keeps the framework ID of the single bridge (empty: do not keep it)")
		storeName  = fs.String("framework-store-name", "kubemesos-framework", "name of that ConfigMap")
		debugAddr  = fs.String("debug-address", defaultDebugAddress, "host:port of the debug listener (GET /debug/pending: why pods are pending, GET /debug/maintenance: the agents Mesos drains; `kubemesos why` reads them); empty: none")
		drainAhead = fs.Duration("drain-ahead", bridge.DefaultPolicy.DrainAhead, "drain an agent (taint its Node, evict its pods) this long before its Mesos maintenance window begins")
		packing    = fs.Bool("most-allocated", false, "place pods on the offers left fullest (bin packing) instead of the emptiest")
		etcdFlags  = addEtcdFlags(fs)
		metricsAt  = fs.String("metrics-address", "127.0.0.1:10259", "host:port serving Prometheus metrics on /metrics, and /healthz and /readyz (ready: a subscribed leader or a standby) (empty: none)")
		uris       stringList
	)
	revocablePods := fs.Bool("revocable-pods", false, "place BestEffort pods annotated "+offermatcher.RevocableAnnotation+"=true on Mesos revocable (oversubscribed) resources, on a second executor per agent with revocable resources of its own (10 mcpu, 8 MB)")
	fs.Var(&uris, "executor-uri", "URI the agent fetches into the executor's sandbox (repeatable)")
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Var(klogFlags.Lookup("v").Value, "v", "log verbosity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *master == "" {
		return errors.New("--mesos-master is required")
	}
	var secret string
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("--secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubemesos-scheduler"
	cfg.QPS, cfg.Burst = float32(*apiQPS), *apiBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{
		Master: *master, Name: *fwName, Role: *role, Principal: *principal, Secret: secret,
		FailoverTimeout: *failover, Hostname: hostname,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background().WithName("bridge"))

	feed := k8sapi.NewPodFeed(client, *schedName, 10*time.Minute)
	if err := feed.Run(ctx); err != nil {
		return err
	}
	nodes := k8sapi.NewNodeMirror(client, 10*time.Minute)
	if err := nodes.Run(ctx); err != nil {
		return err
	}
	namespaces := k8sapi.NewNamespaceMirror(client, 10*time.Minute)
	if err := namespaces.Run(ctx); err != nil {
		return err
	}
	claims := k8sapi.NewClaimMirror(client, 10*time.Minute)
	if err := claims.Run(ctx); err != nil {
		return err
	}
	volumes := k8sapi.NewVolumeWriter(client)
	reporter := k8sapi.NewPodReporter(ctx, client, *schedName)
	defer reporter.Shutdown()
	// One drainer for every term: a new leader carries on a drain. It has
	// its own client: its evictions and taints do not share the rate limit
	// of the pod writes.
	dclient, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return err
	}
	drainer := k8sapi.NewNodeDrainer(ctx, dclient, *schedName)
	defer drainer.Shutdown()
	go drainer.Run(ctx)
	policy := bridge.DefaultPolicy
	policy.OfferTTL, policy.DeclineFor = *offerTTL, *declineFor
	policy.MinPod = offermatcher.Resources{MilliCPU: *minCPU, MemoryMB: *minMem}
	policy.NodeTasks = *nodeTasks
	if *adoptFor < 0 {
		return fmt.Errorf("--adopt-window=%v: want a duration of at least 0", *adoptFor)
	}
	policy.AdoptWindow = *adoptFor
	policy.DrainAhead = *drainAhead
	if *packing {
		policy.Scoring = offermatcher.MostAllocated
	}
	exec := bridge.ExecutorSpec{
		Command:   *execCmd,
		URIs:      uris,
		Resources: offermatcher.Resources{MilliCPU: int64(math.Round(*execCPU * 1000)), MemoryMB: *execMem},
	}
	klog.FromContext(ctx).Info("Starting", "mesosMaster", *master, "schedulerName", *schedName, "role", *role)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := bridge.NewMetrics(reg)
	metrics.Instrument(fw)
	metrics.PendingPods(feed)
	if *metricsAt != "" {
		_, stopMetrics, err := serveMetrics(ctx, *metricsAt, reg, metrics.Ready)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	var pending atomic.Pointer[bridge.PendingLog] // of the current term
	var maintenance atomic.Pointer[bridge.MaintenanceLog]
	newScheduler := func(store bridge.FrameworkStore) *bridge.Scheduler {
		sched := bridge.NewScheduler(fw, metrics.InstrumentStore(store), feed, nodes, reporter, exec, policy)
		sched.UseNamespaces(namespaces)
		sched.UseVolumes(claims, volumes)
		sched.UseDrainer(drainer)
		if *revocablePods {
			sched.UseRevocable(bridge.ExecutorSpec{Command: exec.Command, URIs: exec.URIs, Resources: bridge.RevocableExecutorResources})
		}
		pending.Store(sched.PendingLog())
		maintenance.Store(sched.MaintenanceLog())
		return sched
	}
	if *debugAddr != "" {
		stopDebug, _ := serveDebug(ctx, *debugAddr, termLog[bridge.PendingLog]{&pending}, termLog[bridge.MaintenanceLog]{&maintenance})
		defer stopDebug()
	}
	if len(etcdFlags.endpoints()) == 0 {
		// A single bridge: framework ID in a ConfigMap, no leader election,
		// no launch intents (its registry is rebuilt by reconciliation).
		var store bridge.FrameworkStore
		if *storeNS != "" {
			store = k8sapi.ConfigMapFrameworkStore{Client: client, Namespace: *storeNS, Name: *storeName}
		}
		metrics.SetLeader(true)
		return newScheduler(store).Run(ctx)
	}
	cli, err := etcdFlags.client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	el := &bridge.Election{
		Client: cli, Store: bridge.NewEtcdStore(cli, etcdFlags.prefix),
		Identity: fmt.Sprintf("%s:%d", hostname, os.Getpid()), LeaseTTL: etcdFlags.lease,
		// SIGTERM hands over at once; a killed bridge's lease runs out.
		ResignOnStop: true,
		OnLeader:     metrics.SetLeader,
	}
	return el.Run(ctx, func(ctx context.Context, t bridge.Term) error {
		defer pending.Store(nil)
		defer maintenance.Store(nil)
		return newScheduler(t.Store).Run(ctx)
	})
}

// termLog serves a log (PendingLog, MaintenanceLog) of the current term's
// scheduler, and 503 while this bridge stands by.
type termLog[T any] struct {
	log *atomic.Pointer[T]
}

func (h termLog[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l := h.log.Load(); l != nil {
		any(l).(http.Handler).ServeHTTP(w, r)
		return
	}
	http.Error(w, "standing by: this bridge is not the leader", http.StatusServiceUnavailable)
}

// serveDebug serves pending on /debug/pending and maintenance on
// /debug/maintenance at addr until the returned func is called; it returns
// the address it listens on. A listener that cannot start is logged, not
// fatal: scheduling does not depend on it.
func serveDebug(ctx context.Context, addr string, pending, maintenance http.Handler) (func(), string) {
	log := klog.FromContext(ctx)
	mux := http.NewServeMux()
	mux.Handle("/debug/pending", pending)
	mux.Handle("/debug/maintenance", maintenance)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error(err, "Debug listener not started", "address", addr)
		return func() {}, ""
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "Debug listener")
		}
	}()
	log.Info("Serving /debug/pending and /debug/maintenance", "address", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, ln.Addr().String()
}
