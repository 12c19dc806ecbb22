package bench

import (
	"encoding/json"
	"io"
	"time"
)

// Where a contender's CPU and RSS are read.
const (
	// MeasuredProcess: from /proc/<pid> of the scheduler's own process.
	MeasuredProcess = "process"
	// MeasuredInProcess: the bench process's own CPU delta and RSS growth
	// while the contender ran in it; this includes the bench's load
	// generator and bind watch (BenchCPUSPer1k of a process contender is
	// what those cost alone).
	MeasuredInProcess = "in-process"
)

// Result is what one contender measured. Its JSON is one object of the
// list `kubemesos bench --json` prints.
type Result struct {
	Contender string `json:"contender"`
	Nodes     int    `json:"nodes"`
	Pods      int    `json:"pods"`
	// ArrivalPerS is the open-loop arrival rate, pods per second; 0 is
	// the closed loop (as fast as the API server takes them).
	ArrivalPerS float64 `json:"arrival_per_s"`
	// Bound is how many of Pods were seen bound, NodesUsed to how many
	// distinct nodes.
	Bound     int `json:"bound"`
	NodesUsed int `json:"nodes_used"`
	// PodsPerS is Pods over the time from the first create to the last
	// bind seen.
	PodsPerS float64 `json:"pods_per_s"`
	// P50Ms, P90Ms, P99Ms: creation→bound latency percentiles, ms.
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	// CPUSPer1k: the scheduler's CPU-seconds (user+system) over the
	// measured window, per 1,000 pods.
	CPUSPer1k float64 `json:"cpu_s_per_1k"`
	// RSSMB: the scheduler's peak resident memory, MB (MiB); for an
	// in-process contender, the bench process's peak growth over its RSS
	// before the contender started.
	RSSMB float64 `json:"rss_mb"`
	// Measured says where CPU and RSS were read: MeasuredProcess or
	// MeasuredInProcess.
	Measured string `json:"measured"`
	// BenchCPUSPer1k: the bench process's own CPU-seconds over the window,
	// per 1,000 pods (load generator, bind watch, and an in-process
	// contender).
	BenchCPUSPer1k float64 `json:"bench_cpu_s_per_1k"`
	// DurationS is the measured window, seconds.
	DurationS float64 `json:"duration_s"`
	// AgentProcesses: how many processes the simulated agents ran in,
	// apart from the contender (0: none, they ran inside it and are in
	// CPUSPer1k and RSSMB). AgentsCPUSPer1k is their CPU-seconds over the
	// window per 1,000 pods, AgentsRSSMB the sum of their peak RSS.
	AgentProcesses  int     `json:"agent_processes,omitempty"`
	AgentsCPUSPer1k float64 `json:"agents_cpu_s_per_1k,omitempty"`
	AgentsRSSMB     float64 `json:"agents_rss_mb,omitempty"`
}

// Sample is the raw measurement of one contender, before it is reduced to
// a Result.
type Sample struct {
	Contender string
	Nodes     int
	Pods      int
	// Rate is the open-loop arrival rate, 0 for the closed loop.
	Rate float64
	// Latencies of the pods seen bound, creation→bound.
	Latencies []time.Duration
	// BoundTo counts the pods bound to each node.
	BoundTo map[string]int
	// Window from the first create to the last bind seen.
	Window time.Duration
	// CPU of the scheduler and of the bench process over the window.
	CPU, BenchCPU time.Duration
	// PeakRSS of the scheduler, bytes.
	PeakRSS  int64
	Measured string
	// AgentProcesses the simulated agents ran in (0: inside the
	// contender), their CPU over the window and the sum of their peak RSS.
	AgentProcesses int
	AgentsCPU      time.Duration
	AgentsPeakRSS  int64
}

// Results reduces every sample.
func Results(ss []Sample) []Result {
	out := make([]Result, len(ss))
	for i, s := range ss {
		out[i] = s.Result()
	}
	return out
}

// Result reduces s.
func (s Sample) Result() Result {
	l := Summarize(s.Latencies)
	r := Result{
		Contender: s.Contender, Nodes: s.Nodes, Pods: s.Pods, ArrivalPerS: s.Rate, Bound: len(s.Latencies), NodesUsed: len(s.BoundTo),
		P50Ms: ms(l.P50), P90Ms: ms(l.P90), P99Ms: ms(l.P99),
		RSSMB: float64(s.PeakRSS) / (1 << 20), Measured: s.Measured, DurationS: s.Window.Seconds(),
		AgentProcesses: s.AgentProcesses,
	}
	if s.AgentProcesses > 0 {
		r.AgentsRSSMB = float64(s.AgentsPeakRSS) / (1 << 20)
	}
	if s.Window > 0 {
		r.PodsPerS = float64(len(s.Latencies)) / s.Window.Seconds()
	}
	if s.Pods > 0 {
		r.CPUSPer1k = s.CPU.Seconds() * 1000 / float64(s.Pods)
		r.BenchCPUSPer1k = s.BenchCPU.Seconds() * 1000 / float64(s.Pods)
		if s.AgentProcesses > 0 {
			r.AgentsCPUSPer1k = s.AgentsCPU.Seconds() * 1000 / float64(s.Pods)
		}
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes rs as one JSON list.
func WriteJSON(w io.Writer, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}
