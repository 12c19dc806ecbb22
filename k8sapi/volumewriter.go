package k8sapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// VolumeWriter makes the bridge's writes to the PVs it provisions (#8):
// create one once its Mesos volume exists, and let one go once its volume
// is destroyed. Each write is idempotent, so the bridge's writer may retry
// it and a new leader may repeat what the old one did.
type VolumeWriter struct {
	client kubernetes.Interface
}

// NewVolumeWriter writes through client.
func NewVolumeWriter(client kubernetes.Interface) *VolumeWriter { return &VolumeWriter{client: client} }

// CreateVolume creates pv; a PV of that name that exists already is success
// (a retry, or another leader created it), whatever it holds: the name is
// the claim's UID, so it is this claim's.
func (w *VolumeWriter) CreateVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	_, err := w.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create PV %s: %w", pv.Name, err)
	}
	return nil
}

// ReleaseVolume lets the PV name go once its Mesos volume is destroyed and
// its disk unreserved: it deletes the PV (if nobody did yet) and removes the
// finalizer finalizer, which held it. A PV that is gone is success.
func (w *VolumeWriter) ReleaseVolume(ctx context.Context, name, finalizer string) error {
	pvs := w.client.CoreV1().PersistentVolumes()
	pv, err := pvs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get PV %s: %w", name, err)
	}
	if pv.DeletionTimestamp == nil {
		uid := pv.UID
		err := pvs.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete PV %s: %w", name, err)
		}
	}
	i := slices.Index(pv.Finalizers, finalizer)
	if i < 0 {
		return nil
	}
	// A JSON patch that tests the finalizer's place, so a concurrent change
	// of the list fails (and is retried) instead of removing another's.
	patch, _ := json.Marshal([]map[string]any{
		{"op": "test", "path": fmt.Sprintf("/metadata/finalizers/%d", i), "value": finalizer},
		{"op": "remove", "path": fmt.Sprintf("/metadata/finalizers/%d", i)},
	})
	_, err = pvs.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer %s of PV %s: %w", finalizer, name, err)
	}
	return nil
}
