package migrate

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubemesos/kubemesos/podtask"
)

// attributeLabel is the node label a constraint's field is matched
// against: kubemesos nodes carry each Mesos agent attribute as a label of
// the same name, the hostname as kubernetes.io/hostname and the fault
// domain as topology.kubernetes.io/region and zone (podtask.NodeLabels).
func attributeLabel(field string) (key string, hostname bool, err error) {
	switch field {
	case "hostname", "@hostname":
		return corev1.LabelHostname, true, nil
	case "@region":
		return corev1.LabelTopologyRegion, false, nil
	case "@zone":
		return corev1.LabelTopologyZone, false, nil
	}
	if errs := validation.IsQualifiedName(field); len(errs) > 0 {
		return "", false, fmt.Errorf("attribute %q is not a valid label key, so no node carries it as a label: %s", field, strings.Join(errs, "; "))
	}
	return field, false, nil
}

// placementRules is what an app's constraints become in its pod spec.
type placementRules struct {
	nodeSelector map[string]string
	required     []corev1.NodeSelectorRequirement
	antiAffinity []corev1.PodAffinityTerm
	affinity     []corev1.PodAffinityTerm
	spread       []corev1.TopologySpreadConstraint
}

// constraints converts Marathon constraints for pods labelled selector.
func constraints(r *Report, field string, cs []Constraint, selector map[string]string) placementRules {
	var p placementRules
	self := &metav1.LabelSelector{MatchLabels: selector}
	for i, c := range cs {
		f := fmt.Sprintf("%s[%d]", field, i)
		key, isHost, err := attributeLabel(c.Field)
		if err != nil {
			r.not(f, "%s %s: %v", c.Field, c.Operator, err)
			continue
		}
		value := c.Value
		if isHost {
			value = podtask.NodeName(value)
		}
		switch c.Operator {
		case OpUnique:
			p.antiAffinity = append(p.antiAffinity, corev1.PodAffinityTerm{LabelSelector: self, TopologyKey: key})
			r.converted(f, "%s UNIQUE: required pod anti-affinity on %s", c.Field, key)
		case OpCluster:
			if c.Value == "" {
				p.affinity = append(p.affinity, corev1.PodAffinityTerm{LabelSelector: self, TopologyKey: key})
				r.approx(f, "%s CLUSTER: required pod affinity to its own pods on %s; the first pod picks the %s", c.Field, key, c.Field)
				continue
			}
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				r.not(f, "%s CLUSTER %q: not a valid label value, so no node carries it", c.Field, c.Value)
				continue
			}
			setSelector(&p, key, value)
			r.converted(f, "%s CLUSTER %s: nodeSelector %s=%s", c.Field, c.Value, key, value)
		case OpIs:
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				r.not(f, "%s IS %q: not a valid label value, so no node carries it", c.Field, c.Value)
				continue
			}
			setSelector(&p, key, value)
			r.converted(f, "%s IS %s: nodeSelector %s=%s", c.Field, c.Value, key, value)
		case OpGroupBy:
			sc := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: self}
			detail := ""
			if c.Value != "" {
				n, _ := strconv.Atoi(c.Value)
				sc.MinDomains = ptrInt32(int32(n))
				detail = fmt.Sprintf(", minDomains %d", n)
			}
			p.spread = append(p.spread, sc)
			r.converted(f, "%s GROUP_BY: topology spread on %s, maxSkew 1, DoNotSchedule%s", c.Field, key, detail)
		case OpMaxPer:
			n, _ := strconv.Atoi(c.Value)
			if n == 1 {
				p.antiAffinity = append(p.antiAffinity, corev1.PodAffinityTerm{LabelSelector: self, TopologyKey: key})
				r.converted(f, "%s MAX_PER 1: required pod anti-affinity on %s", c.Field, key)
				continue
			}
			p.spread = append(p.spread, corev1.TopologySpreadConstraint{MaxSkew: int32(n), TopologyKey: key, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: self})
			r.approx(f, "%s MAX_PER %d: topology spread on %s, maxSkew %d: bounds the difference between %s values, not the count on each", c.Field, n, key, n, c.Field)
		case OpLike, OpUnlike:
			values, ok := literalAlternatives(c.Value)
			if !ok {
				r.not(f, "%s %s %q: node affinity matches whole label values, and the expression is not a list of literal values", c.Field, c.Operator, c.Value)
				continue
			}
			if isHost {
				for j := range values {
					values[j] = podtask.NodeName(values[j])
				}
			}
			bad := false
			for _, v := range values {
				if len(validation.IsValidLabelValue(v)) > 0 {
					bad = true
				}
			}
			if bad {
				r.not(f, "%s %s %q: a value is not a valid label value, so no node carries it", c.Field, c.Operator, c.Value)
				continue
			}
			op := corev1.NodeSelectorOpIn
			if c.Operator == OpUnlike {
				op = corev1.NodeSelectorOpNotIn
			}
			p.required = append(p.required, corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values})
			r.converted(f, "%s %s %s: required node affinity %s %s %v", c.Field, c.Operator, c.Value, key, op, values)
		}
	}
	return p
}

func setSelector(p *placementRules, key, value string) {
	if p.nodeSelector == nil {
		p.nodeSelector = map[string]string{}
	}
	p.nodeSelector[key] = value
}

// apply puts the rules into a pod spec.
func (p placementRules) apply(spec *corev1.PodSpec) {
	spec.NodeSelector = p.nodeSelector
	spec.TopologySpreadConstraints = p.spread
	if len(p.required) == 0 && len(p.antiAffinity) == 0 && len(p.affinity) == 0 {
		return
	}
	aff := &corev1.Affinity{}
	if len(p.required) > 0 {
		aff.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: p.required}},
		}}
	}
	if len(p.antiAffinity) > 0 {
		aff.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: p.antiAffinity}
	}
	if len(p.affinity) > 0 {
		aff.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: p.affinity}
	}
	spec.Affinity = aff
}

// maxAlternatives bounds how many values an expression may expand to.
const maxAlternatives = 64

// literalAlternatives reports whether a Marathon LIKE/UNLIKE expression
// (matched against the whole value) denotes a small finite set of values,
// and returns them: literals, alternations of literals in parentheses
// (agent-(1|2)), and character classes of single characters (rack-[12],
// [a-c]). An unescaped '.' is read as itself, as it is almost always meant
// in hostnames and addresses.
func literalAlternatives(expr string) ([]string, bool) {
	// Top level alternation: each branch expands on its own.
	var out []string
	for _, branch := range splitTop(expr) {
		vals, ok := expandSequence(branch)
		if !ok {
			return nil, false
		}
		out = append(out, vals...)
		if len(out) > maxAlternatives {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// splitTop splits at '|' outside parentheses and brackets.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	inClass := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func isLiteralByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_/:", c) >= 0
}

// expandSequence expands a branch: literals, \-escaped punctuation,
// [class] and (group) in sequence, each multiplying the values so far.
func expandSequence(s string) ([]string, bool) {
	vals := []string{""}
	times := func(opts []string) bool {
		var next []string
		for _, v := range vals {
			for _, o := range opts {
				next = append(next, v+o)
			}
		}
		vals = next
		return len(vals) <= maxAlternatives
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(".-_/:", s[i+1]) >= 0:
			times([]string{string(s[i+1])})
			i++
		case isLiteralByte(c):
			times([]string{string(c)})
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, false
			}
			opts, ok := expandClass(s[i+1 : i+end])
			if !ok || !times(opts) {
				return nil, false
			}
			i += end
		case c == '(':
			depth, end := 0, -1
			for j := i; j < len(s) && end < 0; j++ {
				switch s[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					if depth--; depth == 0 {
						end = j
					}
				}
			}
			if end < 0 {
				return nil, false
			}
			inner := strings.TrimPrefix(s[i+1:end], "?:")
			opts, ok := literalAlternatives(inner)
			if !ok || !times(opts) {
				return nil, false
			}
			i = end
		default:
			return nil, false // quantifiers, anchors, wildcards: not a finite set
		}
	}
	return vals, len(vals) > 0 && vals[0] != ""
}

// expandClass expands the inside of [...]: single characters and ranges.
func expandClass(s string) ([]string, bool) {
	if s == "" || s[0] == '^' {
		return nil, false
	}
	var out []string
	for i := 0; i < len(s); i++ {
		if !isLiteralByte(s[i]) {
			return nil, false
		}
		if i+2 < len(s) && s[i+1] == '-' {
			lo, hi := s[i], s[i+2]
			if hi < lo || int(hi-lo) >= maxAlternatives {
				return nil, false
			}
			for c := lo; c <= hi; c++ {
				out = append(out, string(c))
			}
			i += 2
			continue
		}
		out = append(out, string(s[i]))
	}
	return out, true
}

func ptrInt32(v int32) *int32 { return &v }
