package k8sapi

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const testFinalizer = "kubemesos.io/mesos-volume"

func TestClaimMirror(t *testing.T) {
	retain := corev1.PersistentVolumeReclaimRetain
	client := fake.NewClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "u1"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-u1"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, ReclaimPolicy: &retain},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	)
	m := NewClaimMirror(client, time.Minute)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c, ok := m.Claim("ns", "data"); !ok || c.UID != "u1" {
		t.Errorf("Claim = %v %v", c, ok)
	}
	if _, ok := m.Claim("ns", "nosuch"); ok {
		t.Error("a claim that does not exist found")
	}
	if pv, ok := m.Volume("pvc-u1"); !ok || pv.Name != "pvc-u1" || len(m.Volumes()) != 1 {
		t.Errorf("Volume = %v %v, Volumes %v", pv, ok, m.Volumes())
	}
	for class, want := range map[string]corev1.PersistentVolumeReclaimPolicy{"kept": retain, "plain": corev1.PersistentVolumeReclaimDelete} {
		if got, ok := m.ReclaimPolicy(class); !ok || got != want {
			t.Errorf("ReclaimPolicy(%s) = %v %v, want %v", class, got, ok, want)
		}
	}
	if _, ok := m.ReclaimPolicy("nosuch"); ok {
		t.Error("a class that does not exist found")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := NewClaimMirror(client, time.Minute).Run(ctx); err == nil {
		t.Error("Run with an ended context: no error")
	}
}

func TestVolumeWriter(t *testing.T) {
	ctx := t.Context()
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-u1", Finalizers: []string{"kubernetes.io/pv-protection", testFinalizer}}}
	client := fake.NewClientset()
	w := NewVolumeWriter(client)
	if err := w.CreateVolume(ctx, pv); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateVolume(ctx, pv); err != nil {
		t.Fatalf("a PV that exists: %v, want success", err)
	}
	// The fake deletes at once whatever the finalizers; a real API server
	// sets the deletion timestamp and the patch removes the finalizer.
	deleted := false
	client.PrependReactor("delete", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		deleted = true
		got, _ := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("persistentvolumes"), "", "pvc-u1")
		p := got.(*corev1.PersistentVolume)
		p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		return true, nil, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("persistentvolumes"), p, "")
	})
	if err := w.ReleaseVolume(ctx, "pvc-u1", testFinalizer); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
	if err != nil || !deleted || len(got.Finalizers) != 1 || got.Finalizers[0] != "kubernetes.io/pv-protection" {
		t.Fatalf("after release: deleted %v, finalizers %v (%v), want only pv-protection left", deleted, got.Finalizers, err)
	}
	if err := w.ReleaseVolume(ctx, "pvc-none", testFinalizer); err != nil {
		t.Fatalf("a PV that is gone: %v, want success", err)
	}

	broken := fake.NewClientset()
	broken.PrependReactor("create", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("overloaded")
	})
	broken.PrependReactor("get", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("overloaded")
	})
	if err := NewVolumeWriter(broken).CreateVolume(ctx, pv); !apierrors.IsServiceUnavailable(errors.Unwrap(err)) {
		t.Errorf("create on an overloaded server: %v", err)
	}
	if err := NewVolumeWriter(broken).ReleaseVolume(ctx, "pvc-u1", testFinalizer); err == nil {
		t.Error("release on an overloaded server: no error")
	}
}
