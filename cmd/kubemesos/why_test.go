package main

import (
	"errors"
	"strings"
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
	stop, addr := serveDebug(t.Context(), "127.0.0.1:0", sched.PendingLog())
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
