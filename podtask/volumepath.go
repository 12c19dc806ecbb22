package podtask

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mesos/mesos-go/api/v1/lib/roles"
)

// ErrNotASandbox marks a directory that is not a Mesos executor sandbox,
// so no agent work_dir can be derived from it.
var ErrNotASandbox = errors.New("not a Mesos executor sandbox")

// VolumeHostPath is the directory of the persistent volume with this
// persistence ID, reserved for role, on an agent whose --work_dir is
// workDir, as Mesos 1.12 places a volume on a disk without a source
// (src/slave/paths.cpp getPersistentVolumePath):
// <work_dir>/volumes/roles/<role>/<persistence id>, a '/' of a
// hierarchical role written as a space. The agent creates it on CREATE and
// removes it on DESTROY; it outlives tasks and agent restarts.
func VolumeHostPath(workDir, role, persistenceID string) (string, error) {
	if !filepath.IsAbs(workDir) {
		return "", fmt.Errorf("agent work_dir %q is not absolute", workDir)
	}
	if err := roles.Validate(role); err != nil || role == "*" {
		return "", fmt.Errorf("%w: role %q is not a reservation role", ErrBadVolume, role)
	}
	if _, err := PersistenceID(persistenceID); err != nil {
		return "", err
	}
	return filepath.Join(workDir, "volumes", "roles", strings.ReplaceAll(role, "/", " "), persistenceID), nil
}

// WorkDirOfSandbox is the agent's --work_dir, derived from the executor's
// sandbox directory. Mesos tells an executor no work_dir, but gives it
// MESOS_DIRECTORY, its sandbox on the host:
// <work_dir>/slaves/<agent id>/frameworks/<framework id>/executors/<executor id>/runs/<container id>
// (src/slave/paths.cpp getExecutorRunPath). MESOS_SANDBOX is the same
// directory unless the executor runs in a container image, where it is the
// path inside the container (/mnt/mesos/sandbox); so the executor reads
// MESOS_DIRECTORY. The IDs cannot contain '/', so the last eight elements
// are the sandbox's own and the rest is the work_dir, whatever it is named.
func WorkDirOfSandbox(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%w: %q is not absolute", ErrNotASandbox, dir)
	}
	parts := strings.Split(filepath.Clean(dir), string(filepath.Separator))
	n := len(parts)
	// parts[0] is "" (the root); the work_dir is at least "/".
	if n < 9 || parts[n-8] != "slaves" || parts[n-6] != "frameworks" || parts[n-4] != "executors" || parts[n-2] != "runs" {
		return "", fmt.Errorf("%w: %q does not end in slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/<container>", ErrNotASandbox, dir)
	}
	for _, id := range []string{parts[n-7], parts[n-5], parts[n-3], parts[n-1]} {
		if id == "" {
			return "", fmt.Errorf("%w: %q has an empty ID", ErrNotASandbox, dir)
		}
	}
	wd := string(filepath.Separator) + filepath.Join(parts[1:n-8]...)
	return wd, nil
}

// WorkDirOfEnv is WorkDirOfSandbox of the executor's MESOS_DIRECTORY, read
// through getenv (os.Getenv).
func WorkDirOfEnv(getenv func(string) string) (string, error) {
	dir := getenv("MESOS_DIRECTORY")
	if dir == "" {
		return "", fmt.Errorf("%w: MESOS_DIRECTORY is not set", ErrNotASandbox)
	}
	return WorkDirOfSandbox(dir)
}
