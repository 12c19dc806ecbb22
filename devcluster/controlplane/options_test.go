package controlplane

import (
	"path/filepath"
	"testing"
)

func TestKubernetesServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{"10.96.0.0/16": "10.96.0.1", "10.0.0.0/24": "10.0.0.1", "10.96.5.0/16": "10.96.0.1"} {
		ip, err := KubernetesServiceIP(cidr)
		if err != nil || ip.String() != want {
			t.Errorf("KubernetesServiceIP(%s) = %v, %v; want %s", cidr, ip, err, want)
		}
	}
	if _, err := KubernetesServiceIP("bogus"); err == nil {
		t.Error("bogus CIDR accepted")
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := (Options{}).withDefaults(); err == nil {
		t.Error("no Dir accepted")
	}
	if _, err := (Options{Dir: "x", BinDir: "b", BindAddress: "example.com"}).withDefaults(); err == nil {
		t.Error("host name accepted as bind address")
	}
	o, err := (Options{Dir: "x", BinDir: "b"}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.BindAddress != DefaultBindAddress || o.ServiceCIDR != DefaultServiceCIDR || o.ClusterCIDR != DefaultClusterCIDR || !filepath.IsAbs(o.Dir) {
		t.Errorf("defaults not applied: %+v", o)
	}
}
