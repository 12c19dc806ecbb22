package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	mesostime "github.com/mesos/mesos-go/api/v1/lib/time"
)

func init() {
	register("mesos-master", "run a local Mesos master (v1 scheduler API)", runMesosMaster)
	register("mesos-agent", "run a local Mesos agent (v1 executor API)", runMesosAgent)
}

// mesosDuration is a flag in Mesos' duration syntax ("1secs", "500ms").
type mesosDuration struct{ d *time.Duration }

func (m mesosDuration) String() string {
	if m.d == nil {
		return ""
	}
	return m.d.String()
}

func (m mesosDuration) Set(s string) error {
	d, err := mesostime.ParseDuration(s)
	if err != nil {
		if d2, err2 := time.ParseDuration(s); err2 == nil {
			*m.d = d2
			return nil
		}
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*m.d = d
	return nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runMesosMaster(args []string) error {
	fs := flag.NewFlagSet("mesos-master", flag.ContinueOnError)
	var cfg master.Config
	cfg.AllocationInterval = time.Second
	cfg.HeartbeatInterval = 15 * time.Second
	ip := fs.String("ip", "127.0.0.1", "IP address to listen on and advertise")
	port := fs.Int("port", 5050, "port to listen on")
	fs.StringVar(&cfg.WorkDir, "work_dir", "", "work directory (state is kept in memory)")
	fs.StringVar(&cfg.Hostname, "hostname", "", "hostname to advertise (default: OS hostname)")
	fs.Var(mesosDuration{&cfg.AllocationInterval}, "allocation_interval", "time between allocation rounds, e.g. 1secs")
	fs.Var(mesosDuration{&cfg.OfferTimeout}, "offer_timeout", "rescind offers held longer than this (default: never)")
	fs.Var(mesosDuration{&cfg.HeartbeatInterval}, "heartbeat_interval", "interval of HEARTBEAT events to schedulers")
	fs.Var(mesosDuration{&cfg.AgentPingTimeout}, "agent_ping_timeout", "time an agent has to answer a ping (default 15secs)")
	fs.IntVar(&cfg.MaxAgentPingTimeouts, "max_agent_ping_timeouts", 5, "missed pings after which an agent is unreachable")
	fs.Var(mesosDuration{&cfg.RegistryMaxAgentAge}, "registry_max_agent_age", "unreachable agents are removed after this long (default 2weeks)")
	applyAllocatorFlags := allocatorFlags(fs, &cfg)
	applyHAAuthFlags := haAuthFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyAllocatorFlags(); err != nil {
		return err
	}
	if err := applyHAAuthFlags(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*ip, strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.IP = *ip
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := signalContext()
	defer cancel()
	return master.New(cfg).Serve(ctx, ln)
}

func runMesosAgent(args []string) error {
	fs := flag.NewFlagSet("mesos-agent", flag.ContinueOnError)
	var cfg agent.Config
	fs.StringVar(&cfg.Master, "master", "127.0.0.1:5050", "master address: host:port, http://host:port, a comma-separated list of masters, or etcd://host:port/prefix")
	ip := fs.String("ip", "127.0.0.1", "IP address to listen on and advertise")
	port := fs.Int("port", 5051, "port to listen on")
	fs.StringVar(&cfg.Hostname, "hostname", "", "hostname to advertise (default: OS hostname)")
	fs.StringVar(&cfg.WorkDir, "work_dir", "", "directory for executor sandboxes (required)")
	fs.StringVar(&cfg.Resources, "resources", agent.DefaultResources, "resources, e.g. 'cpus:2;mem:4096;disk:20000;ports:[31000-32000]'")
	fs.StringVar(&cfg.Attributes, "attributes", "", "attributes, e.g. 'rack:r1;zone:a'")
	envJSON := fs.String("executor_environment_variables", "", "JSON object: the environment executors get instead of the agent's")
	fs.Var(mesosDuration{&cfg.ExecutorShutdownGracePeriod}, "executor_shutdown_grace_period", "time between SHUTDOWN and killing an executor (default 5secs)")
	fs.StringVar(&cfg.Domain, "domain", "", `fault domain, e.g. '{"fault_domain":{"region":{"name":"r1"},"zone":{"name":"z1"}}}'`)
	fs.StringVar(&cfg.FetcherCacheDir, "fetcher_cache_dir", "", "cache of fetched URIs (default <work_dir>/fetcher-cache)")
	fs.Var(mesosDuration{&cfg.ExecutorReregistrationTimeout}, "executor_reregistration_timeout", "time recovered executors have to re-subscribe after an agent restart (default 2secs)")
	fs.StringVar(&cfg.ResourceEstimator, "resource_estimator", "", "resource estimator: empty (nothing oversubscribed) or "+agent.FixedResourceEstimator)
	fs.StringVar(&cfg.ResourceEstimatorResources, "resource_estimator_resources", "", "what the fixed resource estimator reports as oversubscribable (its module parameter 'resources'), e.g. 'cpus:2;mem:512'")
	fs.Var(mesosDuration{&cfg.OversubscribedResourcesInterval}, "oversubscribed_resources_interval", "how often the agent polls the resource estimator and reports a changed estimate (default 15secs)")
	fs.StringVar(&cfg.QoSController, "qos_controller", "", "QoS controller: empty (no corrections) or "+agent.EstimateQoSController+" (kills revocable containers the estimate no longer covers)")
	fs.Var(mesosDuration{&cfg.QoSCorrectionIntervalMin}, "qos_correction_interval_min", "time between QoS corrections (default 1secs)")
	simulate := fs.Int("simulate", 0, "host this many simulated agents (no processes run) instead of one real agent, for scale tests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *envJSON != "" {
		env := map[string]string{}
		if err := json.Unmarshal([]byte(*envJSON), &env); err != nil {
			return fmt.Errorf("--executor_environment_variables: want a JSON object of strings: %w", err)
		}
		cfg.ExecutorEnvironment = env
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*ip, strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.IP = *ip
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	if *simulate > 0 {
		return serveSimulated(cfg, *simulate, ln)
	}
	a, err := agent.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	// As Mesos: SIGTERM/SIGINT stop the agent and leave the executors of
	// checkpointing frameworks running for the next agent to recover;
	// SIGUSR1 shuts every executor down first.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		select {
		case <-usr1:
			a.Terminate()
			cancel()
		case <-ctx.Done():
		}
	}()
	return a.Serve(ctx, ln)
}
