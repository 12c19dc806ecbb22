package k8sapi

import (
	"strconv"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// NodeLabels are the labels the Node of a Mesos agent carries: the agent's
// attributes (text values as they are, scalars formatted, ranges and sets
// skipped) and kubernetes.io/hostname. Attributes whose name or value is not a
// valid label are skipped and returned in skipped. The bridge matches pods
// against these before the Node exists; the executor registers the Node with
// them, so both must use this one function.
func NodeLabels(hostname string, attrs []mesos.Attribute) (labels map[string]string, skipped []string) {
	labels = make(map[string]string, len(attrs)+1)
	for _, a := range attrs {
		var v string
		switch a.GetType() {
		case mesos.TEXT:
			v = a.GetText().GetValue()
		case mesos.SCALAR:
			v = strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
		default:
			skipped = append(skipped, a.Name)
			continue
		}
		if len(validation.IsQualifiedName(a.Name)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			skipped = append(skipped, a.Name)
			continue
		}
		labels[a.Name] = v
	}
	labels[corev1.LabelHostname] = hostname
	return labels, skipped
}
