package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubemesos/kubemesos/bridge"
)

func TestServeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := bridge.NewMetrics(reg)
	m.SetLeader(true)
	addr, stop, err := serveMetrics(t.Context(), "127.0.0.1:0", reg, m.Ready)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, _, err := serveMetrics(t.Context(), "not an address", reg, m.Ready); err == nil {
		t.Fatal("a bad --metrics-address was accepted")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"kubemesos_leader 1", "kubemesos_leader_terms_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a leader not subscribed yet: %d, want 503", code)
	}
	m.Event(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED})
	if code := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of a subscribed leader: %d", code)
	}
	m.SetLeader(false)
	if code := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of a standby: %d", code)
	}
}
