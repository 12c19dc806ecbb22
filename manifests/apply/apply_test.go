package apply

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
)

func TestDecode(t *testing.T) {
	objs, err := Decode([]byte("---\n# a comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"x\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetKind() != "ConfigMap" || objs[1].GetName() != "x" {
		t.Fatalf("decoded %v", objs)
	}
	for _, bad := range []string{"kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion: v1\nkind: ConfigMap\n", "apiVersion: v1\nkind: [\n"} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// TestApply applies a namespace, a CRD and an object of the CRD's kind in
// one stream (the kind is unknown until the CRD is established), then the
// same stream again with a changed field, against a real API server.
func TestApply(t *testing.T) {
	cp := cptest.Start(t)
	a, err := New(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	stream := func(color string) []byte {
		return []byte(`apiVersion: v1
kind: Namespace
metadata: {name: paint}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pots.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: pots, singular: pot, kind: Pot}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: example.com/v1
kind: Pot
metadata: {name: one, namespace: paint}
color: ` + color + "\n")
	}
	ctx := t.Context()
	apply := func(color string) {
		t.Helper()
		objs, err := Decode(stream(color))
		if err != nil {
			t.Fatal(err)
		}
		// The CRD's kind may take a moment to be served.
		for attempt := 0; ; attempt++ {
			if err = a.Apply(ctx, objs); err == nil || attempt == 50 {
				break
			}
			a.mapper.Reset()
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-timeAfter():
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	apply("blue")
	apply("red")
	dyn := dynamic.NewForConfigOrDie(cp.RESTConfig())
	got, err := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "pots"}).Namespace("paint").Get(ctx, "one", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Object["color"] != "red" {
		t.Errorf("color = %v after the second apply", got.Object["color"])
	}
	if mf := got.GetManagedFields(); len(mf) == 0 || mf[0].Manager != FieldManager {
		t.Errorf("managed fields %v: want manager %s", mf, FieldManager)
	}

	objs, _ := Decode([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nowhere}\n"))
	if err := a.Apply(ctx, objs); err == nil {
		t.Error("no error for a namespaced object without a namespace")
	}
}

func timeAfter() <-chan time.Time { return time.After(100 * time.Millisecond) }
