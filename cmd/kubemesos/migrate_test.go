package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/migrate"
)

// TestMigrateApply runs kubemesos migrate --apply against a real API
// server: nothing is applied while an app did not convert, --partial
// applies the others, and every object of every testdata input that
// converts is accepted by the API server's validation.
func TestMigrateApply(t *testing.T) {
	cp := cptest.Start(t)
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	ctx := t.Context()
	kc := cp.AdminKubeconfig
	testdata := filepath.Join("..", "..", "migrate", "testdata")

	// /shop/frontend has no image: nothing is applied.
	err := runMigrate([]string{"marathon", filepath.Join(testdata, "group-nested.json"), "--namespace-from-group", "--apply", "--kubeconfig", kc})
	if !errors.Is(err, errNotConverted) {
		t.Fatalf("migrate --apply of a group with apps that do not convert: %v, want errNotConverted", err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, "shop-backend", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace shop-backend after a refused apply: %v", err)
	}

	// --partial applies the others.
	if err := runMigrate([]string{"marathon", filepath.Join(testdata, "group-nested.json"), "--namespace-from-group", "--apply", "--partial", "--kubeconfig", kc}); err != nil {
		t.Fatal(err)
	}
	d, err := client.AppsV1().Deployments("shop-backend").Get(ctx, "catalog", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/shop/catalog:5.2" {
		t.Fatalf("catalog: %d replicas of %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	if _, err := client.CoreV1().Services("shop-backend").Get(ctx, "catalog", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ss, err := client.AppsV1().StatefulSets("shop-data").Get(ctx, "postgres", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 || *ss.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "kubemesos-local" {
		t.Fatalf("postgres claims %+v", ss.Spec.VolumeClaimTemplates)
	}
	if _, err := client.AppsV1().Deployments("shop").Get(ctx, "frontend", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("frontend did not convert and was applied: %v", err)
	}

	// Applying again changes nothing and succeeds (server-side apply).
	if err := runMigrate([]string{"marathon", filepath.Join(testdata, "group-nested.json"), "--namespace-from-group", "--apply", "--partial", "--kubeconfig", kc}); err != nil {
		t.Fatalf("second apply: %v", err)
	}

	// The API server validates what every input converts to, with
	// --command-image so that apps without an image convert too.
	inputs, err := filepath.Glob(filepath.Join(testdata, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		source := "marathon"
		switch name := filepath.Base(in); {
		case strings.Contains(name, "metronome"):
			source = "metronome"
		case strings.HasPrefix(name, "chronos"):
			source = "chronos"
		}
		if err := runMigrate([]string{source, in, "--namespace-from-group", "--command-image", "debian:12", "--apply", "--partial", "--kubeconfig", kc}); err != nil {
			t.Errorf("%s: %v", filepath.Base(in), err)
		}
	}
	cj, err := client.BatchV1().CronJobs("e2e-migrate").Get(ctx, "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.Schedule != "* * * * *" {
		t.Fatalf("tick schedule %q", cj.Spec.Schedule)
	}
	if _, err := client.AppsV1().Deployments("shop").Get(ctx, "frontend", metav1.GetOptions{}); err != nil {
		t.Fatalf("frontend with --command-image: %v", err)
	}
	if _, err := client.AppsV1().Deployments("media").Get(ctx, "transcoder", metav1.GetOptions{}); err != nil {
		t.Fatalf("the pod /media/transcoder: %v", err)
	}
}

// TestMigrateUsage: bad arguments are errors, before anything is read.
func TestMigrateUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"marathon"},
		{"kubernetes", "x.json"},
		{"marathon", "x.json", "--limits", "some"},
		{"marathon", filepath.Join(t.TempDir(), "missing.json")},
	} {
		if err := runMigrate(args); err == nil {
			t.Errorf("migrate %v: no error", args)
		}
	}
}

// TestMigrateDirToOut: a directory of Marathon files is converted into one
// file per app, and the report.
func TestMigrateDirToOut(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for name, app := range map[string]string{
		"a.json":    `{"id": "/team/a", "cmd": "sleep 1000", "container": {"type": "DOCKER", "docker": {"image": "busybox"}}}`,
		"b.json":    `{"id": "/team/b", "args": ["serve"], "container": {"type": "MESOS", "docker": {"image": "example/b:1"}}}`,
		"notes.txt": `not an app`,
	} {
		if err := os.WriteFile(filepath.Join(in, name), []byte(app), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := runMigrate([]string{"marathon", in, "--namespace-from-group", "--out", out}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"namespaces.yaml", "team_a.yaml", "team_b.yaml", "report.txt"} {
		data, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "team_b.yaml" && !strings.Contains(string(data), "image: example/b:1") {
			t.Errorf("%s:\n%s", f, data)
		}
		if f == "report.txt" && !strings.Contains(string(data), "2 of 2 converted") {
			t.Errorf("%s:\n%s", f, data)
		}
	}
	// A bad file fails the run, naming the file, the app and the field.
	if err := os.WriteFile(filepath.Join(in, "c.json"), []byte(`{"id": "/team/c", "cmd": "x", "instancs": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runMigrate([]string{"marathon", in, "--out", out})
	if !errors.Is(err, migrate.ErrUnknownField) || !strings.Contains(err.Error(), "c.json: /team/c: instancs") {
		t.Fatalf("bad file: %v", err)
	}
}
