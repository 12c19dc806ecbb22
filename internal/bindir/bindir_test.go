package bindir

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

func TestDefault(t *testing.T) {
	t.Setenv(Env, "/opt/k8s/bin")
	if d, err := Default(); err != nil || d != "/opt/k8s/bin" {
		t.Errorf("with %s set: %q, %v", Env, d, err)
	}
	t.Setenv(Env, "")
	d, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if d != filepath.Join(root, "bin") {
		t.Errorf("Default = %s, want %s/bin", d, root)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, "etcd"); err != nil {
		t.Errorf("etcd present: %v", err)
	}
	err := Check(dir, "etcd", "kubectl", "kube-apiserver")
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
}
