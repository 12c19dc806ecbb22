package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// KubemesosContender is the bridge's name in the table.
const KubemesosContender = "kubemesos"

// KubemesosSchedulerName is the schedulerName of the bridge's pods.
const KubemesosSchedulerName = "kubemesos"

// SimulatedHostname is the base of the simulated agents' hostnames
// ("kmbench-sim<i>"), so the node names the pods are bound to.
const SimulatedHostname = "kmbench"

// registerTimeout bounds the simulated agents' registration.
const registerTimeout = 2 * time.Minute

// Kubemesos runs, in the bench process, a mesoslocal master, Env.Nodes
// simulated agents of shape Env.Node and the bridge wired as `kubemesos
// scheduler` wires a single bridge (default policy, metrics, no leader
// election; node tasks off: a simulated agent runs no kubelet to make a
// node). The agents' launch hook binds each
// pod to its agent's node as the kubelet-executor does, before the task
// is reported running.
type Kubemesos struct {
	// AllocationInterval of the master (Mesos' default 1 s when 0).
	AllocationInterval time.Duration
	// AgentsPerProcess > 0: the simulated agents run in agent processes of
	// at most this many each (AgentCommand followed by AgentsSubcommand),
	// not in the bench process; their CPU and RSS are reported apart.
	AgentsPerProcess int
	// AgentCommand starts an agent process: the kubemesos binary and
	// "bench".
	AgentCommand []string
}

var _ Contender = Kubemesos{}

func (Kubemesos) Name() string          { return KubemesosContender }
func (Kubemesos) SchedulerName() string { return KubemesosSchedulerName }
func (Kubemesos) NeedsNodes() bool      { return false }

// BindOnLaunch is the simulated agents' launch hook: it binds the pod a
// task stands for to the node of the agent it landed on (node tasks, which
// name no pod, pass).
func BindOnLaunch(c kubernetes.Interface) agent.LaunchHook {
	return func(ctx context.Context, hostname string, task mesos.TaskInfo) error {
		if podtask.IsNodeTask(task.TaskID.Value) {
			return nil
		}
		ref, err := podtask.DecodeTask(task)
		if err != nil {
			return err
		}
		b := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: podtask.NodeName(hostname)},
		}
		if err := c.CoreV1().Pods(ref.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("bind pod: %w", err)
		}
		return nil
	}
}

// Start starts the master, waits until every agent registered, then starts
// the bridge.
func (k Kubemesos) Start(ctx context.Context, env Env) (Running, error) {
	meter := StartSelfMeter(ctx)
	ctx, cancel := context.WithCancel(ctx)
	r := &kubemesosRunning{meter: meter, cancel: cancel, errs: make(chan error, 3)}
	fail := func(err error) (Running, error) {
		_ = r.Stop()
		return nil, err
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("kubemesos master: %w", err))
	}
	m := master.New(master.Config{Hostname: "127.0.0.1", AllocationInterval: k.AllocationInterval})
	r.goRun("mesos master", func() error { return m.Serve(ctx, mln) })

	if k.AgentsPerProcess > 0 {
		shares, err := Shares(env.Nodes, k.AgentsPerProcess)
		if err != nil {
			return fail(err)
		}
		base := AgentsConfig{
			Master: mln.Addr().String(), Hostname: SimulatedHostname, Resources: env.Node.MesosResources(),
			Kubeconfig: env.Kubeconfig, ClientQPS: env.ClientQPS, ClientBurst: env.ClientBurst,
		}
		if r.agents, err = StartAgentProcs(ctx, k.AgentCommand, base, shares, env.Dir, registerTimeout); err != nil {
			return fail(err)
		}
	} else if err := r.startInProcessAgents(ctx, env, mln.Addr().String()); err != nil {
		return fail(err)
	}

	fw, err := bridge.NewFramework(bridge.FrameworkOptions{
		Master: mln.Addr().String(), Name: "kubemesos-bench", Role: "kubernetes",
		FailoverTimeout: time.Minute, Hostname: "127.0.0.1",
	})
	if err != nil {
		return fail(err)
	}
	feed := k8sapi.NewPodFeed(env.Client, KubemesosSchedulerName, 10*time.Minute)
	if err := feed.Run(ctx); err != nil {
		return fail(err)
	}
	nodes := k8sapi.NewNodeMirror(env.Client, 10*time.Minute)
	if err := nodes.Run(ctx); err != nil {
		return fail(err)
	}
	namespaces := k8sapi.NewNamespaceMirror(env.Client, 10*time.Minute)
	if err := namespaces.Run(ctx); err != nil {
		return fail(err)
	}
	reporter := k8sapi.NewPodReporter(ctx, env.Client, KubemesosSchedulerName)
	r.reporter = reporter
	policy := bridge.DefaultPolicy
	policy.NodeTasks = false
	exec := bridge.ExecutorSpec{
		// Simulated agents start no executor process.
		Command:   "true",
		Resources: offermatcher.Resources{MilliCPU: 100, MemoryMB: 128},
	}
	// Metrics as `kubemesos scheduler` keeps them (nothing scrapes them here).
	metrics := bridge.NewMetrics(prometheus.NewRegistry())
	metrics.Instrument(fw)
	metrics.PendingPods(feed)
	metrics.SetLeader(true)
	// A single bridge, as `kubemesos scheduler` without --etcd-endpoints: no
	// leader election, no launch intents; no framework store either (each
	// run is a new framework).
	sched := bridge.NewScheduler(fw, nil, feed, nodes, reporter, exec, policy)
	sched.UseNamespaces(namespaces)
	r.goRun("bridge", func() error { return sched.Run(ctx) })
	return r, nil
}

// startInProcessAgents runs env.Nodes simulated agents in the bench
// process and waits until all registered.
func (r *kubemesosRunning) startInProcessAgents(ctx context.Context, env Env, master string) error {
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulated agents: %w", err)
	}
	sim, err := agent.NewSimulated(agent.SimulatedConfig{
		Master: master, Hostname: SimulatedHostname, Count: env.Nodes,
		Resources: env.Node.MesosResources(), RegistrationBackoff: 100 * time.Millisecond,
		OnLaunch: BindOnLaunch(env.Client),
	})
	if err != nil {
		aln.Close()
		return err
	}
	r.goRun("simulated agents", func() error { return sim.Serve(ctx, aln) })
	select {
	case <-sim.Registered():
		return nil
	case err := <-r.errs:
		return err
	case <-time.After(registerTimeout):
		return fmt.Errorf("%d simulated agents did not register within %s", env.Nodes, registerTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

type kubemesosRunning struct {
	// agents: the agent processes, nil when the agents run in-process.
	agents   *AgentProcs
	meter    *SelfMeter
	cancel   context.CancelFunc
	reporter *k8sapi.PodReporter
	wg       sync.WaitGroup
	errs     chan error

	mu       sync.Mutex
	firstErr error
}

// goRun runs f until the contender stops; an error it returns is kept for
// Stop (and ends a Start still waiting).
func (r *kubemesosRunning) goRun(name string, f func() error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := f(); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			r.mu.Lock()
			if r.firstErr == nil {
				r.firstErr = err
			}
			r.mu.Unlock()
			select {
			case r.errs <- err:
			default:
			}
		}
	}()
}

func (r *kubemesosRunning) Usage() (Usage, error) {
	r.mu.Lock()
	err := r.firstErr
	r.mu.Unlock()
	if err != nil {
		return Usage{}, err
	}
	return r.meter.Usage()
}

func (r *kubemesosRunning) Measured() string { return MeasuredInProcess }

// AgentsUsage is what the agent processes used (their CPU, the sum of
// their peak RSS) and how many there are; 0 processes when the agents run
// in the bench process.
func (r *kubemesosRunning) AgentsUsage() (Usage, int, error) {
	if r.agents == nil {
		return Usage{}, 0, nil
	}
	u, err := r.agents.Usage()
	return u, len(r.agents.procs), err
}

func (r *kubemesosRunning) Stop() error {
	var agentsErr error
	if r.agents != nil {
		// Before the master goes: agents that lose it only retry.
		agentsErr = r.agents.Stop()
	}
	r.cancel()
	r.wg.Wait()
	if r.reporter != nil {
		r.reporter.Shutdown()
	}
	r.meter.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstErr != nil && !errors.Is(r.firstErr, context.Canceled) {
		return r.firstErr
	}
	return agentsErr
}
