package migrate

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LocalStorageClass is the storage class persistent volumes are claimed
// from: local volumes on the node, as Mesos' persistent volumes are on the
// agent.
const LocalStorageClass = "kubemesos-local"

func hasPersistent(a *App) bool {
	if a.Container == nil {
		return false
	}
	for _, v := range a.Container.Volumes {
		if v.Persistent != nil {
			return true
		}
	}
	return false
}

// volumes is what an app's container.volumes become.
type volumesOut struct {
	volumes []corev1.Volume
	mounts  []corev1.VolumeMount
	claims  []corev1.PersistentVolumeClaim
}

// appVolumes converts container.volumes: persistent volumes become
// volumeClaimTemplates (the app becomes a StatefulSet), host paths
// hostPath volumes, relative host paths (in the sandbox) emptyDirs,
// secrets secret volumes; external volumes do not convert.
func appVolumes(r *Report, a *App) volumesOut {
	var out volumesOut
	if a.Container == nil {
		return out
	}
	// A relative containerPath mounts in the sandbox; a persistent volume
	// named by such a path is mounted elsewhere by a hostPath naming it.
	persistentAt := map[string]string{}
	for i, v := range a.Container.Volumes {
		f := fmt.Sprintf("container.volumes[%d]", i)
		name := fmt.Sprintf("vol-%d", i)
		readOnly := v.Mode == "RO"
		mountPath := v.ContainerPath
		if !strings.HasPrefix(mountPath, "/") {
			mountPath = path.Join(SandboxPath, mountPath)
		}
		switch {
		case v.Persistent != nil:
			name = dnsLabel(strings.ReplaceAll(v.ContainerPath, "/", "-"), "data-")
			persistentAt[v.ContainerPath] = name
			size := memQuantity(v.Persistent.Size)
			out.claims = append(out.claims, corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptrString(LocalStorageClass),
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			})
			out.mounts = append(out.mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
			detail := fmt.Sprintf("volumeClaimTemplate %s of %s, class %s, at %s", name, size.String(), LocalStorageClass, mountPath)
			if t := v.Persistent.Type; t != "" && t != "root" || v.Persistent.ProfileName != "" || v.Persistent.MaxSize != nil || len(v.Persistent.Constraints) > 0 {
				r.approx(f, "%s: the class decides the disk; type, profileName, maxSize and constraints are not carried over", detail)
			} else {
				r.converted(f, "%s", detail)
			}
		case len(v.External) > 0:
			r.not(f, "external volume (DVDI/REX-Ray): create a PersistentVolume of its driver's CSI class and mount its claim")
		case v.Secret != "":
			sname, key := secretRef(a.Secrets[v.Secret].Source)
			out.volumes = append(out.volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: sname, Items: []corev1.KeyToPath{{Key: key, Path: path.Base(mountPath)}},
			}}})
			out.mounts = append(out.mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, SubPath: path.Base(mountPath), ReadOnly: true})
			r.approx(f, "secret volume: file %s from Secret %s key %s (create it from the secret store)", mountPath, sname, key)
		case v.HostPath != "" && !strings.HasPrefix(v.HostPath, "/"):
			if pv, ok := persistentAt[v.HostPath]; ok {
				out.mounts = append(out.mounts, corev1.VolumeMount{Name: pv, MountPath: mountPath, ReadOnly: readOnly})
				r.converted(f, "the persistent volume %s mounted at %s", pv, mountPath)
				continue
			}
			out.volumes = append(out.volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			out.mounts = append(out.mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
			r.approx(f, "emptyDir at %s: a directory of the sandbox, gone with the pod", mountPath)
		case v.HostPath != "":
			out.volumes = append(out.volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: v.HostPath}}})
			out.mounts = append(out.mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
			r.approx(f, "hostPath %s at %s: the path on whichever node the pod runs on, as on whichever agent", v.HostPath, mountPath)
		default:
			out.volumes = append(out.volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			out.mounts = append(out.mounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
			r.approx(f, "emptyDir at %s", mountPath)
		}
	}
	return out
}

func ptrString(s string) *string { return &s }
