package bridge_test

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/offermatcher"
)

// The environment of this test binary run as an HA bridge process (as
// `kubemesos scheduler --etcd-endpoints …` would run), for kill -9.
const (
	haBridgeEnv    = "BRIDGE_TEST_HA_BRIDGE" // its name
	haMasterEnv    = "BRIDGE_TEST_HA_MASTER"
	haKubecfgEnv   = "BRIDGE_TEST_HA_KUBECONFIG"
	haEtcdEnv      = "BRIDGE_TEST_HA_ETCD"
	haLaunchLogEnv = "BRIDGE_TEST_HA_LAUNCH_LOG" // file: a line per task ID sent in a LAUNCH
)

// runHABridgeIfRequested runs the bridge and exits when this binary was
// started as one.
func runHABridgeIfRequested() {
	name := os.Getenv(haBridgeEnv)
	if name == "" {
		return
	}
	if err := runHABridgeProcess(name); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHABridgeProcess(name string) error {
	ctx := klog.NewContext(context.Background(), klog.Background().WithName(name))
	log, err := os.OpenFile(os.Getenv(haLaunchLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	var mu sync.Mutex
	logLaunches := func(c calls.Caller) calls.Caller {
		return calls.CallerFunc(func(ctx context.Context, call *scheduler.Call) (mesos.Response, error) {
			for _, op := range call.GetAccept().GetOperations() {
				for _, ti := range op.GetLaunch().GetTaskInfos() {
					mu.Lock()
					_, err := fmt.Fprintln(log, ti.TaskID.Value) // before it is sent: a kill cannot hide it
					mu.Unlock()
					if err != nil {
						return nil, err
					}
				}
			}
			return c.Call(ctx, call)
		})
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(haKubecfgEnv))
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100 // kubemesos scheduler's --kube-api-qps and --kube-api-burst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Getenv(haEtcdEnv)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: os.Getenv(haMasterEnv), Name: "kubemesos", Role: "kubernetes", FailoverTimeout: time.Minute})
	if err != nil {
		return err
	}
	fw.Decorate(logLaunches, nil)
	feed := k8sapi.NewPodFeed(client, "default-scheduler", time.Minute)
	if err := feed.Run(ctx); err != nil {
		return err
	}
	nodes := k8sapi.NewNodeMirror(client, time.Minute)
	if err := nodes.Run(ctx); err != nil {
		return err
	}
	reporter := k8sapi.NewPodReporter(ctx, client, "default-scheduler")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	exec := bridge.ExecutorSpec{Command: self, Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 32}}
	policy := bridge.DefaultPolicy
	policy.OfferTTL, policy.DeclineFor, policy.ReviveEvery = time.Second, time.Second, 200*time.Millisecond
	el := &bridge.Election{Client: cli, Store: bridge.NewEtcdStore(cli, ""), Identity: name, LeaseTTL: haLeaseTTL}
	return el.Run(ctx, func(ctx context.Context, t bridge.Term) error {
		return bridge.NewScheduler(fw, t.Store, feed, nodes, reporter, exec, policy).Run(ctx)
	})
}

// haProcess is a bridge process started by startHABridgeProcess.
type haProcess struct {
	name      string
	p         *proc.Process
	launchLog string
}

func (c *testCluster) startHABridgeProcess(t *testing.T, name, etcd string) *haProcess {
	t.Helper()
	dir := t.TempDir()
	h := &haProcess{name: name, launchLog: filepath.Join(dir, "launches.txt")}
	env := append(os.Environ(),
		haBridgeEnv+"="+name, haMasterEnv+"="+c.master, haKubecfgEnv+"="+c.bridgeKubeconfig,
		haEtcdEnv+"="+etcd, haLaunchLogEnv+"="+h.launchLog)
	logFile := filepath.Join(dir, "bridge.log")
	p, err := proc.Start(context.Background(), proc.Spec{Name: name, Path: c.executor, Args: []string{"-test.run=^$"}, Env: env, LogFile: logFile})
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() {
		_ = p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", name, proc.Tail(logFile, 3000))
		}
	})
	return h
}

// kill9 kills the bridge process with SIGKILL and waits for it to be gone.
func (h *haProcess) kill9(t *testing.T) {
	t.Helper()
	if err := h.p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still running after SIGKILL", h.name)
	}
}

// launched reads the task IDs a bridge process sent in LAUNCH operations.
func (h *haProcess) launched(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(h.launchLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// leaderName is the identity of the bridge holding the election ("" if none).
func leaderName(t *testing.T, cli *clientv3.Client) string {
	t.Helper()
	resp, err := cli.Get(t.Context(), bridge.NewEtcdStore(cli, "").ElectionPrefix()+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// TestLeaderKill9MidLaunch: two bridge processes; the leader gets SIGKILL
// while pods are being created and launched. The standby is elected once
// the dead leader's lease ends, adopts its tasks, launches the rest, and no
// pod is launched twice or lost.
func TestLeaderKill9MidLaunch(t *testing.T) {
	c := newCluster(t, 1, nil)
	env := maps.Clone(c.execEnv)
	env[bindDelayEnv] = "500ms"
	for range 2 {
		c.startAgent("cpus:4;mem:4096", env)
	}
	ctx := t.Context()
	cli, endpoint := etcdClient(t)
	a := c.startHABridgeProcess(t, "bridge-a", endpoint)
	eventually(t, 30*time.Second, "bridge-a leading", func() (bool, string) { n := leaderName(t, cli); return n == "bridge-a", n })
	b := c.startHABridgeProcess(t, "bridge-b", endpoint)

	const pods = 30
	burst := c.createPods(ctx, "k9", pods, 50*time.Millisecond)
	eventually(t, 30*time.Second, "bridge-a launching", func() (bool, string) {
		n := podLaunches(t, a)
		return n >= 6, fmt.Sprint(n, " launched")
	})
	a.kill9(t)
	killed := time.Now()
	atKill := podLaunches(t, a)
	eventually(t, haLeaseTTL+15*time.Second, "bridge-b elected", func() (bool, string) { n := leaderName(t, cli); return n == "bridge-b", n })
	elected := time.Since(killed)
	if err := <-burst.done; err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every pod's task RUNNING", func() (bool, string) {
		_, states := c.taskCounts(t)
		running := burst.running(states)
		return running == pods, fmt.Sprintf("%d/%d running", running, pods)
	})
	t.Logf("bridge-a killed -9 after %d launches; bridge-b elected %v later (lease %v), all %d pods running %v after the kill",
		atKill, elected.Round(time.Millisecond), haLeaseTTL, pods, time.Since(killed).Round(time.Millisecond))
	if atKill >= pods {
		t.Errorf("bridge-a launched all %d pods before the kill", pods)
	}
	if elected > haLeaseTTL+3*time.Second {
		t.Errorf("takeover took %v, want at most the lease (%v) + 3 s", elected, haLeaseTTL)
	}
	seen := map[string]string{}
	for _, h := range []*haProcess{a, b} {
		for _, id := range h.launched(t) {
			if first, dup := seen[id]; dup {
				t.Errorf("task %s launched by %s and again by %s", id, first, h.name)
			}
			seen[id] = h.name
		}
	}
	// The log may hold one launch more than the master saw: an ACCEPT the
	// kill cut off before it was sent, whose pod bridge-b launched. The
	// master's state is the count (everyPodOnce).
	c.everyPodOnce(t, pods)
}
