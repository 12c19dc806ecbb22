package podtask

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations of a PV kubemesos provisioned. AnnProvisionedBy is
// Kubernetes' own (the PV controller and external provisioners use it);
// the others say where the volume is, so reclaiming it (DESTROY, UNRESERVE)
// needs no search.
const (
	AnnProvisionedBy     = "pv.kubernetes.io/provisioned-by"
	AnnAgentID           = "kubemesos.io/agent-id"
	AnnRole              = "kubemesos.io/role"
	AnnPersistenceID     = "kubemesos.io/persistence-id"
	defaultReclaimPolicy = corev1.PersistentVolumeReclaimDelete
)

// FinalizerVolume holds a kubemesos PV until its Mesos volume is destroyed
// and its disk unreserved: deleting the PV object (by the reclaim of a
// Delete claim, or by an operator) never leaks the reservation.
const FinalizerVolume = "kubemesos.io/mesos-volume"

// PlacedVolume is where a claim's volume was created: the agent, its node
// (NodeName of the agent's hostname), the volume's directory there
// (VolumeHostPath) and the role it is reserved for, plus the reclaim
// policy of the claim's StorageClass ("" is Delete, the StorageClass
// default).
type PlacedVolume struct {
	AgentID       string
	NodeName      string
	HostPath      string
	Role          string
	ReclaimPolicy corev1.PersistentVolumeReclaimPolicy
}

// PersistentVolume is the PV of a claim whose Mesos volume was created as
// placed: named PVName(claim UID); a local volume at the host path with
// node affinity to the agent's node (kubernetes.io/hostname), so the
// kubelet mounts it and kube-scheduler and the bridge agree where its pods
// go; capacity the claim's storage request; the claim's access modes
// (ReadWriteOnce when none) and storage class; pre-bound to the claim
// (claimRef with its UID), which makes the PV controller bind the claim to
// it. It returns an error wrapping ErrBadVolume for a claim kubemesos does
// not provision (another class, block mode, access modes a node-local
// volume cannot give, no request) or an incomplete placement.
func PersistentVolume(claim *corev1.PersistentVolumeClaim, at PlacedVolume) (*corev1.PersistentVolume, error) {
	if claim == nil || claim.Namespace == "" || claim.Name == "" || claim.UID == "" {
		return nil, fmt.Errorf("%w: claim without namespace, name or UID", ErrBadVolume)
	}
	ref := ClaimRef{Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
	if sc := claim.Spec.StorageClassName; sc == nil || *sc != StorageClassName {
		return nil, fmt.Errorf("%w: claim %s is not of storage class %s", ErrBadVolume, ref, StorageClassName)
	}
	if m := claim.Spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem {
		return nil, fmt.Errorf("%w: claim %s: volume mode %s is not supported", ErrBadVolume, ref, *m)
	}
	modes := claim.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	for _, m := range modes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return nil, fmt.Errorf("%w: claim %s: access mode %s is not possible on a node-local volume", ErrBadVolume, ref, m)
		}
	}
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok || size.Sign() <= 0 {
		return nil, fmt.Errorf("%w: claim %s requests no storage", ErrBadVolume, ref)
	}
	if at.AgentID == "" || at.NodeName == "" || at.Role == "" {
		return nil, fmt.Errorf("%w: claim %s: placement needs agent, node and role", ErrBadVolume, ref)
	}
	if !filepath.IsAbs(at.HostPath) {
		return nil, fmt.Errorf("%w: claim %s: host path %q is not absolute", ErrBadVolume, ref, at.HostPath)
	}
	policy := at.ReclaimPolicy
	if policy == "" {
		policy = defaultReclaimPolicy
	}
	if policy != corev1.PersistentVolumeReclaimDelete && policy != corev1.PersistentVolumeReclaimRetain {
		return nil, fmt.Errorf("%w: claim %s: reclaim policy %s (Delete or Retain)", ErrBadVolume, ref, policy)
	}
	name := PVName(claim.UID)
	id, err := PersistenceID(name)
	if err != nil {
		return nil, err
	}
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{
			Name:       name,
			Finalizers: []string{FinalizerVolume},
			Annotations: map[string]string{
				AnnProvisionedBy: Provisioner,
				AnnAgentID:       at.AgentID,
				AnnRole:          at.Role,
				AnnPersistenceID: id,
			},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), modes...),
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              StorageClassName,
			VolumeMode:                    &fs,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: at.HostPath}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{at.NodeName}}},
			}}}},
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			},
		},
	}, nil
}
