package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestShares(t *testing.T) {
	for _, c := range []struct {
		n, per int
		want   []int
	}{
		{5000, 1000, []int{1000, 1000, 1000, 1000, 1000}},
		{2500, 1000, []int{834, 833, 833}},
		{1, 1000, []int{1}},
		{1001, 1000, []int{501, 500}},
		{3, 1, []int{1, 1, 1}},
	} {
		got, err := Shares(c.n, c.per)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Shares(%d, %d) = %v, %v; want %v", c.n, c.per, got, err, c.want)
		}
	}
	if _, err := Shares(0, 10); err == nil {
		t.Error("no agents accepted")
	}
	if _, err := Shares(10, 0); err == nil {
		t.Error("no agents per process accepted")
	}
}

func TestAgentsFlagsRoundTrip(t *testing.T) {
	c := AgentsConfig{Master: "127.0.0.1:5050", Count: 1000, Hostname: "kmbench-p3", Resources: "cpus:2;mem:4096", Kubeconfig: "/x/admin.kubeconfig", ClientQPS: 2500.5, ClientBurst: 5000}
	got, err := ParseAgentsFlags(c.Args(), nil)
	if err != nil || got != c {
		t.Fatalf("parse(%q) = %+v, %v; want %+v", c.Args(), got, err, c)
	}
}

func TestAgentsFlagsErrors(t *testing.T) {
	ok := []string{"--master", "m:1", "--kubeconfig", "k", "--count", "2"}
	if c, err := ParseAgentsFlags(ok, nil); err != nil || c.Hostname != SimulatedHostname || c.Resources != DefaultNodeShape.MesosResources() {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	var out strings.Builder
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kubeconfig", "k", "--count", "2"}, "--master is required"},
		{[]string{"--master", "m:1", "--count", "2"}, "--kubeconfig is required"},
		{[]string{"--master", "m:1", "--kubeconfig", "k"}, "--count 0"},
		{append(ok, "--client-qps", "0"), "must be > 0"},
		{append(ok, "extra"), "unexpected arguments"},
		{append(ok, "--count", "x"), "invalid value"},
	} {
		_, err := ParseAgentsFlags(c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%q) = %v, want %q", c.args, err, c.want)
		}
	}
}
