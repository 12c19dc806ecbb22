package addons

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

func image(t *testing.T, d *unstructured.Unstructured) string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	return cs[0].(map[string]any)["image"].(string)
}

func TestCoreDNS(t *testing.T) {
	objs, err := CoreDNS(CoreDNSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip, _, _ := unstructured.NestedString(find(objs, "Service").Object, "spec", "clusterIP"); ip != DefaultClusterDNS {
		t.Errorf("default clusterIP %q", ip)
	}
	if got := image(t, find(objs, "Deployment")); got != CoreDNSImage {
		t.Errorf("default image %q", got)
	}

	objs, err = CoreDNS(CoreDNSOptions{ClusterIP: "10.97.0.10", Domain: "example.internal", Image: "local/coredns:1"})
	if err != nil {
		t.Fatal(err)
	}
	if ip, _, _ := unstructured.NestedString(find(objs, "Service").Object, "spec", "clusterIP"); ip != "10.97.0.10" {
		t.Errorf("clusterIP %q", ip)
	}
	corefile, _, _ := unstructured.NestedString(find(objs, "ConfigMap").Object, "data", "Corefile")
	if !strings.Contains(corefile, "kubernetes example.internal in-addr.arpa") || strings.Contains(corefile, "cluster.local") {
		t.Errorf("Corefile does not serve the domain:\n%s", corefile)
	}
	if got := image(t, find(objs, "Deployment")); got != "local/coredns:1" {
		t.Errorf("image %q", got)
	}
	sel, _, _ := unstructured.NestedStringMap(find(objs, "Deployment").Object, "spec", "template", "spec", "nodeSelector")
	if sel["kubernetes.io/os"] != "linux" {
		t.Errorf("nodeSelector %v: the upstream manifest's kubernetes.io/os selector must stay", sel)
	}
	if _, err := CoreDNS(CoreDNSOptions{ClusterIP: "not-an-ip"}); err == nil {
		t.Error("no error for a bad ClusterIP")
	}
}

func TestMetricsServer(t *testing.T) {
	objs, err := MetricsServer("local/metrics-server:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := image(t, find(objs, "Deployment")); got != "local/metrics-server:1" {
		t.Errorf("image %q", got)
	}
	if a := find(objs, "APIService"); a == nil || a.GetName() != "v1beta1.metrics.k8s.io" {
		t.Errorf("APIService %v", a)
	}
}

func TestClusterDNSIP(t *testing.T) {
	for cidr, want := range map[string]string{"10.96.0.0/16": "10.96.0.10", "10.97.0.0/12": "10.96.0.10", "192.168.5.0/24": "192.168.5.10"} {
		got, err := ClusterDNSIP(netip.MustParsePrefix(cidr))
		if err != nil || got.String() != want {
			t.Errorf("ClusterDNSIP(%s) = %v, %v; want %s", cidr, got, err, want)
		}
	}
	if _, err := ClusterDNSIP(netip.MustParsePrefix("10.0.0.0/30")); err == nil {
		t.Error("no error for a /30")
	}
}
