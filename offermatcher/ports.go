package offermatcher

import (
	"cmp"
	"slices"
)

// Port sets are kept as normalized range lists: sorted by Begin, every range
// valid (Begin <= End), neither overlapping nor touching its neighbour. In
// that form a wanted range is free exactly when one free range contains it.

// normalizePorts returns rs in normalized form. It returns rs itself when it
// already is (the common case: FromPod's output, a Mesos offer), else a copy;
// rs is never modified.
func normalizePorts(rs []PortRange) []PortRange {
	if isNormalized(rs) {
		return rs
	}
	out := make([]PortRange, 0, len(rs))
	for _, r := range rs {
		if r.Begin <= r.End {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b PortRange) int { return cmp.Compare(a.Begin, b.Begin) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && touches(merged[n-1], r) {
			merged[n-1].End = max(merged[n-1].End, r.End)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// touches reports whether b, starting at or after a, overlaps or adjoins a.
func touches(a, b PortRange) bool {
	return a.End == ^uint32(0) || b.Begin <= a.End+1
}

func isNormalized(rs []PortRange) bool {
	for i, r := range rs {
		if r.Begin > r.End {
			return false
		}
		if i > 0 && (rs[i-1].End == ^uint32(0) || r.Begin <= rs[i-1].End+1) {
			return false
		}
	}
	return true
}

// portsFree reports whether every range of want lies within free. Both are
// normalized; one merge walk, no allocation.
func portsFree(free, want []PortRange) bool {
	i := 0
	for _, w := range want {
		for i < len(free) && free[i].End < w.Begin {
			i++
		}
		if i == len(free) || free[i].Begin > w.Begin || free[i].End < w.End {
			return false
		}
	}
	return true
}

// takePorts returns free without the ports of take (both normalized, every
// range of take within free) as a new slice; free is not modified, so the
// caller's offer is never changed.
func takePorts(free, take []PortRange) []PortRange {
	out := make([]PortRange, 0, len(free)+len(take))
	j := 0
	for _, f := range free {
		for ; j < len(take) && take[j].Begin <= f.End; j++ {
			t := take[j]
			if t.Begin > f.Begin {
				out = append(out, PortRange{f.Begin, t.Begin - 1})
			}
			if t.End == f.End {
				f.Begin, f.End = 1, 0 // used up
				j++
				break
			}
			f.Begin = t.End + 1
		}
		if f.Begin <= f.End {
			out = append(out, f)
		}
	}
	return out
}

// portList expands normalized ranges into the list of ports.
func portList(rs []PortRange) []uint32 {
	if len(rs) == 0 {
		return nil
	}
	n := 0
	for _, r := range rs {
		n += int(r.End-r.Begin) + 1
	}
	out := make([]uint32, 0, n)
	for _, r := range rs {
		for p := r.Begin; ; p++ {
			out = append(out, p)
			if p == r.End {
				break
			}
		}
	}
	return out
}
