package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/devcluster/images"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

func init() {
	register("up", "start a local dev cluster (control plane, Mesos master and agents, bridge) in the foreground", runUp)
	register("down", "tear down the local dev cluster recorded in --dir", runDown)
	register("images", "build the dev cluster's OCI image archives (busybox, pause; --suite: the upstream e2e suite's images)", runImages)
}

// klogFlags adds -v to fs, wired to klog.
func klogFlags(fs *flag.FlagSet) *int {
	return fs.Int("v", 0, "log verbosity")
}

func setVerbosity(v int) {
	kfs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(kfs)
	_ = kfs.Set("v", fmt.Sprint(v))
}

func runUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	agents := fs.Int("agents", devcluster.DefaultAgents, "number of Mesos agents (each its own host: network namespace, containerd)")
	dir := fs.String("dir", devcluster.DefaultDir, "directory of the cluster's state, logs and kubeconfigs")
	binDir := fs.String("bin-dir", "", "directory of the Kubernetes binaries (default: <repo>/bin or $KUBEMESOS_BIN_DIR)")
	resources := fs.String("agent-resources", devcluster.DefaultAgentResources, "--resources of each agent")
	oversubscribe := fs.String("oversubscribe", "", "CPUS,MEM: each agent also offers this many cpus and MB of memory as revocable resources (Mesos' fixed resource estimator, with the QoS controller that revokes what a lowered estimate no longer covers)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long starting may take")
	masters := fs.Int("masters", 1, "number of Mesos masters; with more than one they elect their leader in the control plane's etcd")
	schedulers := fs.Int("schedulers", devcluster.DefaultSchedulers, "number of bridges (kubemesos scheduler); they elect one leader in the control plane's etcd")
	testImages := fs.Bool("test-images", false, "also import the upstream end-to-end suite's images (agnhost, busybox, nginx, nonroot, sample-apiserver, etcd, ... from --bin-dir and Debian packages) into every agent, for the conformance tests")
	testImagesCache := fs.String("test-images-cache", defaultTestImagesCache(), "directory that keeps the built test images between runs (empty: none)")
	v := klogFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	setVerbosity(*v)
	over, err := devcluster.ParseOversubscription(*oversubscribe)
	if err != nil {
		return err
	}

	// The cluster lives until Down; a signal starts Down instead of killing
	// the processes all at once.
	life, stopLife := context.WithCancel(context.Background())
	defer stopLife()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	type result struct {
		c   *devcluster.Cluster
		err error
	}
	started := make(chan result, 1)
	go func() {
		c, err := devcluster.Up(life, devcluster.Config{
			Agents: *agents, Dir: *dir, BinDir: *binDir, AgentResources: *resources, Oversubscribe: over,
			Verbosity: *v, StartTimeout: *timeout, TestImages: *testImages, TestImagesCache: *testImagesCache, Schedulers: *schedulers, Masters: *masters,
		})
		started <- result{c, err}
	}()
	var c *devcluster.Cluster
	select {
	case r := <-started:
		if r.err != nil {
			return r.err
		}
		c = r.c
	case s := <-sigs:
		fmt.Fprintf(os.Stderr, "kubemesos up: %v while starting; tearing down\n", s)
		stopLife()
		r := <-started
		if r.c != nil {
			return r.c.Down(context.Background())
		}
		return devcluster.Down(context.Background(), *dir)
	}

	rel := c.EnvFile
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, c.EnvFile); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Printf(`
kubemesos dev cluster is up: %d agents, Mesos master %s, API server %s

  source %s          # KUBECONFIG, MESOS_MASTER, PATH with kubectl
  kubectl get nodes     # nodes appear once the bridge launches a pod on an agent
  kubectl apply -f manifests/examples/hello.yaml
  curl -s $MESOS_MASTER/master/state

Logs: %s/logs, %s/agents/*/logs. Ctrl-C (or kubemesos down --dir %s) tears it down.
`, *agents, c.MesosMaster, c.ControlPlane.URL, rel, c.Dir, c.Dir, *dir)

	s := <-sigs
	fmt.Fprintf(os.Stderr, "kubemesos up: %v: tearing the cluster down\n", s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() {
		// A second signal while tearing down: stop waiting politely.
		<-sigs
		fmt.Fprintln(os.Stderr, "kubemesos up: second signal; stopping processes now")
		stopLife()
	}()
	err = c.Down(ctx)
	stopLife()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "kubemesos up: cluster is down")
	return nil
}

// defaultTestImagesCache is beside the tools' cache:
// $KUBEMESOS_TOOLS_CACHE/images, default ~/.cache/kubemesos/tools/images.
func defaultTestImagesCache() string {
	if d := os.Getenv("KUBEMESOS_TOOLS_CACHE"); d != "" {
		return filepath.Join(d, "images")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "kubemesos", "tools", "images")
}

func runDown(args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	dir := fs.String("dir", devcluster.DefaultDir, "directory of the cluster")
	v := klogFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	setVerbosity(*v)
	if os.Geteuid() != 0 {
		return errors.New("must run as root")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	return devcluster.Down(ctx, *dir)
}

func runImages(args []string) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	out := fs.String("out", "_output/images", "directory for the image archives")
	busybox := fs.String("busybox", images.DefaultBusybox, "statically linked busybox")
	pause := fs.String("pause-binary", "", "statically linked pause program (default: build "+images.PauseSource+")")
	suite := fs.Bool("suite", false, "build the upstream end-to-end suite's images (from --bin-dir and Debian packages) instead, as one layout")
	binDir := fs.String("bin-dir", "", "with --suite: directory of agnhost, nnp, ... (default: <repo>/bin or $KUBEMESOS_BIN_DIR)")
	e2eTest := fs.String("e2e-test", "", "with --suite: also say, for every image this e2e.test pulls (--list-images), whether it is built or why not; a name neither built nor known is an error")
	v := klogFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	setVerbosity(*v)
	if *suite {
		return runSuiteImages(*out, *binDir, *e2eTest)
	}
	archives, err := images.Build(context.Background(), images.Options{OutDir: *out, Busybox: *busybox, PauseBinary: *pause})
	if err != nil {
		return err
	}
	for _, a := range archives {
		fmt.Printf("%s\t%s\t%s\n", a.Ref, a.Manifest.Digest, a.Path)
	}
	return nil
}

// runSuiteImages writes the suite's layout into out and, given e2eTest,
// checks it against the names that e2e.test pulls.
func runSuiteImages(out, binDir, e2eTest string) error {
	if binDir == "" {
		var err error
		if binDir, err = bindir.Default(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	a, err := images.BuildSuite(ctx, images.SuiteOptions{BinDir: binDir}, out, "")
	if err != nil {
		return err
	}
	fmt.Printf("%s\t%d images\n", a.Path, len(a.Images))
	if e2eTest == "" {
		for _, name := range a.Images {
			fmt.Printf("built\t%s\n", name)
		}
		return nil
	}
	list, err := exec.CommandContext(ctx, e2eTest, "--list-images").Output()
	if err != nil {
		return fmt.Errorf("images: %s --list-images: %w", e2eTest, err)
	}
	// The sandbox image is kubemesos' pause under the suite's name.
	c := images.Cover(strings.Split(strings.TrimSpace(string(list)), "\n"), append(a.Images, images.UpstreamPause))
	for _, name := range c.Built {
		fmt.Printf("built\t%s\n", name)
	}
	names := make([]string, 0, len(c.Unavailable))
	for n := range c.Unavailable {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("unavailable\t%s\t%s\n", n, c.Unavailable[n])
	}
	for _, n := range c.Missing {
		fmt.Printf("MISSING\t%s\n", n)
	}
	if len(c.Missing) > 0 {
		return fmt.Errorf("images: %d images of %s neither built nor known unavailable", len(c.Missing), e2eTest)
	}
	return nil
}
