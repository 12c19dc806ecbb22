package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p90 of 1..100", ms(hundred...), 0.90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 1, 100 * time.Millisecond},
		{"p50 of four is the second", ms(40, 10, 30, 20), 0.5, 20 * time.Millisecond},
		{"p51 of four is the third", ms(40, 10, 30, 20), 0.51, 30 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{"tiny q is the smallest", ms(5, 3, 9), 0.0001, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.ds)
			if got := Percentile(tc.ds, tc.q); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.ds, tc.q, got, tc.want)
			}
			if !slices.Equal(in, tc.ds) {
				t.Errorf("input changed: %v", tc.ds)
			}
		})
	}
}

// The nearest-rank percentile is a value of the input, at least q of the
// values are at most it, and fewer than q are below it; p50 <= p90 <= p99.
func TestPercentileProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + r.IntN(300)
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(r.IntN(1000)) * time.Microsecond
		}
		for _, q := range []float64{0.5, 0.9, 0.99} {
			p := Percentile(ds, q)
			if !slices.Contains(ds, p) {
				t.Fatalf("p%v = %v is not in the input", q*100, p)
			}
			atMost, below := 0, 0
			for _, d := range ds {
				if d <= p {
					atMost++
				}
				if d < p {
					below++
				}
			}
			if float64(atMost) < q*float64(n) || float64(below) >= q*float64(n) {
				t.Fatalf("p%v = %v of %d values: %d at most, %d below", q*100, p, n, atMost, below)
			}
		}
		l := Summarize(ds)
		if l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max || l.Max != slices.Max(ds) {
			t.Fatalf("summary out of order: %+v", l)
		}
	}
}
