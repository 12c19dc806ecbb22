package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
)

// A cluster's internal ranges (the agents' network, the pod CIDRs, the
// Service CIDR) must never leave the machine: without a route of their own,
// the machine sends packets for them (kube-apiserver calling a webhook's
// ClusterIP, a stray connect to a pod IP of a host that is gone) to its
// default gateway. SetupSwitch therefore gives each range an `unreachable`
// route, a floor under the routes that serve parts of it: the bridge's
// connected route for the agents' network, each host's pod CIDR route
// (Create). A packet for an address nothing serves is refused on the spot
// (EHOSTUNREACH, or ICMP host-unreachable to a host that forwarded it).
//
// The Service CIDR is served nowhere in the machine's namespace: kube-proxy
// runs only inside the hosts, and kube-apiserver resolves Services to their
// endpoints' pod IPs (--enable-aggregator-routing) for webhooks, conversion
// webhooks and aggregated APIs. See docs/networking.md.
//
// Several clusters can be up at once (tests in parallel) with the same
// Service CIDR; each floor route is a route of its own, told apart by its
// metric, so that a cluster going down removes exactly the routes it added.

// FloorMetric is the lowest metric a floor route gets; routes that serve a
// range (connected, per host) have metric 0 or a longer prefix and win.
const FloorMetric = 4200

// floorMetrics is how many clusters may share one range.
const floorMetrics = 100

// FloorRoute is an `unreachable` route SetupSwitch added to the machine's
// main table.
type FloorRoute struct {
	Prefix string `json:"prefix"`
	Metric int    `json:"metric"`
}

func (r FloorRoute) String() string {
	return fmt.Sprintf("unreachable %s metric %d", r.Prefix, r.Metric)
}

// ClusterRanges are the ranges of n that must stay on the machine: the
// agents' network, the pod CIDRs and, when set, the Service CIDR.
func (n Network) ClusterRanges() []netip.Prefix {
	out := []netip.Prefix{n.Gateway.Masked(), n.PodCIDRs.Masked()}
	if n.ServiceCIDR.IsValid() {
		out = append(out, n.ServiceCIDR.Masked())
	}
	return out
}

// routeEntry is one route of `ip -j route show`.
type routeEntry struct {
	Type   string `json:"type"`
	Dst    string `json:"dst"`
	Metric int    `json:"metric"`
}

// routesFor lists the main table's routes for exactly prefix.
func routesFor(ctx context.Context, prefix string) ([]routeEntry, error) {
	out, err := output(ctx, "ip", "-j", "route", "show", "table", "main", "exact", prefix)
	if err != nil {
		return nil, err
	}
	var rs []routeEntry
	if len(out) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		return nil, fmt.Errorf("node: ip -j route show exact %s: %w", prefix, err)
	}
	return rs, nil
}

// planFloorRoutes picks, for each cluster range, the lowest floor metric no
// route of that exact prefix uses yet. The caller holds the registry lock.
func planFloorRoutes(ctx context.Context, n Network) ([]FloorRoute, error) {
	var plan []FloorRoute
	for _, p := range n.ClusterRanges() {
		existing, err := routesFor(ctx, p.String())
		if err != nil {
			return nil, err
		}
		used := map[int]bool{}
		for _, r := range existing {
			used[r.Metric] = true
		}
		m := FloorMetric
		for used[m] && m < FloorMetric+floorMetrics {
			m++
		}
		if used[m] {
			return nil, fmt.Errorf("node: %d floor routes for %s exist already; tear other clusters down", floorMetrics, p)
		}
		plan = append(plan, FloorRoute{Prefix: p.String(), Metric: m})
	}
	return plan, nil
}

// addFloorRoutes adds the planned routes.
func addFloorRoutes(ctx context.Context, rs []FloorRoute) error {
	for _, r := range rs {
		if err := run(ctx, "ip", "route", "add", "unreachable", r.Prefix, "metric", strconv.Itoa(r.Metric)); err != nil {
			return err
		}
	}
	return nil
}

// deleteFloorRoutes removes exactly the given routes, those already gone
// excepted.
func deleteFloorRoutes(ctx context.Context, rs []FloorRoute) error {
	var errs []error
	for _, r := range rs {
		existing, err := routesFor(ctx, r.Prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range existing {
			if e.Type == "unreachable" && e.Metric == r.Metric {
				if err := run(ctx, "ip", "route", "del", "unreachable", r.Prefix, "metric", strconv.Itoa(r.Metric)); err != nil {
					errs = append(errs, err)
				}
				break
			}
		}
	}
	return errors.Join(errs...)
}

// registryEntry is what the switch registry keeps of a switch that is up:
// the routes to remove should its cluster crash and its bridge vanish.
type registryEntry struct {
	Routes []FloorRoute `json:"routes,omitempty"`
}

func writeRegistryEntry(bridge string, e registryEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(SwitchRegistry, bridge), b, 0o644); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

func readRegistryEntry(bridge string) registryEntry {
	var e registryEntry
	if b, err := os.ReadFile(filepath.Join(SwitchRegistry, bridge)); err == nil && len(b) > 0 {
		_ = json.Unmarshal(b, &e)
	}
	return e
}
