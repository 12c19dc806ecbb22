package node

import (
	"context"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

// Well-known topology labels set from the agent's fault domain.
const (
	LabelRegion = "topology.kubernetes.io/region"
	LabelZone   = "topology.kubernetes.io/zone"
)

// Labels turns a Mesos agent's attributes and fault domain into node labels.
// Text attributes keep their value, scalars are formatted as numbers; ranges
// and sets have no single value and are skipped. Keys or values that are not
// valid labels, and keys in the kubernetes.io/k8s.io namespaces that a kubelet
// may not set on itself (NodeRestriction), are skipped with a log line.
func Labels(ctx context.Context, agent mesos.AgentInfo) map[string]string {
	logger := klog.FromContext(ctx)
	out := map[string]string{}
	for _, a := range agent.Attributes {
		var value string
		switch {
		case a.GetType() == mesos.TEXT && a.Text != nil:
			value = a.Text.GetValue()
		case a.GetType() == mesos.SCALAR && a.Scalar != nil:
			value = strconv.FormatFloat(a.Scalar.GetValue(), 'f', -1, 64)
		default:
			logger.Info("Agent attribute has no single value; not a node label", "attribute", a.Name, "type", a.GetType())
			continue
		}
		if reason := invalidLabel(a.Name, value); reason != "" {
			logger.Info("Agent attribute is not a valid node label; skipped", "attribute", a.Name, "value", value, "reason", reason)
			continue
		}
		out[a.Name] = value
	}
	if fd := agent.GetDomain().GetFaultDomain(); fd != nil {
		for key, value := range map[string]string{LabelRegion: fd.Region.Name, LabelZone: fd.Zone.Name} {
			if value == "" {
				continue
			}
			if reason := invalidLabel(key, value); reason != "" {
				logger.Info("Agent fault domain is not a valid node label; skipped", "label", key, "value", value, "reason", reason)
				continue
			}
			out[key] = value
		}
	}
	return out
}

// invalidLabel returns why key=value cannot be a label the kubelet registers, or "".
func invalidLabel(key, value string) string {
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "key: " + strings.Join(errs, "; ")
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return "value: " + strings.Join(errs, "; ")
	}
	if !kubeletMaySet(key) {
		return "the kubelet may not set labels in the kubernetes.io and k8s.io namespaces other than the allowed ones"
	}
	return ""
}

// kubeletAllowedLabels are the kubernetes.io labels a kubelet may set on its
// own Node (the list the kubelet and the NodeRestriction admission plugin share).
var kubeletAllowedLabels = map[string]bool{
	"kubernetes.io/hostname":                   true,
	"kubernetes.io/arch":                       true,
	"kubernetes.io/os":                         true,
	"beta.kubernetes.io/arch":                  true,
	"beta.kubernetes.io/os":                    true,
	"beta.kubernetes.io/instance-type":         true,
	"node.kubernetes.io/instance-type":         true,
	"failure-domain.beta.kubernetes.io/region": true,
	"failure-domain.beta.kubernetes.io/zone":   true,
	LabelRegion:                                true,
	LabelZone:                                  true,
}

func kubeletMaySet(key string) bool {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return true
	}
	ns := key[:i]
	if ns != "kubernetes.io" && !strings.HasSuffix(ns, ".kubernetes.io") &&
		ns != "k8s.io" && !strings.HasSuffix(ns, ".k8s.io") {
		return true
	}
	if kubeletAllowedLabels[key] {
		return true
	}
	return ns == "kubelet.kubernetes.io" || strings.HasSuffix(ns, ".kubelet.kubernetes.io") ||
		ns == "node.kubernetes.io" || strings.HasSuffix(ns, ".node.kubernetes.io")
}
