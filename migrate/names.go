package migrate

import (
	"fmt"
	"hash/fnv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations the migration puts on what it writes.
const (
	// LabelName selects an app's pods (its Deployment's selector, its Service).
	LabelName = "app.kubernetes.io/name"
	// LabelManagedBy says the objects came from a migration.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is LabelManagedBy's value.
	ManagedBy = "kubemesos-migrate"
	// AnnotationMarathonID is the id of the app, pod or job an object came from.
	AnnotationMarathonID = "migrate.kubemesos.io/id"
)

// placement is where an app's objects go: namespace and name.
type placement struct {
	Namespace, Name string
}

// placeID turns a Marathon id into a namespace and a DNS-1123 (and
// DNS-1035, for Services) name. With fromGroup the group path is the
// namespace ("/shop/backend/api" → shop-backend/api); otherwise it is a
// prefix of the name in namespace def (default/shop-backend-api).
func placeID(id, def string, fromGroup bool, r *Report) placement {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	rawNS, rawName := def, strings.Join(segs, "-")
	if fromGroup && len(segs) > 1 {
		rawNS, rawName = strings.Join(segs[:len(segs)-1], "-"), segs[len(segs)-1]
	}
	p := placement{Namespace: dnsLabel(rawNS, "ns-"), Name: dnsLabel(rawName, "app-")}
	how := "the name prefixed with the group path"
	switch {
	case len(segs) == 1:
		how = "at the root: the namespace of --namespace"
	case fromGroup:
		how = "the group path as the namespace"
	}
	if p.Namespace == rawNS && p.Name == rawName {
		r.converted("id", "namespace %s, name %s (%s)", p.Namespace, p.Name, how)
	} else {
		r.approx("id", "namespace %s, name %s (%s): Kubernetes names are DNS labels of at most 63 characters, starting with a letter, without '.'", p.Namespace, p.Name, how)
	}
	return p
}

// dnsLabel makes s a DNS-1035 label: lowercase letters, digits and '-',
// starting with a letter (prefix is added when it does not), at most 63
// characters (longer names keep a hash of the whole).
func dnsLabel(s, prefix string) string {
	return dnsLabelMax(s, prefix, validation.DNS1035LabelMaxLength)
}

// CronJobNameMax is how long a CronJob's name may be: its Jobs add 11
// characters, and a Job's name is a label value of at most 63.
const CronJobNameMax = 52

// dnsLabelMax is dnsLabel with a length limit below 63.
func dnsLabelMax(s, prefix string, maxLen int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = prefix + out
	}
	if len(out) > maxLen {
		h := fnv.New32a()
		h.Write([]byte(s))
		out = strings.TrimRight(out[:maxLen-9], "-") + fmt.Sprintf("-%08x", h.Sum32())
	}
	return out
}
