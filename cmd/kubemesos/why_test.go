package main

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/bridge"
)

func TestWriteWhy(t *testing.T) {
	r := bridge.PendingReport{
		At: time.Date(2026, 12, 1, 19, 30, 1, 0, time.UTC), OffersHeld: 3,
		Pods: []bridge.PendingPod{{
			Namespace: "default", Name: "web-2", UID: "u",
			Message: "0/3 offers fit: 1 insufficient cpu, 2 didn't match pod anti-affinity rules",
			Reasons: []bridge.ReasonCount{{Reason: "didn't match pod anti-affinity rules", Agents: 2, Offers: 2}, {Reason: "insufficient cpu", Agents: 1, Offers: 1}},
			Agents: []bridge.AgentReason{
				{AgentID: "S1", Node: "agent-1", OfferID: "O1", Reason: "didn't match pod anti-affinity rules"},
				{AgentID: "S2", Node: "agent-2", OfferID: "O2", Reason: "didn't match pod anti-affinity rules"},
				{AgentID: "S3", Node: "agent-3", OfferID: "O3", Reason: "insufficient cpu", Detail: "wants 2 cpu, offer had 1.5"},
			},
		}},
	}
	var b strings.Builder
	if err := writeWhy(&b, r, "default", "web-2"); err != nil {
		t.Fatal(err)
	}
	want := `default/web-2 is pending; the bridge's last attempt 19:30:01 UTC, 3 offers held
  0/3 offers fit: 1 insufficient cpu, 2 didn't match pod anti-affinity rules
  2 agents (2 offers): didn't match pod anti-affinity rules
  1 agents (1 offers): insufficient cpu
    agent-1  S1  didn't match pod anti-affinity rules
    agent-2  S2  didn't match pod anti-affinity rules
    agent-3  S3  insufficient cpu (wants 2 cpu, offer had 1.5)
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if err := writeWhy(&b, r, "other", "web-2"); !errors.Is(err, errNotPending) {
		t.Fatalf("a pod not in the report: %v", err)
	}
}

// TestWhyAsksTheDebugListener: `kubemesos why` reads the scheduler's
// PendingLog through the debug listener.
func TestWhyAsksTheDebugListener(t *testing.T) {
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: "127.0.0.1:1", Name: "kubemesos", Role: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	sched := bridge.NewScheduler(fw, nil, nil, nil, nil, bridge.ExecutorSpec{}, bridge.DefaultPolicy)
	stop, addr := serveDebug(t.Context(), "127.0.0.1:0", sched.PendingLog(), sched.MaintenanceLog())
	defer stop()
	if addr == "" {
		t.Fatal("no listener")
	}
	r, err := fetchPending(t.Context(), addr, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pods) != 0 {
		t.Fatalf("pods in an empty log: %+v", r)
	}
	var b strings.Builder
	if err := writeWhy(&b, r, "default", "web"); !errors.Is(err, errNotPending) {
		t.Fatalf("want errNotPending, got %v", err)
	}
}

func TestWriteWhyNode(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 30, 11, 0, time.UTC)
	r := bridge.MaintenanceReport{At: at, Agents: []bridge.MaintainedAgent{
		{AgentID: "S0", Node: "agent-0", Phase: bridge.PhaseDrained, Reason: "no kubemesos task on the agent"},
		{AgentID: "S1", Node: "agent-1", Phase: bridge.PhaseBlocked,
			Reason:      "1 pod(s) left; eviction refused: default/web-1: The disruption budget web needs 3 healthy pods and has 3 currently",
			WindowStart: at.Add(-11 * time.Second), WindowDuration: time.Hour, DrainingSince: at.Add(-10 * time.Second), Answer: "DECLINE"},
	}}
	var b strings.Builder
	if err := writeWhyNode(&b, r, "agent-1"); err != nil {
		t.Fatal(err)
	}
	want := `node/agent-1 (agent S1): blocked, as of 19:30:11 UTC
  window: from 2026-12-01 19:30:00 UTC for 1h0m0s; draining since 19:30:01 UTC (10s)
  1 pod(s) left; eviction refused: default/web-1: The disruption budget web needs 3 healthy pods and has 3 currently
  last answer to Mesos: DECLINE; inverse offers outstanding: 0
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if err := writeWhyNode(&b, r, "agent-2"); !errors.Is(err, errNotInMaintenance) {
		t.Fatalf("a node not in maintenance: %v", err)
	}
}

// TestWhyNodeAsksTheDebugListener: `kubemesos why node/…` reads the
// scheduler's MaintenanceLog through the debug listener, and a standby
// (no log) answers 503.
func TestWhyNodeAsksTheDebugListener(t *testing.T) {
	fw, err := bridge.NewFramework(bridge.FrameworkOptions{Master: "127.0.0.1:1", Name: "kubemesos", Role: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	sched := bridge.NewScheduler(fw, nil, nil, nil, nil, bridge.ExecutorSpec{}, bridge.DefaultPolicy)
	var standby atomic.Pointer[bridge.MaintenanceLog]
	stop, addr := serveDebug(t.Context(), "127.0.0.1:0", sched.PendingLog(), termLog[bridge.MaintenanceLog]{&standby})
	defer stop()
	if _, err := fetchMaintenance(t.Context(), addr, "agent-1"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a standby's answer: %v", err)
	}
	standby.Store(sched.MaintenanceLog())
	r, err := fetchMaintenance(t.Context(), addr, "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeWhyNode(&b, r, "agent-1"); !errors.Is(err, errNotInMaintenance) {
		t.Fatalf("want errNotInMaintenance, got %v", err)
	}
}
