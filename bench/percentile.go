package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile is the nearest-rank q-th percentile (0 < q <= 1) of ds: the
// smallest value such that at least q of the values are at most it. ds
// need not be sorted and is not changed; an empty ds gives 0.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return nearestRank(s, q)
}

func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Latencies are the creation→bound percentiles of one run.
type Latencies struct {
	P50, P90, P99, Max time.Duration
}

// Summarize returns the percentiles of ds.
func Summarize(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Latencies{P50: nearestRank(s, 0.50), P90: nearestRank(s, 0.90), P99: nearestRank(s, 0.99), Max: s[len(s)-1]}
}
