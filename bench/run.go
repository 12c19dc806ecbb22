package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

// Defaults of Options.
const (
	DefaultNodes       = 100
	DefaultPods        = 1000
	DefaultConcurrency = 16
	DefaultTimeout     = 5 * time.Minute
	DefaultClientQPS   = 5000
	DefaultClientBurst = 5000
	// WarmupTimeout bounds the wait for a contender's first pod.
	WarmupTimeout = 2 * time.Minute
	// WarmupPod is the name of the pod that tells a contender schedules; it
	// is not measured.
	WarmupPod = "warmup"
)

// Options configure Run.
type Options struct {
	// Nodes Node objects (or simulated agents), Pods pods per contender.
	Nodes, Pods int
	// Contenders by name, run in this order (default AllContenders).
	Contenders []string
	// BinDir holds etcd, kube-apiserver and kube-scheduler
	// (default bindir.Default()).
	BinDir string
	// Dir holds the control plane's state and the contenders' logs
	// (required).
	Dir string
	// AllocationInterval of kubemesos' mesoslocal master (default 1 s).
	AllocationInterval time.Duration
	// Concurrency is how many creates are in flight (DefaultConcurrency).
	Concurrency int
	// Timeout bounds each contender's measured run (DefaultTimeout).
	Timeout time.Duration
	// ClientQPS and ClientBurst of every API client, the bench's and the
	// contenders' (DefaultClientQPS, DefaultClientBurst).
	ClientQPS   float32
	ClientBurst int
	// Node is every node's allocatable (DefaultNodeShape).
	Node NodeShape
	// Rates are the loads each contender runs under, in order: 0 is the
	// closed loop, a rate R > 0 an open loop of R pods per second (default
	// just the closed loop).
	Rates []float64
	// Progress, when set, gets a progress line while a contender runs.
	Progress io.Writer
	// AgentsPerProcess: kubemesos' simulated agents run in agent processes
	// of at most this many agents each (DefaultAgentsPerProcess when 0);
	// < 0 runs them all inside the bench process.
	AgentsPerProcess int
	// AgentCommand starts an agent process when followed by
	// AgentsSubcommand and its flags (default: this executable and
	// "bench", i.e. `kubemesos bench agents ...`).
	AgentCommand []string
}

func (o Options) withDefaults() (Options, error) {
	if o.Nodes <= 0 {
		o.Nodes = DefaultNodes
	}
	if o.Pods <= 0 {
		o.Pods = DefaultPods
	}
	if len(o.Contenders) == 0 {
		o.Contenders = AllContenders
	}
	if o.Dir == "" {
		return o, errors.New("bench: Options.Dir is required")
	}
	if o.BinDir == "" {
		var err error
		if o.BinDir, err = bindir.Default(); err != nil {
			return o, err
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ClientQPS <= 0 {
		o.ClientQPS = DefaultClientQPS
	}
	if o.ClientBurst <= 0 {
		o.ClientBurst = DefaultClientBurst
	}
	if o.Node == (NodeShape{}) {
		o.Node = DefaultNodeShape
	}
	if len(o.Rates) == 0 {
		o.Rates = []float64{0}
	}
	if o.AgentsPerProcess == 0 {
		o.AgentsPerProcess = DefaultAgentsPerProcess
	}
	if o.AgentsPerProcess > 0 && len(o.AgentCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("bench: agent command: %w", err)
		}
		o.AgentCommand = []string{exe, "bench"}
	}
	for _, r := range o.Rates {
		if r < 0 {
			return o, fmt.Errorf("bench: arrival rate %v < 0", r)
		}
	}
	return o, nil
}

// Run starts a control plane (etcd, kube-apiserver; no controller-manager,
// so nothing touches the Node objects), runs every contender on it one
// after another, each on the same pod template in its own namespace, and
// returns their samples in order: for each rate, every contender.
func Run(ctx context.Context, o Options) ([]Sample, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var contenders []Contender
	needNodes := false
	for _, name := range o.Contenders {
		c, err := contenderByName(name, o)
		if err != nil {
			return nil, err
		}
		if c.Name() == KubeSchedulerContender {
			if err := bindir.Check(o.BinDir, KubeSchedulerBinary); err != nil {
				return nil, err
			}
		}
		needNodes = needNodes || c.NeedsNodes()
		contenders = append(contenders, c)
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: filepath.Join(o.Dir, "controlplane"), BinDir: o.BinDir})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	cfg := rest.CopyConfig(cp.RESTConfig())
	cfg.QPS, cfg.Burst = o.ClientQPS, o.ClientBurst
	cfg.UserAgent = "kubemesos-bench"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	env := Env{
		RESTConfig: cfg, Client: client, Kubeconfig: cp.AdminKubeconfig,
		Nodes: o.Nodes, Node: o.Node, BinDir: o.BinDir, Dir: o.Dir,
		ClientQPS: o.ClientQPS, ClientBurst: o.ClientBurst,
	}
	if needNodes {
		progressf(o.Progress, "creating %d Node objects\n", o.Nodes)
		if env.NodeNames, err = createNodes(ctx, client, o.Nodes, o.Node, o.Concurrency); err != nil {
			return nil, err
		}
	}
	var results []Sample
	for ri, rate := range o.Rates {
		for _, c := range contenders {
			s, err := runContender(ctx, c, env, o, rate, fmt.Sprintf("bench-%s-%d", c.Name(), ri))
			if err != nil {
				return results, fmt.Errorf("%s (%s): %w", c.Name(), LoadName(rate), err)
			}
			results = append(results, s)
		}
	}
	if err := cp.Stop(); err != nil {
		return results, fmt.Errorf("stop control plane: %w", err)
	}
	return results, nil
}

// LoadName is how the table and the progress line call a rate.
func LoadName(rate float64) string {
	if rate == 0 {
		return "closed loop"
	}
	return fmt.Sprintf("%g pods/s", rate)
}

// runContender measures one contender under one load in namespace ns; its
// pods are deleted afterwards, so the next run finds the nodes empty.
func runContender(ctx context.Context, c Contender, env Env, o Options, rate float64, ns string) (Sample, error) {
	if err := prepareNamespace(ctx, env.Client, ns); err != nil {
		return Sample{}, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch := NewBindWatch(o.Pods)
	if err := watch.Run(wctx, env.Client, ns); err != nil {
		return Sample{}, err
	}
	progressf(o.Progress, "%s, %s: starting\n", c.Name(), LoadName(rate))
	running, err := c.Start(ctx, env)
	if err != nil {
		return Sample{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = running.Stop()
		}
	}()
	if err := warmUp(ctx, env.Client, ns, c.SchedulerName()); err != nil {
		return Sample{}, err
	}
	u0, err := running.Usage()
	if err != nil {
		return Sample{}, err
	}
	a0, _, err := agentsUsage(running)
	if err != nil {
		return Sample{}, err
	}
	self0, t0 := selfCPU(), time.Now()

	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		reportProgress(rctx, o.Progress, c.Name(), watch, o.Pods, t0)
	}()
	var createErr error
	if rate > 0 {
		createErr = createPodsAtRate(rctx, env.Client, ns, c.SchedulerName(), o.Pods, rate, watch)
	} else {
		createErr = createPods(rctx, env.Client, ns, c.SchedulerName(), o.Pods, o.Concurrency, watch)
	}
	if createErr == nil {
		select {
		case <-watch.AllBound():
		case <-rctx.Done():
		}
	}
	lats, last := watch.Latencies()
	u1, uerr := running.Usage()
	a1, agentProcs, aerr := agentsUsage(running)
	if uerr == nil {
		uerr = aerr
	}
	self1 := selfCPU()
	cancel()
	<-progressDone
	stopped = true
	stopErr := running.Stop()
	if err := deletePods(ctx, env.Client, ns); err != nil {
		return Sample{}, err
	}
	switch {
	case createErr != nil:
		return Sample{}, createErr
	case len(lats) < o.Pods:
		return Sample{}, fmt.Errorf("%d of %d pods bound within %s", len(lats), o.Pods, o.Timeout)
	case uerr != nil:
		return Sample{}, uerr
	case stopErr != nil:
		return Sample{}, stopErr
	}
	return Sample{
		Contender: c.Name(), Nodes: env.Nodes, Pods: o.Pods, Rate: rate, Latencies: lats, BoundTo: watch.Nodes(), Window: last.Sub(t0),
		CPU: u1.CPU - u0.CPU, BenchCPU: self1 - self0, PeakRSS: u1.PeakRSS, Measured: running.Measured(),
		AgentProcesses: agentProcs, AgentsCPU: a1.CPU - a0.CPU, AgentsPeakRSS: a1.PeakRSS,
	}, nil
}

// agentsUsage is r's agent processes' usage, none when r has none.
func agentsUsage(r Running) (Usage, int, error) {
	if ar, ok := r.(agentsRunning); ok {
		return ar.AgentsUsage()
	}
	return Usage{}, 0, nil
}

// warmUp creates WarmupPod and waits until it is bound: the contender
// schedules from then on.
func warmUp(ctx context.Context, c kubernetes.Interface, ns, schedulerName string) error {
	ctx, cancel := context.WithTimeout(ctx, WarmupTimeout)
	defer cancel()
	pods := c.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, PodTemplate(ns, WarmupPod, schedulerName), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("warm-up pod: %w", err)
	}
	for {
		p, err := pods.Get(ctx, WarmupPod, metav1.GetOptions{})
		if err == nil && p.Spec.NodeName != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("warm-up pod not bound within %s: %w", WarmupTimeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func reportProgress(ctx context.Context, w io.Writer, name string, watch *BindWatch, total int, t0 time.Time) {
	if w == nil {
		return
	}
	line := func() {
		created, bound := watch.Counts()
		fmt.Fprintf(w, "\r%-15s created %6d/%d  bound %6d/%d  %6.1fs", name, created, total, bound, total, time.Since(t0).Seconds())
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			line()
			fmt.Fprintln(w)
			return
		case <-watch.AllBound():
			line()
			fmt.Fprintln(w)
			return
		case <-t.C:
			line()
		}
	}
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// TempDir makes a directory for a run under os.TempDir.
func TempDir() (string, error) {
	d, err := os.MkdirTemp("", "kubemesos-bench-")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return d, nil
}
