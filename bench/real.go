package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster"
	"github.com/kubemesos/kubemesos/devcluster/images"
	devnode "github.com/kubemesos/kubemesos/devcluster/node"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/manifests/addons"
)

// PlainKubeletContender is the real-container run's baseline: a kubelet
// on a containerd host of its own, registered directly, no Mesos.
const PlainKubeletContender = "kubelet"

// Defaults of the real-container run (issue #12: 2 agents, 30 pods).
const (
	DefaultRealAgents  = 2
	DefaultRealPods    = 30
	DefaultRealTimeout = 3 * time.Minute
	// PlainNodePrefix names the plain kubelets' nodes: <prefix><i>.
	PlainNodePrefix = "kmbench-plain-"
)

// RealNetwork is the real-container run's addressing, apart from `kubemesos
// up`'s default and the test networks (10.200–10.206, pods 10.244–10.250).
func RealNetwork() devnode.Network {
	return devnode.Network{
		Bridge:      "kmbench0",
		Gateway:     netip.MustParsePrefix("10.207.0.1/24"),
		PodCIDRs:    netip.MustParsePrefix("10.251.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.94.0.0/16"),
	}
}

// RealOptions configure RunReal.
type RealOptions struct {
	// Dir holds the cluster and the plain node (required; absolute or
	// relative to the working directory).
	Dir string
	// BinDir holds the Kubernetes binaries (default bindir.Default()).
	BinDir string
	// Kubemesos is the kubemesos binary the cluster runs (default this
	// executable).
	Kubemesos string
	// Pods per contender (DefaultRealPods), Agents of the cluster
	// (DefaultRealAgents).
	Pods, Agents int
	// Timeout bounds each contender's wait for its pods to be Ready.
	Timeout time.Duration
	// Contenders in the order they run (default RealContenders: kubemesos,
	// then the plain kubelets).
	Contenders []string
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// RunReal measures real containers: a `kubemesos up` cluster of Agents
// agents (real kubelets on containerd, through the kubelet-executor) and,
// on the same control plane, as many plain kubelets, each with a
// containerd host of its own, registered directly (no Mesos). Pods pods each, created at once:
// kubemesos' scheduled by the bridge, the plain nodes' bound round-robin by
// the null binder. It returns one StartupRow per contender; kubemesos' start→Ready
// starts at each task's launch (the bridge's "Launched pod" log line), the
// plain kubelet's at the binding. Needs root.
func RunReal(ctx context.Context, o RealOptions) ([]StartupRow, error) {
	if o.Dir == "" {
		return nil, errors.New("bench: RealOptions.Dir is required")
	}
	if len(o.Contenders) == 0 {
		o.Contenders = RealContenders
	}
	if err := checkRealContenders(o.Contenders); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("bench --real needs root: network namespaces, cgroups and containerd (run it under the e2e lock: flock /tmp/kubemesos-e2e.lock ...)")
	}
	if o.Pods <= 0 {
		o.Pods = DefaultRealPods
	}
	if o.Agents <= 0 {
		o.Agents = DefaultRealAgents
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRealTimeout
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if o.BinDir == "" {
		if o.BinDir, err = bindir.Default(); err != nil {
			return nil, err
		}
	}
	if err := bindir.Check(o.BinDir, "kubelet"); err != nil {
		return nil, err
	}
	network := RealNetwork()
	progressf(o.Progress, "kubemesos up: %d agents in %s\n", o.Agents, filepath.Join(dir, "cluster"))
	cluster, err := devcluster.Up(ctx, devcluster.Config{
		Agents: o.Agents, Dir: filepath.Join(dir, "cluster"), BinDir: o.BinDir, Kubemesos: o.Kubemesos,
		Network: network, AgentPrefix: "kmbench-agent-", Schedulers: 1, AgentResources: DefaultNodeShape.MesosResources(),
	})
	if err != nil {
		return nil, fmt.Errorf("kubemesos up: %w", err)
	}
	defer func() {
		if derr := cluster.Down(context.WithoutCancel(ctx)); derr != nil {
			klog.ErrorS(derr, "kubemesos down")
		}
	}()
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = DefaultClientQPS, DefaultClientBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}

	var plainNames []string
	for i := 1; i <= o.Agents; i++ {
		name := fmt.Sprintf("%s%d", PlainNodePrefix, i)
		progressf(o.Progress, "plain kubelet: host %s\n", name)
		plain, err := startPlainNode(ctx, cluster, o, name, filepath.Join(dir, "plain", name), o.Agents+i, network)
		if plain != nil {
			defer plain.stop(context.WithoutCancel(ctx))
		}
		if err != nil {
			return nil, fmt.Errorf("plain kubelet %s: %w", name, err)
		}
		plainNames = append(plainNames, name)
	}

	// A contender named more than once runs again in a round of its own
	// (kubemesos,kubelet,kubelet,kubemesos cancels a load that drifts over
	// the run); its rounds' pods are summarized together.
	byName := map[string]map[string]PodTimes{}
	var order []string
	for round, name := range o.Contenders {
		times, err := runRealContender(ctx, client, name, round, cluster, plainNames, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if byName[name] == nil {
			byName[name] = map[string]PodTimes{}
			order = append(order, name)
		}
		maps.Copy(byName[name], times)
	}
	var rows []StartupRow
	for _, name := range order {
		row := StartupRow{Contender: name, Start: "bound", Summary: SummarizeStartup(byName[name], name == KubemesosContender)}
		if name == KubemesosContender {
			row.Start = "task LAUNCH"
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// RealContenders are the real-container run's contenders, in the default
// order.
var RealContenders = []string{KubemesosContender, PlainKubeletContender}

// checkRealContenders refuses an unknown name.
func checkRealContenders(names []string) error {
	for _, n := range names {
		if !slices.Contains(RealContenders, n) {
			return fmt.Errorf("bench --real: unknown contender %q (known: %s)", n, strings.Join(RealContenders, ", "))
		}
	}
	return nil
}

// runRealContender measures one round of a contender's pods, in namespace
// bench-real-<name>-<round>; the times are keyed "namespace/pod".
func runRealContender(ctx context.Context, client kubernetes.Interface, name string, round int, cluster *devcluster.Cluster, plainNames []string, o RealOptions) (map[string]PodTimes, error) {
	ns := fmt.Sprintf("bench-real-%s-%d", name, round)
	progressf(o.Progress, "%s (round %d): %d pods\n", name, round+1, o.Pods)
	var times map[string]PodTimes
	var err error
	if name == PlainKubeletContender {
		env := Env{Client: client, NodeNames: plainNames}
		times, err = runRealPods(ctx, client, ns, NullSchedulerName, o, &env)
	} else {
		// `kubemesos up`'s bridge schedules the pods of the default
		// scheduler name, as it does in a cluster it is the scheduler of.
		times, err = runRealPods(ctx, client, ns, corev1.DefaultSchedulerName, o, nil)
	}
	if err != nil {
		return nil, err
	}
	var launches map[string]time.Time
	if name == KubemesosContender {
		if launches, err = bridgeLaunches(filepath.Join(cluster.Dir, "logs", devcluster.BridgeName(1)+".log")); err != nil {
			return nil, err
		}
	}
	out := make(map[string]PodTimes, len(times))
	for pod, t := range times {
		key := ns + "/" + pod
		t.Launch = launches[key]
		out[key] = t
	}
	return out, nil
}

// runRealPods creates o.Pods pods in ns at once (every create in flight)
// and waits until all are Ready; with null set, the null binder binds them
// to its nodes meanwhile. The pods are deleted afterwards (with their
// containers' grace).
func runRealPods(ctx context.Context, c kubernetes.Interface, ns, schedulerName string, o RealOptions, null *Env) (map[string]PodTimes, error) {
	if err := prepareNamespace(ctx, c, ns); err != nil {
		return nil, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w := NewStartWatch(o.Pods)
	if err := w.Run(wctx, c, ns); err != nil {
		return nil, err
	}
	if null != nil {
		r, err := NullBinder{}.Start(ctx, *null)
		if err != nil {
			return nil, err
		}
		defer r.Stop()
	}
	image := images.Name(images.PauseRef)
	var wg sync.WaitGroup
	errs := make([]error, o.Pods)
	for i := range o.Pods {
		name := fmt.Sprintf("pod-%d", i)
		wg.Go(func() {
			w.Sent(name)
			_, errs[i] = c.CoreV1().Pods(ns).Create(ctx, RealPod(ns, name, schedulerName, image), metav1.CreateOptions{})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create pods: %w", err)
	}
	var err error
	select {
	case <-w.AllReady():
	case <-time.After(o.Timeout):
		err = fmt.Errorf("not every pod Ready within %s", o.Timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	times := w.Times()
	if derr := deleteAndWait(context.WithoutCancel(ctx), c, ns, o.Timeout); derr != nil && err == nil {
		err = derr
	}
	return times, err
}

// deleteAndWait deletes the pods of ns and waits until they are gone, so
// their teardown does not load the machine while the next contender is
// measured.
func deleteAndWait(ctx context.Context, c kubernetes.Interface, ns string, timeout time.Duration) error {
	pods := c.CoreV1().Pods(ns)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("delete pods of %s: %w", ns, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			n := -1
			if l != nil {
				n = len(l.Items)
			}
			return fmt.Errorf("pods of %s not gone within %s (%d left, %v)", ns, timeout, n, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func bridgeLaunches(path string) (map[string]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bridge log: %w", err)
	}
	defer f.Close()
	return ParseLaunches(f, time.Now().Year(), time.Local)
}

// plainNode is the kubelet without Mesos and its host.
type plainNode struct {
	host    *devnode.Host
	kubelet *proc.Process
	cfg     node.Config
}

// startPlainNode creates host index (node name) on the cluster's switch, imports the
// images, issues the node's identities and starts a kubelet configured as
// the kubelet-executor configures its own (node.Prepare, node.KubeletArgs)
// inside the host's network namespace; it returns once the node is Ready.
func startPlainNode(ctx context.Context, cluster *devcluster.Cluster, o RealOptions, name, dir string, index int, network devnode.Network) (*plainNode, error) {
	archives, err := images.Build(ctx, images.Options{OutDir: filepath.Join(dir, "images")})
	if err != nil {
		return nil, err
	}
	host, err := devnode.Create(ctx, devnode.Config{Name: name, Index: index, Dir: filepath.Join(dir, "host"), Network: network, SandboxImage: images.PauseRef})
	if err != nil {
		return nil, err
	}
	p := &plainNode{host: host}
	st := host.State()
	if err := images.ImportAll(ctx, st.ContainerdSocket, archives); err != nil {
		return p, err
	}
	cp := cluster.ControlPlane
	kubeconfig, err := cp.NodeKubeconfig(name)
	if err != nil {
		return p, err
	}
	proxyKubeconfig, err := cp.Kubeconfig("kube-proxy-"+name, "system:kube-proxy")
	if err != nil {
		return p, err
	}
	serving, err := cp.CA().IssueServing("kubelet-"+name, []string{name}, []net.IP{net.ParseIP(st.IP)})
	if err != nil {
		return p, err
	}
	dns, err := addons.ClusterDNSIP(network.ServiceCIDR)
	if err != nil {
		return p, err
	}
	// The names the agents' executors are given, from the same archives.
	preloaded := strings.Split(devcluster.PreloadedImagesEnv(archives)["KUBEMESOS_PRELOADED_IMAGES"], ",")
	// Sized as one agent (each agent offers DefaultNodeShape); an agent's
	// node gets that less the executor's share.
	rs := node.Resources{CPUs: float64(DefaultNodeShape.MilliCPU) / 1000, MemMiB: float64(DefaultNodeShape.MemoryMB)}
	p.cfg = node.Config{
		NodeName: name, NodeIP: st.IP, PodCIDR: st.PodCIDR, StateDir: st.StateDir(),
		CNIConfDir: st.CNIConfDir(), CNIBinDir: "/usr/lib/cni", BinDir: o.BinDir,
		Kubeconfig: kubeconfig, ProxyKubeconfig: proxyKubeconfig, ClusterCIDR: cp.ClusterCIDR, ClientCA: cp.ClientCAFile(),
		CRISocket: st.CRIEndpoint(), CgroupRoot: st.CgroupRoot,
		ClusterDNS: []string{dns.String()}, ClusterDomain: addons.DefaultClusterDomain,
		TLSCertFile: serving.CertFile, TLSKeyFile: serving.KeyFile,
		PreloadedImages: preloaded, Resources: rs, LogDir: st.LogDir(),
	}
	capacity, err := node.HostCapacity()
	if err != nil {
		return p, err
	}
	if err := node.Prepare(ctx, p.cfg, capacity); err != nil {
		return p, err
	}
	k := node.Kubelet(p.cfg)
	if p.kubelet, err = proc.Start(ctx, proc.Spec{Name: "kubelet-" + name, Path: k.Path, Args: k.Args, NetNS: st.NetNS, LogFile: k.LogPath}); err != nil {
		return p, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig)
	if err != nil {
		return p, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return p, err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := kubeletexecutor.WaitNodeReady(rctx, client, name); err != nil {
		return p, fmt.Errorf("node %s not Ready: %w; kubelet log:\n%s", name, err, proc.Tail(k.LogPath, 2000))
	}
	return p, nil
}

// stop ends the kubelet, removes what it left on the machine (pod
// sandboxes through CRI, mounts under its root dir, its cgroup root) and
// destroys the host. Not node.Teardown: its kube-proxy cleanup would run in
// this (the machine's) network namespace, where other clusters' rules live;
// the kubelet's own chains go with the host's namespace.
func (p *plainNode) stop(ctx context.Context) {
	if p.kubelet != nil {
		if err := p.kubelet.Stop(10 * time.Second); err != nil {
			klog.ErrorS(err, "stop plain kubelet")
		}
		if _, err := node.RemovePodSandboxes(ctx, p.cfg.CRISocket); err != nil {
			klog.ErrorS(err, "remove the plain node's sandboxes")
		}
		if err := node.UnmountUnder(p.cfg.KubeletRootDir()); err != nil {
			klog.ErrorS(err, "unmount the plain kubelet's root dir")
		}
		if mounts, err := node.CgroupMounts(); err != nil {
			klog.ErrorS(err, "cgroup mounts")
		} else if err := node.RemoveCgroupRoot(mounts, p.cfg.CgroupRoot); err != nil {
			klog.ErrorS(err, "remove the plain node's cgroup root")
		}
	}
	if err := p.host.Destroy(ctx); err != nil {
		klog.ErrorS(err, "destroy plain host")
	}
}
