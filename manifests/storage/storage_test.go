package storage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/kubemesos/kubemesos/podtask"
)

// The manifests name the class and provisioner the bridge and podtask use,
// bind when the first pod is placed, and differ only in reclaim policy.
func TestClasses(t *testing.T) {
	for file, policy := range map[string]corev1.PersistentVolumeReclaimPolicy{
		DeleteFile: corev1.PersistentVolumeReclaimDelete,
		RetainFile: corev1.PersistentVolumeReclaimRetain,
	} {
		sc, err := Class(file)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Name != podtask.StorageClassName || sc.Provisioner != podtask.Provisioner {
			t.Errorf("%s: class %q, provisioner %q; want %q, %q", file, sc.Name, sc.Provisioner, podtask.StorageClassName, podtask.Provisioner)
		}
		if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			t.Errorf("%s: volumeBindingMode %v, want WaitForFirstConsumer", file, sc.VolumeBindingMode)
		}
		if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != policy {
			t.Errorf("%s: reclaimPolicy %v, want %s", file, sc.ReclaimPolicy, policy)
		}
		if sc.AllowVolumeExpansion == nil || *sc.AllowVolumeExpansion {
			t.Errorf("%s: a Mesos volume cannot grow; allowVolumeExpansion must be false", file)
		}
	}
	if _, err := Class("missing.yaml"); err == nil {
		t.Error("Class of a missing file succeeded")
	}
	if _, err := decodeClass("ns.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")); err == nil {
		t.Error("a Namespace decoded as a StorageClass")
	}
	if _, err := decodeClass("bad.yaml", []byte("kind: [")); err == nil {
		t.Error("bad YAML decoded")
	}
}
