package k8sapi

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ClaimMirror is the bridge's read-only view of the persistent volume
// claims, the persistent volumes and the storage classes, for placing pods
// whose claims kubemesos provisions as Mesos volumes and for reclaiming
// those volumes (#8). Like NodeMirror it only reads; the bridge's writes to
// PVs go through its asynchronous writer (VolumeWriter).
type ClaimMirror struct {
	claims, volumes, classes cache.SharedIndexInformer
}

// NewClaimMirror watches every PVC, PV and StorageClass.
func NewClaimMirror(client kubernetes.Interface, resync time.Duration) *ClaimMirror {
	factory := informers.NewSharedInformerFactory(client, resync)
	return &ClaimMirror{
		claims:  factory.Core().V1().PersistentVolumeClaims().Informer(),
		volumes: factory.Core().V1().PersistentVolumes().Informer(),
		classes: factory.Storage().V1().StorageClasses().Informer(),
	}
}

// Run runs the informers until ctx ends; it returns once their caches are
// synced (error if ctx ends first) and keeps watching in the background.
func (m *ClaimMirror) Run(ctx context.Context) error {
	for _, w := range []struct {
		inf  cache.SharedIndexInformer
		what string
	}{{m.claims, "claim mirror (PVCs)"}, {m.volumes, "claim mirror (PVs)"}, {m.classes, "claim mirror (StorageClasses)"}} {
		if err := runSynced(ctx, w.inf, w.what); err != nil {
			return err
		}
	}
	return nil
}

// Claim returns the PVC namespace/name. It is the informer's: callers must
// not modify it.
func (m *ClaimMirror) Claim(namespace, name string) (*corev1.PersistentVolumeClaim, bool) {
	obj, ok, err := m.claims.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.PersistentVolumeClaim), true
}

// Volume returns the PV name. It is the informer's: callers must not
// modify it.
func (m *ClaimMirror) Volume(name string) (*corev1.PersistentVolume, bool) {
	obj, ok, err := m.volumes.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.PersistentVolume), true
}

// Volumes returns every PV. They are the informer's: callers must not
// modify them.
func (m *ClaimMirror) Volumes() []*corev1.PersistentVolume {
	objs := m.volumes.GetStore().List()
	out := make([]*corev1.PersistentVolume, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*corev1.PersistentVolume))
	}
	return out
}

// ReclaimPolicy returns the reclaim policy of the StorageClass name (Delete
// when the class sets none, as the API server defaults it), and false when
// there is no such class.
func (m *ClaimMirror) ReclaimPolicy(class string) (corev1.PersistentVolumeReclaimPolicy, bool) {
	obj, ok, err := m.classes.GetStore().GetByKey(class)
	if err != nil || !ok {
		return "", false
	}
	if p := obj.(*storagev1.StorageClass).ReclaimPolicy; p != nil {
		return *p, true
	}
	return corev1.PersistentVolumeReclaimDelete, true
}
