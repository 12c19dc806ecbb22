package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kubemesos/kubemesos/bridge"
)

// errNotInMaintenance is returned for a node the bridge does not drain.
var errNotInMaintenance = errors.New("not in Mesos maintenance for the bridge")

// writeWhyNode prints where the Mesos maintenance of node stands:
//
//	node/agent-1 (agent S1): blocked, as of 19:30:01 UTC
//	  window: from 19:30:00 UTC for 1h0m0s; draining since 19:30:01 UTC
//	  1 pod(s) left; eviction refused: default/web-1: The disruption budget web needs 3 healthy pods and has 3 currently
//	  last answer to Mesos: DECLINE; inverse offers outstanding: 0
func writeWhyNode(w io.Writer, r bridge.MaintenanceReport, node string) error {
	at := r.At.UTC().Format("15:04:05 MST")
	found := false
	for _, a := range r.Agents {
		if a.Node != node {
			continue
		}
		found = true
		fmt.Fprintf(w, "node/%s (agent %s): %s, as of %s\n", node, a.AgentID, a.Phase, at)
		window := "from " + a.WindowStart.UTC().Format("2006-01-02 15:04:05 MST")
		if a.WindowDuration > 0 {
			window += " for " + a.WindowDuration.String()
		}
		if !a.DrainingSince.IsZero() {
			window += "; draining since " + a.DrainingSince.UTC().Format("15:04:05 MST") +
				fmt.Sprintf(" (%v)", r.At.Sub(a.DrainingSince).Round(time.Second))
		}
		fmt.Fprintf(w, "  window: %s\n", window)
		fmt.Fprintf(w, "  %s\n", a.Reason)
		answer := a.Answer
		if answer == "" {
			answer = "none yet"
		}
		fmt.Fprintf(w, "  last answer to Mesos: %s; inverse offers outstanding: %d\n", answer, a.InverseOffers)
	}
	if !found {
		return fmt.Errorf("node/%s: %w (as of %s)", node, errNotInMaintenance, at)
	}
	return nil
}
