package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoCgroupMounts: the executor's mount namespace has no cgroup
// hierarchy, which the kubelet needs for every pod. The usual cause is an
// agent started under `ip netns exec`, which mounts a fresh /sys without
// them.
var ErrNoCgroupMounts = errors.New("no cgroup hierarchy is mounted in the executor's mount namespace: " +
	"the kubelet-executor needs the host's cgroup hierarchies under /sys/fs/cgroup (and the host's /sys, /proc and /dev); " +
	"an agent started with `ip netns exec` gets a fresh /sys without them, start it with `nsenter --net=/var/run/netns/NAME` instead " +
	"(docs/contracts.md, \"What the executor needs from the agent's host\")")

// CgroupMount is one mounted cgroup hierarchy.
type CgroupMount struct {
	// Path is the mount point, e.g. /sys/fs/cgroup/cpuset.
	Path string
	// V2 is true for the unified (cgroup2) hierarchy.
	V2 bool
	// Controllers are the v1 controllers of the hierarchy (super options), e.g. [cpu cpuacct].
	Controllers []string
}

// CgroupMounts lists the cgroup hierarchies of /proc/self/mountinfo.
func CgroupMounts() ([]CgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	return parseCgroupMounts(f)
}

// parseCgroupMounts reads mountinfo lines:
// "36 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset".
func parseCgroupMounts(r io.Reader) ([]CgroupMount, error) {
	var out []CgroupMount
	s := bufio.NewScanner(r)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		fstype, super := fields[sep+1], fields[sep+3]
		mount := CgroupMount{Path: unescapeMount(fields[4])}
		switch fstype {
		case "cgroup2":
			mount.V2 = true
		case "cgroup":
			for _, o := range strings.Split(super, ",") {
				switch {
				case o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent="):
				default: // a controller, or name=<hierarchy> (e.g. name=systemd)
					mount.Controllers = append(mount.Controllers, o)
				}
			}
		default:
			continue
		}
		out = append(out, mount)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return out, nil
}

func unescapeMount(p string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(p)
}

// EnsureCgroupRoot creates the kubelet's cgroup root (e.g. /kubemesos/node-1)
// in every v1 hierarchy, copying cpuset.cpus and cpuset.mems down from the
// parent where the hierarchy has the cpuset controller (a new cpuset cgroup is
// empty and no process may join it otherwise). On a v2-only host it creates
// the cgroup and enables the controllers on the way down. In a hybrid layout
// the v2 hierarchy is left alone: the kubelet uses the v1 controllers there.
func EnsureCgroupRoot(mounts []CgroupMount, root string) error {
	var v1 []CgroupMount
	var v2 *CgroupMount
	for i := range mounts {
		if mounts[i].V2 {
			v2 = &mounts[i]
		} else {
			v1 = append(v1, mounts[i])
		}
	}
	if len(v1) == 0 && v2 == nil {
		return ErrNoCgroupMounts
	}
	if len(v1) == 0 {
		return ensureV2(v2.Path, root)
	}
	for _, m := range v1 {
		if err := ensureV1(m, root); err != nil {
			return err
		}
	}
	return nil
}

func ensureV1(m CgroupMount, root string) error {
	cpuset := false
	for _, c := range m.Controllers {
		if c == "cpuset" {
			cpuset = true
		}
	}
	dir := m.Path
	for _, part := range strings.Split(strings.Trim(root, "/"), "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if !cpuset {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := copyIfEmpty(filepath.Join(parent, f), filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyIfEmpty(from, to string) error {
	cur, err := os.ReadFile(to)
	if err != nil {
		return fmt.Errorf("read %s: %w", to, err)
	}
	if len(bytes.TrimSpace(cur)) > 0 {
		return nil
	}
	val, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, val, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}

// v2Controllers are enabled for the kubelet's subtree where available.
var v2Controllers = []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}

func ensureV2(mount, root string) error {
	dir := mount
	for _, part := range strings.Split(strings.Trim(root, "/"), "/") {
		enableV2Controllers(dir)
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	enableV2Controllers(dir)
	return nil
}

// enableV2Controllers enables what the parent offers, one controller at a
// time: a controller that cannot be enabled must not block the others.
func enableV2Controllers(dir string) {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	have := strings.Fields(string(avail))
	for _, c := range v2Controllers {
		for _, h := range have {
			if h == c {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0o644)
			}
		}
	}
}

// RemoveCgroupRoot removes the cgroup root and the (empty) cgroups below it in
// every hierarchy, deepest first. Cgroups that still hold processes stay, and
// their errors are returned joined.
func RemoveCgroupRoot(mounts []CgroupMount, root string) error {
	var errs []error
	for _, m := range mounts {
		base := filepath.Join(m.Path, root)
		var dirs []string
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
