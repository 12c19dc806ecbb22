package resources

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// ErrSyntax marks a resource or attribute string that cannot be parsed.
var ErrSyntax = errors.New("invalid resource syntax")

// Parse reads a Mesos --resources string: semicolon separated name:value
// pairs where a value is a scalar ("2", "0.5"), ranges ("[31000-32000,
// 33000-33010]") or a set ("{a,b}"). A name may carry a role in parentheses
// ("cpus(*):2"); only the default role "*" is supported. Entries with the same
// name are added up.
func Parse(s string) (mesos.Resources, error) {
	var out mesos.Resources
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no ':'", ErrSyntax, part)
		}
		name = strings.TrimSpace(name)
		if i := strings.IndexByte(name, '('); i >= 0 {
			role := strings.TrimSuffix(name[i+1:], ")")
			if role != "*" {
				return nil, fmt.Errorf("%w: %q: only the role \"*\" is supported", ErrSyntax, part)
			}
			name = name[:i]
		}
		if name == "" {
			return nil, fmt.Errorf("%w: %q has no name", ErrSyntax, part)
		}
		r, err := parseValue(name, strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, part, err)
		}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSyntax, part, err)
		}
		out.Add1(r)
	}
	return out, nil
}

func parseValue(name, v string) (mesos.Resource, error) {
	r := mesos.Resource{Name: name}
	switch {
	case strings.HasPrefix(v, "["):
		if !strings.HasSuffix(v, "]") {
			return r, errors.New("unterminated range")
		}
		rs, err := parseRanges(v[1 : len(v)-1])
		if err != nil {
			return r, err
		}
		r.Type = mesos.RANGES.Enum()
		r.Ranges = &mesos.Value_Ranges{Range: rs}
	case strings.HasPrefix(v, "{"):
		if !strings.HasSuffix(v, "}") {
			return r, errors.New("unterminated set")
		}
		var items []string
		for _, it := range strings.Split(v[1:len(v)-1], ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		r.Type = mesos.SET.Enum()
		r.Set = &mesos.Value_Set{Item: items}
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return r, fmt.Errorf("bad scalar %q", v)
		}
		r.Type = mesos.SCALAR.Enum()
		r.Scalar = &mesos.Value_Scalar{Value: f}
	}
	return r, nil
}

func parseRanges(s string) (mesos.Ranges, error) {
	var rs mesos.Ranges
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		b, e, ok := strings.Cut(part, "-")
		if !ok {
			e = b
		}
		begin, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		end, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil || end < begin {
			return nil, fmt.Errorf("bad range %q", part)
		}
		rs = append(rs, mesos.Value_Range{Begin: begin, End: end})
	}
	return rs.Sort().Squash(), nil
}

// ParseAttributes reads a Mesos --attributes string: "name:value;…". A value
// that is a number becomes a SCALAR, "[a-b]" RANGES, "{a,b}" a SET, anything
// else TEXT.
func ParseAttributes(s string) ([]mesos.Attribute, error) {
	var out []mesos.Attribute
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: attribute %q is not name:value", ErrSyntax, part)
		}
		a := mesos.Attribute{Name: name}
		switch {
		case strings.HasPrefix(value, "[") || strings.HasPrefix(value, "{"):
			r, err := parseValue(name, value)
			if err != nil {
				return nil, fmt.Errorf("%w: attribute %q: %v", ErrSyntax, part, err)
			}
			a.Type, a.Ranges, a.Set = r.GetType(), r.Ranges, r.Set
		default:
			if f, err := strconv.ParseFloat(value, 64); err == nil {
				a.Type = mesos.SCALAR
				a.Scalar = &mesos.Value_Scalar{Value: f}
			} else {
				a.Type = mesos.TEXT
				a.Text = &mesos.Value_Text{Value: value}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Unallocated returns a copy of rs without allocation info, summed so each
// kind of resource appears once: the form the master keeps its pools in.
func Unallocated(rs []mesos.Resource) mesos.Resources {
	var out mesos.Resources
	for _, r := range mesos.Resources(rs).Clone() {
		r.AllocationInfo = nil
		out.Add1(r)
	}
	return out
}

// Allocated returns a copy of rs with allocation info for role.
func Allocated(rs []mesos.Resource, role string) mesos.Resources {
	out := mesos.Resources(rs).Clone()
	for i := range out {
		out[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return out
}

// Sum adds resource lists, ignoring allocation info.
func Sum(lists ...[]mesos.Resource) mesos.Resources {
	var out mesos.Resources
	for _, l := range lists {
		out.Add(Unallocated(l)...)
	}
	return out
}

// Contains reports whether have holds all of want (allocation info ignored).
// Unlike mesos-go's ContainsAll it sums want first, so two entries of the same
// resource cannot each fit on their own while not fitting together.
func Contains(have, want []mesos.Resource) bool {
	h := Unallocated(have)
	for _, w := range Unallocated(want) {
		if w.Validate() != nil {
			return false
		}
		found := false
		for i := range h {
			if h[i].Contains(w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Equal reports whether x and y hold the same resources (allocation info
// ignored).
func Equal(x, y []mesos.Resource) bool { return Contains(x, y) && Contains(y, x) }

// Validate checks every resource of rs (non-negative scalars, sane ranges).
func Validate(rs []mesos.Resource) error {
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			return fmt.Errorf("resource %q: %w", rs[i].GetName(), err)
		}
	}
	return nil
}

// Scalar returns the total scalar value of the named resource in rs.
func Scalar(rs []mesos.Resource, name string) float64 {
	var v float64
	for i := range rs {
		if rs[i].GetName() == name && rs[i].GetType() == mesos.SCALAR {
			v += rs[i].GetScalar().GetValue()
		}
	}
	return v
}

// DominantShare is the largest share of total that used holds over the
// scalar resources of total (Dominant Resource Fairness).
func DominantShare(used, total []mesos.Resource) float64 {
	var share float64
	for _, t := range Unallocated(total) {
		if t.GetType() != mesos.SCALAR || t.GetScalar().GetValue() <= 0 {
			continue
		}
		if s := Scalar(used, t.GetName()) / t.GetScalar().GetValue(); s > share {
			share = s
		}
	}
	return share
}

// Allocatable reports whether rs is worth offering: Mesos' default
// --min_allocatable_resources is "cpus:0.01|mem:32".
func Allocatable(rs []mesos.Resource) bool {
	return Scalar(rs, "cpus") >= 0.01 || Scalar(rs, "mem") >= 32
}

// StateJSON renders rs the way /master/state does (Mesos' json(Resources)):
// scalars summed by name as numbers (cpus, mem, disk and gpus always
// present), ranges as "[a-b, c-d]", sets as "{a, b}"; revocable resources
// under their name with the suffix "_revocable" ("cpus_revocable").
func StateJSON(rs []mesos.Resource) map[string]any {
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	scalars := map[string]float64{}
	ranges := map[string]mesos.Ranges{}
	sets := map[string][]string{}
	for _, r := range Unallocated(rs) {
		name := r.GetName()
		if r.IsRevocable() {
			name += RevocableSuffix
		}
		switch r.GetType() {
		case mesos.SCALAR:
			scalars[name] += r.GetScalar().GetValue()
		case mesos.RANGES:
			ranges[name] = append(ranges[name], r.GetRanges().GetRange()...)
		case mesos.SET:
			sets[name] = append(sets[name], r.GetSet().GetItem()...)
		}
	}
	for name, v := range scalars {
		out[name] = round(v)
	}
	for name, rg := range ranges {
		parts := make([]string, 0, len(rg))
		for _, x := range rg.Sort().Squash() {
			parts = append(parts, fmt.Sprintf("%d-%d", x.Begin, x.End))
		}
		out[name] = "[" + strings.Join(parts, ", ") + "]"
	}
	for name, items := range sets {
		sort.Strings(items)
		out[name] = "{" + strings.Join(items, ", ") + "}"
	}
	return out
}

// AttributesJSON renders attributes the way /master/state does.
func AttributesJSON(as []mesos.Attribute) map[string]any {
	out := map[string]any{}
	for _, a := range as {
		switch a.GetType() {
		case mesos.SCALAR:
			out[a.GetName()] = a.GetScalar().GetValue()
		case mesos.TEXT:
			out[a.GetName()] = a.GetText().GetValue()
		case mesos.RANGES:
			out[a.GetName()] = StateJSON([]mesos.Resource{{Name: "x", Type: mesos.RANGES.Enum(), Ranges: a.Ranges}})["x"]
		case mesos.SET:
			out[a.GetName()] = "{" + strings.Join(a.GetSet().GetItem(), ",") + "}"
		}
	}
	return out
}

// round trims float noise from repeated additions (Mesos uses fixed point
// with three decimals).
func round(f float64) float64 { return math.Round(f*1000) / 1000 }
