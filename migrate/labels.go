package migrate

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// appLabels splits Marathon labels into Kubernetes labels (those that are
// valid label keys and values) and annotations (the rest: marathon-lb's
// HAPROXY_* settings, long or free-form values).
func appLabels(r *Report, field string, in map[string]string) (labels, annotations map[string]string) {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	labels, annotations = map[string]string{}, map[string]string{}
	for _, k := range keys {
		v := in[k]
		f := field + "." + k
		switch {
		case strings.HasPrefix(k, "HAPROXY_"):
			annotations[k] = v
			r.approx(f, "annotation: marathon-lb configuration; the ClusterIP Service replaces the internal load balancer, an Ingress the external one")
		case strings.HasPrefix(k, "DCOS_SERVICE_"), strings.HasPrefix(k, "DCOS_PACKAGE_"):
			annotations[k] = v
			r.approx(f, "annotation: DC/OS UI and package metadata, without meaning here")
		case k == LabelName || k == LabelManagedBy:
			annotations[k] = v
			r.approx(f, "annotation: the label selects the app's pods and keeps its migrated value")
		case len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0:
			annotations[k] = v
			r.approx(f, "annotation: not a valid label key or value")
		default:
			labels[k] = v
			r.converted(f, "label")
		}
	}
	return labels, annotations
}
