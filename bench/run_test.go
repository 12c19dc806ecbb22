package bench_test

import (
	"os"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/bench"
	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

// All three contenders on a real API server: each binds every pod, to
// nodes that exist, and the figures are consistent.
func TestRunAllContenders(t *testing.T) {
	binDir, err := bindir.Default()
	if err == nil {
		err = bindir.Check(binDir, controlplane.EtcdBinary, controlplane.APIServerBinary, bench.KubeSchedulerBinary)
	}
	if err != nil {
		if os.Getenv(bindir.RequireEnv) != "1" {
			t.Skipf("Kubernetes binaries not available: %v", err)
		}
		t.Fatal(err)
	}
	const nodes, pods = 20, 100
	start := time.Now()
	samples, err := bench.Run(t.Context(), bench.Options{
		Nodes: nodes, Pods: pods, BinDir: binDir, Dir: t.TempDir(),
		Timeout: 2 * time.Minute, Progress: testWriter{t},
	})
	rs := bench.Results(samples)
	if err != nil {
		t.Fatalf("run: %v (results so far %+v)", err, rs)
	}
	t.Logf("%d contenders in %s", len(rs), time.Since(start).Round(time.Millisecond))
	if len(rs) != len(bench.AllContenders) {
		t.Fatalf("%d results, want %d", len(rs), len(bench.AllContenders))
	}
	for i, r := range rs {
		t.Logf("%+v", r)
		if r.Contender != bench.AllContenders[i] {
			t.Errorf("result %d is %q, want %q", i, r.Contender, bench.AllContenders[i])
		}
		if r.Bound != pods || r.Pods != pods || r.Nodes != nodes {
			t.Errorf("%s: bound %d of %d pods (nodes %d)", r.Contender, r.Bound, r.Pods, r.Nodes)
		}
		if r.NodesUsed < 1 || r.NodesUsed > nodes {
			t.Errorf("%s: pods bound to %d distinct nodes, want 1..%d", r.Contender, r.NodesUsed, nodes)
		}
		if !(r.P50Ms > 0 && r.P50Ms <= r.P90Ms && r.P90Ms <= r.P99Ms) {
			t.Errorf("%s: latencies p50 %v p90 %v p99 %v", r.Contender, r.P50Ms, r.P90Ms, r.P99Ms)
		}
		// Every pod waits at least the window's share of its own create.
		if r.PodsPerS <= 0 || r.DurationS <= 0 || r.P99Ms > r.DurationS*1000+1 {
			t.Errorf("%s: %v pods/s over %v s with p99 %v ms", r.Contender, r.PodsPerS, r.DurationS, r.P99Ms)
		}
		if r.CPUSPer1k <= 0 || r.RSSMB <= 0 || r.BenchCPUSPer1k <= 0 {
			t.Errorf("%s: cpu %v s/1k, rss %v MB, bench cpu %v s/1k", r.Contender, r.CPUSPer1k, r.RSSMB, r.BenchCPUSPer1k)
		}
		want := bench.MeasuredInProcess
		if r.Contender == bench.KubeSchedulerContender {
			want = bench.MeasuredProcess
		}
		if r.Measured != want {
			t.Errorf("%s measured %q, want %q", r.Contender, r.Measured, want)
		}
		// kubemesos' 20 agents run in one agent process (this test binary
		// as `kubemesos bench agents`, see TestMain), measured apart.
		wantProcs := 0
		if r.Contender == bench.KubemesosContender {
			wantProcs = 1
		}
		if r.AgentProcesses != wantProcs || (wantProcs > 0) != (r.AgentsRSSMB > 0) {
			t.Errorf("%s: %d agent processes (%v MB), want %d", r.Contender, r.AgentProcesses, r.AgentsRSSMB, wantProcs)
		}
	}
	// Round-robin over 20 nodes reaches every one of them with 100 pods.
	if rs[0].NodesUsed != nodes {
		t.Errorf("null binder used %d of %d nodes", rs[0].NodesUsed, nodes)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
