package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubemesos/kubemesos/bridge"
)

func init() {
	register("why", "say why a pod is pending (the bridge's last placement attempt, per agent), or where the Mesos maintenance drain of node/NAME stands", runWhy)
}

// defaultDebugAddress is where `kubemesos scheduler` serves /debug/pending
// unless told otherwise (--debug-address).
const defaultDebugAddress = "127.0.0.1:10260"

// errNotPending is returned for a pod the bridge's last attempt did not
// leave pending.
var errNotPending = errors.New("not pending in the bridge's last placement attempt")

func runWhy(args []string) error {
	fs := flag.NewFlagSet("why", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kubemesos why [-n NAMESPACE] POD | node/NODE")
		fs.PrintDefaults()
	}
	namespace := fs.String("n", "default", "the pod's namespace")
	fs.StringVar(namespace, "namespace", "default", "the pod's namespace")
	addr := fs.String("bridge", envOr("KUBEMESOS_BRIDGE_DEBUG", defaultDebugAddress), "the bridges' --debug-address, host:port or http://host:port, comma-separated: the leader answers")
	// Flags may follow the pod name, as with kubectl.
	var pod string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if pod != "" {
			fs.Usage()
			return errors.New("one pod only")
		}
		pod, args = fs.Arg(0), fs.Args()[1:]
	}
	if pod == "" {
		fs.Usage()
		return errors.New("which pod?")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if strings.Trim(*addr, ", ") == "" {
		return errors.New("no bridge address (--bridge or KUBEMESOS_BRIDGE_DEBUG)")
	}
	if node, ok := strings.CutPrefix(pod, "node/"); ok {
		var report bridge.MaintenanceReport
		err := askLeader(*addr, func(a string) (err error) {
			report, err = fetchMaintenance(ctx, a, node)
			return err
		})
		if err != nil {
			return err
		}
		return writeWhyNode(os.Stdout, report, node)
	}
	var report bridge.PendingReport
	err := askLeader(*addr, func(a string) (err error) {
		report, err = fetchPending(ctx, a, *namespace, pod)
		return err
	})
	if err != nil {
		return err
	}
	return writeWhy(os.Stdout, report, *namespace, pod)
}

// askLeader calls ask with each bridge address of addrs (comma-separated)
// until one answers: standbys answer 503, the leader its logs.
func askLeader(addrs string, ask func(addr string) error) error {
	var errs []error
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		err := ask(a)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// fetchPending asks the bridge at addr for its last attempt at one pod.
func fetchPending(ctx context.Context, addr, namespace, pod string) (bridge.PendingReport, error) {
	var r bridge.PendingReport
	err := fetchDebug(ctx, addr, "/debug/pending?"+url.Values{"namespace": {namespace}, "name": {pod}}.Encode(), &r)
	return r, err
}

// fetchMaintenance asks the bridge at addr where the drain of node stands.
func fetchMaintenance(ctx context.Context, addr, node string) (bridge.MaintenanceReport, error) {
	var r bridge.MaintenanceReport
	err := fetchDebug(ctx, addr, "/debug/maintenance?"+url.Values{"node": {node}}.Encode(), &r)
	return r, err
}

// fetchDebug GETs path of the bridge's debug listener at addr into out.
func fetchDebug(ctx context.Context, addr, path string, out any) error {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u := base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the bridge (is `kubemesos scheduler --debug-address %s` running?): %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

// writeWhy prints the attempt at namespace/pod:
//
//	default/web-2 is pending; the bridge's last attempt 19:30:01 UTC, 2 offers held
//	  0/2 offers fit: 2 didn't match pod anti-affinity rules
//	  2 agents (2 offers): didn't match pod anti-affinity rules
//	    agent-1  S1  didn't match pod anti-affinity rules
//	    …
func writeWhy(w io.Writer, r bridge.PendingReport, namespace, pod string) error {
	at := r.At.UTC().Format("15:04:05 MST")
	for _, p := range r.Pods {
		if p.Namespace != namespace || p.Name != pod {
			continue
		}
		fmt.Fprintf(w, "%s/%s is pending; the bridge's last attempt %s, %d offers held\n", namespace, pod, at, r.OffersHeld)
		fmt.Fprintf(w, "  %s\n", p.Message)
		if r.OffersHeld == 0 {
			fmt.Fprintln(w, "  Mesos offers the framework nothing: the agents' resources are in use, reserved for other roles, or filtered")
			return nil
		}
		for _, c := range p.Reasons {
			fmt.Fprintf(w, "  %d agents (%d offers): %s\n", c.Agents, c.Offers, c.Reason)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range p.Agents {
			reason := a.Reason
			if a.Detail != "" {
				reason += " (" + a.Detail + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", a.Node, a.AgentID, reason)
		}
		return tw.Flush()
	}
	return fmt.Errorf("%s/%s: %w (at %s, %d offers held): it is bound, launched, backing off after a failed launch, or not of this bridge's scheduler name",
		namespace, pod, errNotPending, at, r.OffersHeld)
}
