package podtask

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/volume"
)

func testPVC() *corev1.PersistentVolumeClaim {
	sc := StorageClassName
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: testClaim.Namespace, Name: testClaim.Name, UID: testClaim.UID},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &sc,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

var testPlacement = PlacedVolume{AgentID: "S0", NodeName: "agent-1", HostPath: "/var/lib/mesos/volumes/roles/kubemesos/pvc-x", Role: "kubemesos"}

func TestPersistentVolume(t *testing.T) {
	pvc := testPVC()
	pv, err := PersistentVolume(pvc, testPlacement)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Name != PVName(pvc.UID) || pv.Annotations[AnnProvisionedBy] != Provisioner || pv.Annotations[AnnAgentID] != "S0" ||
		pv.Annotations[AnnRole] != "kubemesos" || pv.Annotations[AnnPersistenceID] != pv.Name || len(pv.Finalizers) != 1 || pv.Finalizers[0] != FinalizerVolume {
		t.Errorf("PV metadata %+v", pv.ObjectMeta)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path != testPlacement.HostPath {
		t.Errorf("PV source %+v", pv.Spec.PersistentVolumeSource)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("capacity %v", q.String())
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != StorageClassName ||
		pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("PV spec %+v", pv.Spec)
	}
	// The PV controller's own matching (delayed binding, as for a
	// WaitForFirstConsumer class) picks this PV for the claim, among
	// others; and the scheduler's path does on the agent's node only.
	other := pv.DeepCopy()
	other.Name, other.Spec.ClaimRef = "pvc-other", nil
	got, err := volume.FindMatchingVolume(pvc, []*corev1.PersistentVolume{other, pv}, nil, nil, true, false)
	if err != nil || got == nil || got.Name != pv.Name {
		t.Errorf("PV controller matches %v, %v; want %s", got, err, pv.Name)
	}
	if !volume.IsVolumeBoundToClaim(pv, pvc) {
		t.Errorf("PV claimRef %+v does not bind the claim", pv.Spec.ClaimRef)
	}
	// The node affinity admits the agent's node and no other.
	for node, want := range map[string]bool{"agent-1": true, "agent-2": false} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{corev1.LabelHostname: node}}}
		if err := volume.CheckNodeAffinity(pv, n.Labels); (err == nil) != want {
			t.Errorf("node %s: CheckNodeAffinity = %v, want fit %v", node, err, want)
		}
	}

	retain := testPlacement
	retain.ReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	if pv, err := PersistentVolume(pvc, retain); err != nil || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("Retain: %v, %v", pv, err)
	}
	none := pvc.DeepCopy()
	none.Spec.AccessModes = nil
	if pv, err := PersistentVolume(none, testPlacement); err != nil || len(pv.Spec.AccessModes) != 1 || pv.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("no access modes: %v, %v", pv, err)
	}
}

func TestPersistentVolumeRejects(t *testing.T) {
	other := "standard"
	block := corev1.PersistentVolumeBlock
	for name, mutate := range map[string]func(*corev1.PersistentVolumeClaim, *PlacedVolume){
		"other class": func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) { c.Spec.StorageClassName = &other },
		"no class":    func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) { c.Spec.StorageClassName = nil },
		"block":       func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) { c.Spec.VolumeMode = &block },
		"ReadWriteMany": func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		},
		"no request":    func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) { c.Spec.Resources.Requests = nil },
		"no UID":        func(c *corev1.PersistentVolumeClaim, _ *PlacedVolume) { c.UID = "" },
		"no node":       func(_ *corev1.PersistentVolumeClaim, p *PlacedVolume) { p.NodeName = "" },
		"no agent":      func(_ *corev1.PersistentVolumeClaim, p *PlacedVolume) { p.AgentID = "" },
		"relative path": func(_ *corev1.PersistentVolumeClaim, p *PlacedVolume) { p.HostPath = "volumes/x" },
		"Recycle": func(_ *corev1.PersistentVolumeClaim, p *PlacedVolume) {
			p.ReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
		},
	} {
		pvc, at := testPVC(), testPlacement
		mutate(pvc, &at)
		if pv, err := PersistentVolume(pvc, at); !errors.Is(err, ErrBadVolume) {
			t.Errorf("%s: PersistentVolume = %v, %v; want ErrBadVolume", name, pv, err)
		}
	}
	if _, err := PersistentVolume(nil, testPlacement); !errors.Is(err, ErrBadVolume) {
		t.Errorf("nil claim: %v", err)
	}
}
