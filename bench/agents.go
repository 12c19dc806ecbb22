package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
)

// AgentsSubcommand is the word after `kubemesos bench` that runs one agent
// process: `kubemesos bench agents --master ADDR --count K ...`.
const AgentsSubcommand = "agents"

// AgentsReady is the line an agent process prints on its standard output
// once every one of its agents has registered with the master.
const AgentsReady = "registered"

// AgentsConfig is what one agent process runs: Count simulated agents named
// "<Hostname>-sim<i>" that register with Master and bind each launched pod
// through the API server of Kubeconfig (BindOnLaunch).
type AgentsConfig struct {
	Master     string
	Count      int
	Hostname   string
	Resources  string
	Kubeconfig string
	// ClientQPS and ClientBurst of the binding client.
	ClientQPS   float32
	ClientBurst int
}

// Args are the flags that make ParseAgentsFlags return c (after
// AgentsSubcommand).
func (c AgentsConfig) Args() []string {
	return []string{
		"--master", c.Master,
		"--count", strconv.Itoa(c.Count),
		"--hostname", c.Hostname,
		"--resources", c.Resources,
		"--kubeconfig", c.Kubeconfig,
		"--client-qps", strconv.FormatFloat(float64(c.ClientQPS), 'g', -1, 32),
		"--client-burst", strconv.Itoa(c.ClientBurst),
	}
}

// ParseAgentsFlags parses the flags of `kubemesos bench agents`.
func ParseAgentsFlags(args []string, output io.Writer) (AgentsConfig, error) {
	fs := flag.NewFlagSet("bench "+AgentsSubcommand, flag.ContinueOnError)
	if output != nil {
		fs.SetOutput(output)
	}
	var c AgentsConfig
	qps := fs.Float64("client-qps", DefaultClientQPS, "QPS of the binding client")
	fs.StringVar(&c.Master, "master", "", "master address host:port (required)")
	fs.IntVar(&c.Count, "count", 0, "simulated agents in this process (at least 1)")
	fs.StringVar(&c.Hostname, "hostname", SimulatedHostname, "base of the agents' hostnames (<hostname>-sim<i>)")
	fs.StringVar(&c.Resources, "resources", DefaultNodeShape.MesosResources(), "resources of each agent, Mesos flag syntax")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "credentials of the API server the launch hook binds pods through (required)")
	fs.IntVar(&c.ClientBurst, "client-burst", DefaultClientBurst, "burst of the binding client")
	if err := fs.Parse(args); err != nil {
		return AgentsConfig{}, err
	}
	if fs.NArg() > 0 {
		return AgentsConfig{}, fmt.Errorf("bench %s: unexpected arguments %q", AgentsSubcommand, fs.Args())
	}
	c.ClientQPS = float32(*qps)
	switch {
	case c.Master == "":
		return AgentsConfig{}, fmt.Errorf("bench %s: --master is required", AgentsSubcommand)
	case c.Kubeconfig == "":
		return AgentsConfig{}, fmt.Errorf("bench %s: --kubeconfig is required", AgentsSubcommand)
	case c.Count < 1:
		return AgentsConfig{}, fmt.Errorf("bench %s: --count %d: at least one agent is needed", AgentsSubcommand, c.Count)
	case c.ClientQPS <= 0 || c.ClientBurst <= 0:
		return AgentsConfig{}, fmt.Errorf("bench %s: --client-qps and --client-burst must be > 0", AgentsSubcommand)
	}
	return c, nil
}

// RunAgents runs c's simulated agents until ctx ends, listening for their
// /state on 127.0.0.1; it writes AgentsReady to ready once all have
// registered.
func RunAgents(ctx context.Context, c AgentsConfig, ready io.Writer) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("bench %s: %w", AgentsSubcommand, err)
	}
	cfg.QPS, cfg.Burst = c.ClientQPS, c.ClientBurst
	cfg.UserAgent = "kubemesos-bench-agents"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("bench %s: %w", AgentsSubcommand, err)
	}
	sim, err := agent.NewSimulated(agent.SimulatedConfig{
		Master: c.Master, Hostname: c.Hostname, Count: c.Count, Resources: c.Resources,
		RegistrationBackoff: 100 * time.Millisecond, OnLaunch: BindOnLaunch(client),
	})
	if err != nil {
		return fmt.Errorf("bench %s: %w", AgentsSubcommand, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench %s: %w", AgentsSubcommand, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sim.Serve(ctx, ln) }()
	select {
	case <-sim.Registered():
		if _, err := fmt.Fprintln(ready, AgentsReady); err != nil {
			cancel()
			<-errc
			return fmt.Errorf("bench %s: report ready: %w", AgentsSubcommand, err)
		}
	case err := <-errc:
		return err
	}
	err = <-errc
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
