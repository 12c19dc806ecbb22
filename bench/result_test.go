package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestSampleResult(t *testing.T) {
	var lats []time.Duration
	for i := 1; i <= 200; i++ {
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	r := Sample{
		Contender: "null", Nodes: 10, Pods: 200, Latencies: lats, BoundTo: map[string]int{"a": 150, "b": 50},
		Window: 4 * time.Second, CPU: 500 * time.Millisecond, BenchCPU: time.Second, PeakRSS: 30 << 20, Measured: MeasuredProcess,
	}.Result()
	want := Result{
		Contender: "null", Nodes: 10, Pods: 200, Bound: 200, NodesUsed: 2, PodsPerS: 50,
		P50Ms: 100, P90Ms: 180, P99Ms: 198, CPUSPer1k: 2.5, RSSMB: 30, Measured: MeasuredProcess,
		BenchCPUSPer1k: 5, DurationS: 4,
	}
	if r != want {
		t.Errorf("Result() = %+v\nwant       %+v", r, want)
	}
	if z := (Sample{Contender: "x"}).Result(); z.PodsPerS != 0 || math.IsNaN(z.CPUSPer1k) || z.Bound != 0 {
		t.Errorf("empty sample: %+v", z)
	}
}

// `kubemesos bench --json` is a list of objects with at least these keys,
// numbers where numbers are expected.
func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, []Result{{Contender: "null", PodsPerS: 1, P50Ms: 2, P90Ms: 3, P99Ms: 4, CPUSPer1k: 5, RSSMB: 6}, {Contender: "kubemesos"}}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON list of objects: %v\n%s", err, b.String())
	}
	if len(got) != 2 {
		t.Fatalf("%d objects", len(got))
	}
	for _, o := range got {
		if _, ok := o["contender"].(string); !ok {
			t.Errorf("contender not a string: %v", o)
		}
		for _, k := range []string{"pods_per_s", "p50_ms", "p90_ms", "p99_ms", "cpu_s_per_1k", "rss_mb"} {
			if _, ok := o[k].(float64); !ok {
				t.Errorf("%s missing or not a number in %v", k, o)
			}
		}
	}
	if got[0]["p99_ms"] != 4.0 || got[0]["rss_mb"] != 6.0 {
		t.Errorf("values not carried: %v", got[0])
	}
	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || bytes.TrimSpace(b.Bytes())[0] != '[' {
		t.Errorf("no results: %q, %v; want an empty list", b.String(), err)
	}
}
