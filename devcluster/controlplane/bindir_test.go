package controlplane

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindRepoRootSkipsNestedModules(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "hack", "tools")
	deep := filepath.Join(nested, "etcd")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nested, "go.mod"), []byte("module "+Module+"/hack/tools\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := findRepoRootFrom(deep)
	if err != nil {
		t.Fatal(err)
	}
	if got != root {
		t.Errorf("findRepoRootFrom = %s, want %s", got, root)
	}
	if _, err := findRepoRootFrom(t.TempDir()); err == nil {
		t.Error("found a repository root outside any repository")
	}
}

func TestDefaultBinDir(t *testing.T) {
	t.Setenv(BinDirEnv, "/opt/k8s/bin")
	if d, err := DefaultBinDir(); err != nil || d != "/opt/k8s/bin" {
		t.Errorf("with %s set: %q, %v", BinDirEnv, d, err)
	}
	t.Setenv(BinDirEnv, "")
	d, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if d != filepath.Join(root, "bin") {
		t.Errorf("DefaultBinDir = %s, want %s/bin", d, root)
	}
}

func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckBinaries(dir, "etcd"); err != nil {
		t.Errorf("etcd present: %v", err)
	}
	err := CheckBinaries(dir, "etcd", "kubectl", "kube-apiserver")
	if !errors.Is(err, ErrBinaryMissing) {
		t.Fatalf("err = %v, want ErrBinaryMissing", err)
	}
}

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
