package devcluster

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
)

func TestParseOversubscription(t *testing.T) {
	for in, want := range map[string]Oversubscription{
		"":          {},
		"2,1024":    {MilliCPU: 2000, MemoryMB: 1024},
		"0.5, 256":  {MilliCPU: 500, MemoryMB: 256},
		"1.25,4096": {MilliCPU: 1250, MemoryMB: 4096},
	} {
		got, err := ParseOversubscription(in)
		if err != nil || got != want {
			t.Errorf("ParseOversubscription(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"2", "x,1024", "2,x", "0,1024", "2,0", "-1,10", "2,1.5"} {
		if _, err := ParseOversubscription(bad); err == nil || !strings.Contains(err.Error(), "--oversubscribe") {
			t.Errorf("ParseOversubscription(%q): err %v, want one naming --oversubscribe", bad, err)
		}
	}
}

// The flags are the agent's own: the mesos-agent command parses them into
// the fixed estimator and the QoS controller (cmd/kubemesos/mesos.go), and
// the estimate parses as Mesos' --resources syntax.
func TestOversubscriptionAgentArgs(t *testing.T) {
	if args, bargs := (Oversubscription{}).agentArgs(), (Oversubscription{}).bridgeArgs(false); args != nil || bargs != nil {
		t.Errorf("no oversubscription: agent args %v, bridge args %v", args, bargs)
	}
	for _, bargs := range [][]string{(Oversubscription{MilliCPU: 1}).bridgeArgs(false), (Oversubscription{}).bridgeArgs(true)} {
		if !slices.Equal(bargs, []string{"--revocable-pods"}) {
			t.Errorf("bridge args %v", bargs)
		}
	}
	args := Oversubscription{MilliCPU: 1500, MemoryMB: 512}.agentArgs()
	want := []string{"--resource_estimator", agent.FixedResourceEstimator, "--resource_estimator_resources", "cpus:1.5;mem:512", "--qos_controller", agent.EstimateQoSController}
	if !slices.Equal(args, want) {
		t.Fatalf("args %v, want %v", args, want)
	}
	if _, err := agent.New(agent.Config{Master: "127.0.0.1:1", WorkDir: t.TempDir(), Resources: "cpus:1;mem:1024",
		ResourceEstimator: args[1], ResourceEstimatorResources: args[3], QoSController: args[5]}); err != nil {
		t.Fatalf("an agent with these settings: %v", err)
	}
}

func TestWithEstimate(t *testing.T) {
	args := append([]string{"mesos-agent", "--hostname", "a"}, Oversubscription{MilliCPU: 2000, MemoryMB: 1024}.agentArgs()...)
	got, err := WithEstimate(args, Oversubscription{MilliCPU: 10, MemoryMB: 8})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"mesos-agent", "--hostname", "a"}, Oversubscription{MilliCPU: 10, MemoryMB: 8}.agentArgs()...); !slices.Equal(got, want) {
		t.Errorf("args %v, want %v", got, want)
	}
	if args[6] != "cpus:2;mem:1024" {
		t.Errorf("WithEstimate changed its input: %v", args)
	}
	added, err := WithEstimate([]string{"mesos-agent"}, Oversubscription{MilliCPU: 10, MemoryMB: 8})
	if want := append([]string{"mesos-agent"}, Oversubscription{MilliCPU: 10, MemoryMB: 8}.agentArgs()...); err != nil || !slices.Equal(added, want) {
		t.Errorf("an agent without the estimator: %v, %v; want %v", added, err, want)
	}
	if _, err := WithEstimate(args, Oversubscription{}); err == nil {
		t.Error("a zero estimate: no error")
	}
}
