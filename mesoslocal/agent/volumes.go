package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/roles"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/mesosid"
)

// Persistent volume directories, as Mesos 1.12's agent keeps them
// (src/slave/slave.cpp syncCheckpointedResources, src/slave/paths.cpp
// getPersistentVolumePath):
//
//   - A volume on a disk without a source lives at
//     <work_dir>/volumes/roles/<role>/<persistence id>; a '/' of a
//     hierarchical role is written as ' '.
//   - On a PATH disk it lives at <root>/volumes/roles/<role>/<id>, on a
//     MOUNT disk it is the mount's root itself; a relative root is relative
//     to the work_dir.
//   - The directory is created (with its parents) when a volume first
//     appears in the checkpointed resources (CREATE); an existing directory
//     is left as it is (pre-existing data, a mount point).
//   - It is removed with its contents when the volume leaves them
//     (DESTROY); for a MOUNT disk only the contents go, the mount point
//     stays.
//   - Nothing else touches it: it outlives the tasks that use it and an
//     agent restart, and it is outside the sandboxes (slaves/...), so
//     sandbox garbage collection never reaches it.

// persistentVolumePath is the host directory of the persistent volume v on
// an agent whose --work_dir is workDir.
func persistentVolumePath(workDir string, v mesos.Resource) (string, error) {
	if !v.IsPersistentVolume() {
		return "", fmt.Errorf("resource %s is not a persistent volume", mesos.Resources{v})
	}
	role := v.ReservationRole()
	if v.IsUnreserved() || role == "" || role == "*" {
		return "", fmt.Errorf("persistent volume %q is not reserved", v.GetDisk().GetPersistence().GetID())
	}
	if err := roles.Validate(role); err != nil {
		return "", fmt.Errorf("persistent volume %q: invalid role %q: %w", v.GetDisk().GetPersistence().GetID(), role, err)
	}
	id := v.GetDisk().GetPersistence().GetID()
	if err := mesosid.Validate(id); err != nil {
		return "", fmt.Errorf("invalid persistence ID %q: %w", id, err)
	}
	src := v.GetDisk().GetSource()
	if src == nil {
		return volumeDir(workDir, role, id), nil
	}
	var root string
	switch src.GetType() {
	case mesos.Resource_DiskInfo_Source_PATH:
		root = src.GetPath().GetRoot()
	case mesos.Resource_DiskInfo_Source_MOUNT:
		root = src.GetMount().GetRoot()
	default:
		return "", fmt.Errorf("persistent volume %q: disk source type %s is not supported", id, src.GetType())
	}
	if root == "" {
		return "", fmt.Errorf("persistent volume %q: %s disk has no root", id, src.GetType())
	}
	if !filepath.IsAbs(root) {
		root = filepath.Join(workDir, root)
	}
	if src.GetType() == mesos.Resource_DiskInfo_Source_MOUNT {
		return root, nil
	}
	return volumeDir(root, role, id), nil
}

// volumeDir is Mesos' getPersistentVolumePath(dir, role, id).
func volumeDir(dir, role, id string) string {
	return filepath.Join(dir, "volumes", "roles", strings.ReplaceAll(role, "/", " "), id)
}

// volumePaths maps the host directory of every persistent volume of rs to
// the volume.
func volumePaths(workDir string, rs mesos.Resources) (map[string]mesos.Resource, error) {
	out := map[string]mesos.Resource{}
	for _, r := range rs {
		if !r.IsPersistentVolume() {
			continue
		}
		p, err := persistentVolumePath(workDir, r)
		if err != nil {
			return nil, err
		}
		out[p] = r
	}
	return out, nil
}

// syncVolumes creates the directories of the volumes in next that are not
// in prev and removes those of the volumes in prev that are not in next,
// as Mesos' Slave::syncCheckpointedResources. It stops at the first
// failure; the caller does not commit next then, so a later sync retries.
func syncVolumes(workDir string, prev, next mesos.Resources) error {
	old, err := volumePaths(workDir, prev)
	if err != nil {
		return err
	}
	cur, err := volumePaths(workDir, next)
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := old[p]; ok {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			continue // pre-existing data or a mount point: left alone
		}
		v := cur[p]
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create persistent volume %s at %q: %w", v.GetDisk().GetPersistence().GetID(), p, err)
		}
		klog.InfoS("Created persistent volume", "id", v.GetDisk().GetPersistence().GetID(), "path", p)
	}
	for _, p := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[p]; ok {
			continue
		}
		v := old[p]
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			klog.InfoS("Persistent volume to delete is already gone", "id", v.GetDisk().GetPersistence().GetID(), "path", p)
			continue
		}
		if err := removeVolume(p, v.GetDisk().GetSource().GetType() == mesos.Resource_DiskInfo_Source_MOUNT); err != nil {
			return fmt.Errorf("remove persistent volume %s at %q: %w", v.GetDisk().GetPersistence().GetID(), p, err)
		}
		klog.InfoS("Deleted persistent volume", "id", v.GetDisk().GetPersistence().GetID(), "path", p)
	}
	return nil
}

// removeVolume removes p and everything under it, or only what is under
// it when keepRoot (the mount point of a MOUNT disk).
func removeVolume(p string, keepRoot bool) error {
	if !keepRoot {
		return os.RemoveAll(p)
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(p, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// linkVolumes makes the persistent volumes of rs visible in the sandbox
// dir as Mesos' filesystem/posix isolator does: a symlink
// <sandbox>/<container_path> to the volume's host directory. The
// container path must be relative (the posix isolator has no mount
// namespace to mount an absolute one into).
func linkVolumes(workDir, dir string, rs mesos.Resources) error {
	paths, err := volumePaths(workDir, rs)
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		v := paths[p]
		id := v.GetDisk().GetPersistence().GetID()
		cp := v.GetDisk().GetVolume().GetContainerPath()
		if cp == "" {
			return fmt.Errorf("persistent volume %s has no container path", id)
		}
		if filepath.IsAbs(cp) {
			return fmt.Errorf("absolute container path %q of persistent volume %s is not supported", cp, id)
		}
		link := filepath.Join(dir, cp)
		if rel, err := filepath.Rel(dir, link); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("container path %q of persistent volume %s leaves the sandbox", cp, id)
		}
		if target, err := os.Readlink(link); err == nil && target == p {
			continue
		}
		if _, err := os.Lstat(link); err == nil {
			return fmt.Errorf("container path %q of persistent volume %s already exists in the sandbox", cp, id)
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fmt.Errorf("link persistent volume: %w", err)
		}
		if err := os.Symlink(p, link); err != nil {
			return fmt.Errorf("link persistent volume: %w", err)
		}
	}
	return nil
}
