package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/bench"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

func init() {
	register("bench", "measure kubemesos beside a null binder and kube-scheduler on one real API server", runBench)
}

func runBench(args []string) error {
	if len(args) > 0 && args[0] == bench.AgentsSubcommand {
		return runBenchAgents(args[1:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		nodes       = fs.Int("nodes", bench.DefaultNodes, "Node objects (null, kube-scheduler) and simulated Mesos agents (kubemesos)")
		pods        = fs.Int("pods", bench.DefaultPods, "pods each contender schedules")
		contenders  = fs.String("contenders", strings.Join(bench.AllContenders, ","), "contenders to run, in order (with --real: kubemesos,kubelet)")
		asJSON      = fs.Bool("json", false, "print the results as a JSON list instead of a table")
		binDir      = fs.String("bin-dir", os.Getenv(bindir.Env), "directory of etcd, kube-apiserver and kube-scheduler (default: bin/ of the repository)")
		dir         = fs.String("dir", "", "directory for the control plane and logs (default: a new temporary directory)")
		concurrency = fs.Int("concurrency", bench.DefaultConcurrency, "pod creates in flight")
		timeout     = fs.Duration("timeout", bench.DefaultTimeout, "longest wait for one contender to bind every pod")
		allocEvery  = fs.Duration("allocation-interval", time.Second, "allocation interval of kubemesos' mesoslocal master")
		qps         = fs.Float64("client-qps", bench.DefaultClientQPS, "QPS of every API client (the bench's and each contender's)")
		burst       = fs.Int("client-burst", bench.DefaultClientBurst, "burst of every API client")
		rates       = fs.String("rates", "0", "loads, comma-separated: 0 is the closed loop (as fast as the API server takes pods), R > 0 an open loop of R pods/s")
		plot        = fs.String("plot", "", "also write the latency CDFs of every run as an SVG to this file")
		real        = fs.Bool("real", false, "real containers instead: a `kubemesos up` cluster of 2 agents beside a plain kubelet on its own containerd host, --pods pods each (default 30); needs root and the e2e lock")
		perProcess  = fs.Int("agents-per-process", bench.DefaultAgentsPerProcess, "kubemesos' simulated agents run in processes of at most this many agents each (`kubemesos bench agents`), so each stays under its open-file limit; 0 runs them all inside the bench process")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	podsSet, contendersSet := false, false
	fs.Visit(func(f *flag.Flag) {
		podsSet = podsSet || f.Name == "pods"
		contendersSet = contendersSet || f.Name == "contenders"
	})
	if *perProcess < 0 {
		return fmt.Errorf("--agents-per-process: %d is not a count >= 0", *perProcess)
	}
	if *perProcess == 0 {
		*perProcess = -1 // bench.Options: in-process
	}
	if *dir == "" {
		d, err := bench.TempDir()
		if err != nil {
			return err
		}
		*dir = d
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	// The contenders that run in this process log here, not over the table.
	logPath := filepath.Join(*dir, "bench.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for name, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := klogFlags.Set(name, v); err != nil {
			return err
		}
	}
	klog.SetOutput(logFile)
	defer klog.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var names []string
	for _, n := range strings.Split(*contenders, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if *real {
		n := bench.DefaultRealPods
		if podsSet {
			n = *pods
		}
		var order []string
		if contendersSet {
			order = names
		}
		rows, err := bench.RunReal(ctx, bench.RealOptions{Dir: *dir, BinDir: *binDir, Pods: n, Timeout: *timeout, Progress: os.Stderr, Contenders: order})
		if len(rows) > 0 {
			if werr := bench.WriteStartupTable(os.Stdout, rows); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "kubemesos bench: %d nodes, %d pods, contenders %s; logs in %s\n", *nodes, *pods, strings.Join(names, ","), *dir)
	var loads []float64
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v < 0 {
			return fmt.Errorf("--rates: %q is not a rate >= 0", r)
		}
		loads = append(loads, v)
	}
	samples, err := bench.Run(ctx, bench.Options{
		Nodes: *nodes, Pods: *pods, Contenders: names, BinDir: *binDir, Dir: *dir,
		AllocationInterval: *allocEvery, Concurrency: *concurrency, Timeout: *timeout,
		ClientQPS: float32(*qps), ClientBurst: *burst, Rates: loads, Progress: os.Stderr,
		AgentsPerProcess: *perProcess,
	})
	if *plot != "" && len(samples) > 0 {
		title := fmt.Sprintf("kubemesos bench: %d nodes, %d pods per run", *nodes, *pods)
		if perr := writePlot(*plot, title, samples); perr != nil && err == nil {
			err = perr
		}
	}
	results := bench.Results(samples)
	if len(results) > 0 {
		if *asJSON {
			if werr := bench.WriteJSON(os.Stdout, results); werr != nil && err == nil {
				err = werr
			}
		} else if werr := bench.WriteTable(os.Stdout, results); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// runBenchAgents is one agent process of a kubemesos run: `kubemesos
// bench agents`, started and ended by the bench; it logs to its standard
// error and reports readiness on its standard output.
func runBenchAgents(args []string) error {
	c, err := bench.ParseAgentsFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.RunAgents(ctx, c, os.Stdout)
}

func writePlot(path, title string, samples []bench.Sample) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := bench.WriteCDFPlot(f, title, samples); err != nil {
		f.Close()
		return fmt.Errorf("--plot: %w", err)
	}
	return f.Close()
}
