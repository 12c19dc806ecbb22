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

// literalAlternatives reports whether a Marathon LIKE/UNLIKE expression
// (matched against the whole value) is a literal or an alternation of
// literals, and returns them: "rack-1", "rack-1|rack-2", "(a|b)". An
// unescaped '.' is read as itself, as it is almost always meant in
// hostnames and addresses.
func literalAlternatives(expr string) ([]string, bool) {
	e := expr
	for _, open := range []string{"(?:", "("} {
		if strings.HasPrefix(e, open) && strings.HasSuffix(e, ")") {
			e = e[len(open) : len(e)-1]
			break
		}
	}
	var out []string
	for _, alt := range strings.Split(e, "|") {
		var b strings.Builder
		for i := 0; i < len(alt); i++ {
			ch := alt[i]
			switch {
			case ch == '\\' && i+1 < len(alt) && strings.IndexByte(".-_/:", alt[i+1]) >= 0:
				b.WriteByte(alt[i+1])
				i++
			case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', strings.IndexByte(".-_/:", ch) >= 0:
				b.WriteByte(ch)
			default:
				return nil, false
			}
		}
		if b.Len() == 0 {
			return nil, false
		}
		out = append(out, b.String())
	}
	return out, true
}

func ptrInt32(v int32) *int32 { return &v }
