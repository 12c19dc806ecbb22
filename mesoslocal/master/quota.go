package master

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/quota"
	"github.com/mesos/mesos-go/api/v1/lib/roles"
)

// Quota is a role's quota, as Mesos' QuotaConfig: scalar quantities by
// resource name the role is guaranteed, and the most it may consume.
// Consumption is the role subtree's reservations plus its unreserved
// allocations.
type Quota struct {
	Guarantees map[string]float64
	Limits     map[string]float64
}

// roleConfig holds role weights and quotas; the master's mutex guards it.
type roleConfig struct {
	weights map[string]float64
	quotas  map[string]Quota
}

func newRoleConfig(cfg Config) roleConfig {
	rc := roleConfig{weights: map[string]float64{}, quotas: map[string]Quota{}}
	for r, w := range cfg.Weights {
		rc.weights[r] = w
	}
	for r, q := range cfg.Quotas {
		rc.quotas[r] = q
	}
	return rc
}

// weight is the role's weight, 1 by default.
func (rc *roleConfig) weight(role string) float64 {
	if w, ok := rc.weights[role]; ok && w > 0 {
		return w
	}
	return 1
}

// ParseWeights reads Mesos' --weights flag: "role1=weight1,role2=weight2".
func ParseWeights(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		role, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("invalid weight %q: want role=weight", part)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("invalid weight %q: want a positive number", part)
		}
		role = strings.TrimSpace(role)
		if err := roles.Validate(role); err != nil {
			return nil, fmt.Errorf("invalid weight %q: %w", part, err)
		}
		out[role] = f
	}
	return out, nil
}

// ParseQuotas reads a JSON list of Mesos QuotaConfig objects, the payload
// of the operator call UPDATE_QUOTA:
// [{"role":"a","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":4}}}].
func ParseQuotas(s string) (map[string]Quota, error) {
	var cfgs []quota.QuotaConfig
	if err := json.Unmarshal([]byte(s), &cfgs); err != nil {
		return nil, fmt.Errorf("quota: want a JSON list of QuotaConfig: %w", err)
	}
	out := map[string]Quota{}
	for _, c := range cfgs {
		q, err := quotaFromConfig(c)
		if err != nil {
			return nil, err
		}
		out[c.Role] = q
	}
	return out, nil
}

// quotaFromConfig validates a QuotaConfig as Mesos does: a valid non-"*"
// role, non-negative quantities, and guarantees within the limits.
func quotaFromConfig(c quota.QuotaConfig) (Quota, error) {
	if c.Role == "" || c.Role == "*" {
		return Quota{}, fmt.Errorf("invalid QuotaConfig: role %q cannot have quota", c.Role)
	}
	if err := roles.Validate(c.Role); err != nil {
		return Quota{}, fmt.Errorf("invalid QuotaConfig: %w", err)
	}
	q := Quota{Guarantees: map[string]float64{}, Limits: map[string]float64{}}
	for name, v := range c.Guarantees {
		if v.Value < 0 {
			return Quota{}, fmt.Errorf("invalid QuotaConfig: negative guarantee for %q", name)
		}
		if v.Value > 0 {
			q.Guarantees[name] = v.Value
		}
	}
	for name, v := range c.Limits {
		if v.Value < 0 {
			return Quota{}, fmt.Errorf("invalid QuotaConfig: negative limit for %q", name)
		}
		q.Limits[name] = v.Value
	}
	for name, g := range q.Guarantees {
		if l, ok := q.Limits[name]; ok && g > l {
			return Quota{}, fmt.Errorf("invalid QuotaConfig: guarantee %s:%g is more than limit %s:%g for role '%s'", name, g, name, l, c.Role)
		}
	}
	return q, nil
}

// quotaConfig renders q as a Mesos QuotaConfig.
func quotaConfig(role string, q Quota) quota.QuotaConfig {
	c := quota.QuotaConfig{Role: role, Guarantees: map[string]mesos.Value_Scalar{}, Limits: map[string]mesos.Value_Scalar{}}
	for n, v := range q.Guarantees {
		c.Guarantees[n] = mesos.Value_Scalar{Value: v}
	}
	for n, v := range q.Limits {
		c.Limits[n] = mesos.Value_Scalar{Value: v}
	}
	return c
}

func (rc *roleConfig) quotaRoles() []string {
	out := make([]string, 0, len(rc.quotas))
	for r := range rc.quotas {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func scalarResources(m map[string]float64) []mesos.Resource {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]mesos.Resource, 0, len(names))
	for _, n := range names {
		out = append(out, mesos.Resource{Name: n, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: m[n]}})
	}
	return out
}
