package bench

import (
	"math"
	"strings"
	"testing"
)

func TestRows(t *testing.T) {
	rs := []Result{
		{Contender: "kubemesos", PodsPerS: 250, P50Ms: 400, P90Ms: 900, P99Ms: 1000, CPUSPer1k: 3, RSSMB: 60, Measured: MeasuredInProcess},
		{Contender: NullContender, PodsPerS: 1000, P50Ms: 20, P90Ms: 30, P99Ms: 50, CPUSPer1k: 1.5, RSSMB: 20, Measured: MeasuredInProcess},
	}
	rows := Rows(rs)
	if len(rows) != 2 || rows[0].Contender != "kubemesos" || rows[1].Contender != NullContender {
		t.Fatalf("rows %+v: want the results' order", rows)
	}
	want := []float64{0.25, 20, 30, 20, 2, 3}
	for i, c := range rows[0].Cells {
		if !c.HasRatio || math.Abs(c.Ratio-want[i]) > 1e-9 {
			t.Errorf("%s: ratio %v (has %v), want %v", Columns[i], c.Ratio, c.HasRatio, want[i])
		}
	}
	for i, c := range rows[1].Cells {
		if !c.HasRatio || c.Ratio != 1 {
			t.Errorf("null's own %s ratio = %v", Columns[i], c.Ratio)
		}
	}
}

func TestRowsWithoutNull(t *testing.T) {
	for _, c := range Rows([]Result{{Contender: "kubemesos", PodsPerS: 10}})[0].Cells {
		if c.HasRatio {
			t.Errorf("ratio without a null binder: %+v", c)
		}
	}
	// A zero baseline gives no ratio rather than Inf.
	rows := Rows([]Result{{Contender: NullContender}, {Contender: "x", PodsPerS: 5}})
	if rows[1].Cells[0].HasRatio {
		t.Errorf("ratio over a zero baseline: %+v", rows[1].Cells[0])
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []Result{
		{Contender: NullContender, PodsPerS: 812.4, P50Ms: 12.34, P90Ms: 20, P99Ms: 31, CPUSPer1k: 0.5, RSSMB: 8, Measured: MeasuredInProcess},
		{Contender: KubeSchedulerContender, PodsPerS: 406.2, P50Ms: 24.68, P90Ms: 40, P99Ms: 62, CPUSPer1k: 1, RSSMB: 80, Measured: MeasuredProcess},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		if n := strings.Count(l, "|"); n != len(Columns)+3 {
			t.Errorf("%d cell separators in %q, want %d", n, l, len(Columns)+3)
		}
	}
	for _, want := range []string{"| null | 812 (1.00×) | 12.3 (1.00×)", "| kube-scheduler | 406 (0.50×) | 24.7 (2.00×) | 40.0 (2.00×) | 62.0 (2.00×) | 1.00 (2.00×) | 80.0 (10.00×) | process |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// Under open loops each result is compared with the null binder's at the
// same arrival rate, and the table gains a load column.
func TestRowsPerRate(t *testing.T) {
	rs := []Result{
		{Contender: NullContender, ArrivalPerS: 50, P50Ms: 10},
		{Contender: "kubemesos", ArrivalPerS: 50, P50Ms: 30},
		{Contender: NullContender, ArrivalPerS: 100, P50Ms: 20},
		{Contender: "kubemesos", ArrivalPerS: 100, P50Ms: 30},
		{Contender: "kubemesos", P50Ms: 5},
	}
	rows := Rows(rs)
	if r := rows[1].Cells[1]; r.Ratio != 3 {
		t.Errorf("at 50/s: p50 ratio %v, want 3", r.Ratio)
	}
	if r := rows[3].Cells[1]; r.Ratio != 1.5 {
		t.Errorf("at 100/s: p50 ratio %v, want 1.5", r.Ratio)
	}
	if rows[4].Cells[1].HasRatio || rows[4].Load != "closed loop" {
		t.Errorf("closed loop without a null run: %+v", rows[4])
	}
	var b strings.Builder
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| contender | load | pods/s") || !strings.Contains(b.String(), "| kubemesos | 50 pods/s | ") {
		t.Errorf("no load column:\n%s", b.String())
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{99.96: "100", 812.4: "812", 12.34: "12.3", 9.996: "10.0", 0.5: "0.50"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
}
