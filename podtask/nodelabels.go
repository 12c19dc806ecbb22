package podtask

import (
	"fmt"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeletapis "k8s.io/kubelet/pkg/apis"
)

// Why an attribute (or fault domain name) is not a node label. The text is
// what the executor logs.
const (
	SkipNoSingleValue = "ranges and sets have no single value"
	SkipInvalidKey    = "not a valid label key"
	SkipInvalidValue  = "not a valid label value"
	SkipRestricted    = "the kubelet may not set labels in the kubernetes.io and k8s.io namespaces other than its own (NodeRestriction)"
	SkipSetByKubelet  = "the kubelet sets this label itself"
)

// Skipped is an attribute (or fault domain name) that is not a node label.
type Skipped struct {
	Name, Value string
	Reason      string // one of the Skip* constants
	Detail      string // the validation message, if any
}

func (s Skipped) String() string {
	if s.Detail == "" {
		return fmt.Sprintf("%s=%q: %s", s.Name, s.Value, s.Reason)
	}
	return fmt.Sprintf("%s=%q: %s: %s", s.Name, s.Value, s.Reason, s.Detail)
}

// NodeLabels are the labels the Node of this agent will carry once its
// kubelet registers it: the labels the bridge matches pods against before
// the Node exists, and the labels the executor registers the Node with.
// Both sides call this one function, so they cannot disagree.
//
// In order, later steps overriding earlier ones:
//
//  1. Each attribute, in the agent's order: a text attribute keeps its value,
//     a scalar is formatted as a number (3, 1.5); ranges and sets are
//     skipped (SkipNoSingleValue), and so are attributes whose name or value
//     is not a valid label (SkipInvalidKey, SkipInvalidValue), whose name is
//     in the kubernetes.io or k8s.io namespaces but not one the kubelet may
//     set on its own Node (SkipRestricted: the kubelet refuses such
//     --node-labels and NodeRestriction would reject them), or that the
//     kubelet sets itself from its own facts (SkipSetByKubelet:
//     kubernetes.io/hostname, beta.kubernetes.io/os and arch).
//  2. The fault domain: topology.kubernetes.io/region and
//     topology.kubernetes.io/zone from the region and zone names (skipped
//     when empty or not a valid label value).
//  3. kubernetes.io/hostname = NodeName(Hostname).
//  4. kubernetes.io/os and kubernetes.io/arch, and their deprecated
//     beta.kubernetes.io twins (the kubelet still sets them): the value of
//     the attribute of that name when the agent has a valid one, otherwise
//     DefaultOS and DefaultArch. The kubelet sets these from the platform it
//     runs on (runtime.GOOS and GOARCH), which Mesos does not report: an
//     agent of another platform declares it in --attributes, e.g.
//     "kubernetes.io/arch:arm64", and the executor refuses to bring up a
//     node whose host disagrees (CheckPlatform), so a Node never carries
//     other labels than the ones pods were matched against.
//
// The labels returned are valid label keys and values. Skipped lists what
// was left out and why, in the agent's order, for the executor to log.
func NodeLabels(a Agent) (labels map[string]string, skipped []Skipped) {
	labels = make(map[string]string, len(a.Attributes)+7)
	for _, attr := range a.Attributes {
		var value string
		switch {
		case attr.GetType() == mesos.TEXT && attr.Text != nil:
			value = attr.Text.GetValue()
		case attr.GetType() == mesos.SCALAR && attr.Scalar != nil:
			value = strconv.FormatFloat(attr.Scalar.GetValue(), 'f', -1, 64)
		default:
			skipped = append(skipped, Skipped{Name: attr.Name, Reason: SkipNoSingleValue})
			continue
		}
		if s, bad := invalidLabel(attr.Name, value); bad {
			skipped = append(skipped, s)
			continue
		}
		if setByKubelet[attr.Name] && attr.Name != corev1.LabelOSStable && attr.Name != corev1.LabelArchStable {
			skipped = append(skipped, Skipped{Name: attr.Name, Value: value, Reason: SkipSetByKubelet})
			continue
		}
		labels[attr.Name] = value
	}
	if fd := a.Domain.GetFaultDomain(); fd != nil {
		for _, l := range [...]struct{ key, value string }{
			{corev1.LabelTopologyRegion, fd.Region.Name}, {corev1.LabelTopologyZone, fd.Zone.Name},
		} {
			if l.value == "" {
				continue
			}
			if s, bad := invalidLabel(l.key, l.value); bad {
				skipped = append(skipped, s)
				continue
			}
			labels[l.key] = l.value
		}
	}
	labels[corev1.LabelHostname] = NodeName(a.Hostname)
	platform := func(stable, beta, def string) {
		if _, declared := labels[stable]; !declared {
			labels[stable] = def
		}
		labels[beta] = labels[stable]
	}
	platform(corev1.LabelOSStable, kubeletapis.LabelOS, DefaultOS)
	platform(corev1.LabelArchStable, kubeletapis.LabelArch, DefaultArch)
	return labels, skipped
}

// setByKubelet are the labels every kubelet sets on its Node from its own
// node name and platform (kubelet initialNode).
var setByKubelet = map[string]bool{
	corev1.LabelHostname:   true,
	corev1.LabelOSStable:   true,
	corev1.LabelArchStable: true,
	kubeletapis.LabelOS:    true,
	kubeletapis.LabelArch:  true,
}

// SetByKubelet reports whether the kubelet sets this label itself, from its
// node name and platform. The executor passes the other NodeLabels to the
// kubelet as --node-labels.
func SetByKubelet(key string) bool { return setByKubelet[key] }

// invalidLabel tells why key=value cannot be a label the kubelet registers.
func invalidLabel(key, value string) (Skipped, bool) {
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return Skipped{Name: key, Value: value, Reason: SkipInvalidKey, Detail: strings.Join(errs, "; ")}, true
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return Skipped{Name: key, Value: value, Reason: SkipInvalidValue, Detail: strings.Join(errs, "; ")}, true
	}
	if isKubernetesLabel(key) && !kubeletapis.IsKubeletLabel(key) {
		return Skipped{Name: key, Value: value, Reason: SkipRestricted}, true
	}
	return Skipped{}, false
}

// isKubernetesLabel reports whether key is in the kubernetes.io or k8s.io
// namespaces (or a subdomain), where the kubelet may set only
// kubeletapis.IsKubeletLabel keys (the kubelet's own --node-labels check).
func isKubernetesLabel(key string) bool {
	ns, _, found := strings.Cut(key, "/")
	if !found {
		return false
	}
	return ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") ||
		ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
}
