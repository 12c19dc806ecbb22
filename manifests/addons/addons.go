// Package addons holds the cluster add-ons kubemesos deploys as ordinary
// workloads, scheduled through Mesos like any pod: CoreDNS (cluster DNS) and
// metrics-server (resource metrics for `kubectl top`).
// The YAML files in this folder are what a real cluster applies as they are
// (`kubectl apply -f manifests/addons/coredns.yaml`); Objects returns them
// adjusted to one cluster (its DNS ClusterIP and domain, a local image).
package addons

import (
	"embed"
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubemesos/kubemesos/manifests/apply"
)

//go:embed *.yaml
var files embed.FS

// Defaults of the shipped manifests.
const (
	// DefaultClusterDNS is the kube-dns Service's ClusterIP in coredns.yaml.
	DefaultClusterDNS = "10.96.0.10"
	// DefaultClusterDomain is the domain CoreDNS serves.
	DefaultClusterDomain = "cluster.local"
	// CoreDNSImage is the image coredns.yaml names.
	CoreDNSImage = "registry.k8s.io/coredns/coredns:v1.12.4"
	// MetricsServerImage is the image metrics-server.yaml names.
	MetricsServerImage = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
)

// CoreDNSOptions adjust coredns.yaml to a cluster.
type CoreDNSOptions struct {
	// ClusterIP of the kube-dns Service; default DefaultClusterDNS.
	ClusterIP string
	// Domain served; default DefaultClusterDomain.
	Domain string
	// Image replaces CoreDNSImage when set.
	Image string
}

// ClusterDNSIP is the conventional DNS ClusterIP of a Service CIDR: its
// tenth address (10.96.0.10 in 10.96.0.0/16).
func ClusterDNSIP(serviceCIDR netip.Prefix) (netip.Addr, error) {
	a := serviceCIDR.Masked().Addr()
	if !a.Is4() || serviceCIDR.Bits() > 28 {
		return netip.Addr{}, fmt.Errorf("addons: service CIDR %s: want IPv4 with room for a tenth address", serviceCIDR)
	}
	for range 10 {
		a = a.Next()
	}
	return a, nil
}

// load decodes one of the manifests.
func load(file string) ([]*unstructured.Unstructured, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil, err
	}
	objs, err := apply.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("addons: %s: %w", file, err)
	}
	return objs, nil
}

// setImage replaces image from with to in the Deployments' containers and
// reports whether it was found.
func setImage(objs []*unstructured.Unstructured, from, to string) (bool, error) {
	found := false
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for i := range cs {
			if c, _ := cs[i].(map[string]any); c["image"] == from {
				c["image"] = to
				found = true
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers"); err != nil {
			return false, err
		}
	}
	return found, nil
}

// MetricsServer returns metrics-server.yaml's objects, with image in place
// of MetricsServerImage when set.
func MetricsServer(image string) ([]*unstructured.Unstructured, error) {
	objs, err := load("metrics-server.yaml")
	if err != nil || image == "" {
		return objs, err
	}
	if ok, err := setImage(objs, MetricsServerImage, image); err != nil || !ok {
		return nil, fmt.Errorf("addons: metrics-server.yaml: no container of image %s (%v)", MetricsServerImage, err)
	}
	return objs, nil
}

// CoreDNS returns coredns.yaml's objects adjusted by o.
func CoreDNS(o CoreDNSOptions) ([]*unstructured.Unstructured, error) {
	objs, err := load("coredns.yaml")
	if err != nil {
		return nil, err
	}
	if o.ClusterIP == "" {
		o.ClusterIP = DefaultClusterDNS
	}
	if o.Domain == "" {
		o.Domain = DefaultClusterDomain
	}
	if _, err := netip.ParseAddr(o.ClusterIP); err != nil {
		return nil, fmt.Errorf("addons: DNS ClusterIP: %w", err)
	}
	found := map[string]bool{}
	for _, u := range objs {
		switch u.GetKind() {
		case "Service":
			if err := unstructured.SetNestedField(u.Object, o.ClusterIP, "spec", "clusterIP"); err != nil {
				return nil, err
			}
			found["Service"] = true
		case "ConfigMap":
			corefile, _, _ := unstructured.NestedString(u.Object, "data", "Corefile")
			const served = "kubernetes " + DefaultClusterDomain + " "
			if !strings.Contains(corefile, served) {
				return nil, fmt.Errorf("addons: coredns.yaml: Corefile does not serve %s", DefaultClusterDomain)
			}
			corefile = strings.Replace(corefile, served, "kubernetes "+o.Domain+" ", 1)
			if err := unstructured.SetNestedField(u.Object, corefile, "data", "Corefile"); err != nil {
				return nil, err
			}
			found["ConfigMap"] = true
		}
	}
	found["Deployment"] = o.Image == ""
	if o.Image != "" {
		if found["Deployment"], err = setImage(objs, CoreDNSImage, o.Image); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"Service", "ConfigMap", "Deployment"} {
		if !found[k] {
			return nil, fmt.Errorf("addons: coredns.yaml: no %s to adjust", k)
		}
	}
	return objs, nil
}
