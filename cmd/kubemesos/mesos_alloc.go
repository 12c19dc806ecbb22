package main

import (
	"flag"
	"fmt"
	"net"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// allocatorFlags registers the master's role weight and quota flags; the
// returned function applies them to cfg after parsing.
func allocatorFlags(fs *flag.FlagSet, cfg *master.Config) func() error {
	weights := fs.String("weights", "", "role weights, e.g. 'a=2,b/c=3' (default weight 1)")
	quotas := fs.String("quota", "", `role quotas as a JSON list of QuotaConfig, e.g. '[{"role":"a","guarantees":{"cpus":{"value":2}},"limits":{"cpus":{"value":4}}}]'`)
	return func() error {
		if *weights != "" {
			w, err := master.ParseWeights(*weights)
			if err != nil {
				return fmt.Errorf("--weights: %w", err)
			}
			cfg.Weights = w
		}
		if *quotas != "" {
			q, err := master.ParseQuotas(*quotas)
			if err != nil {
				return fmt.Errorf("--quota: %w", err)
			}
			cfg.Quotas = q
		}
		return nil
	}
}

// serveSimulated runs n simulated agents with cfg's master, hostname,
// resources and attributes.
func serveSimulated(cfg agent.Config, n int, ln net.Listener) error {
	s, err := agent.NewSimulated(agent.SimulatedConfig{
		Master:     cfg.Master,
		IP:         cfg.IP,
		Port:       cfg.Port,
		Hostname:   cfg.Hostname,
		Count:      n,
		Resources:  cfg.Resources,
		Attributes: cfg.Attributes,
	})
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	return s.Serve(ctx, ln)
}
