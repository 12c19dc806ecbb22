package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// CgroupMount is where the cgroup hierarchies are mounted.
const CgroupMount = "/sys/fs/cgroup"

// cgroupV1Controllers are the hierarchies the kubelet (cgroupfs driver)
// expects its cgroup root in.
var cgroupV1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "systemd"}

// cgroupHierarchies returns the mounted hierarchy directories under
// CgroupMount, each real directory once (cpu and cpuacct are often one).
func cgroupHierarchies(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		p := filepath.Join(CgroupMount, n)
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	return out
}

func allHierarchies() []string {
	ents, err := os.ReadDir(CgroupMount)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return cgroupHierarchies(names)
}

// createCgroupRoot makes root (e.g. /kubemesos/agent-1) in every v1
// hierarchy; in cpuset each level gets its parent's cpus and mems.
func createCgroupRoot(root string) error {
	if _, err := os.Stat(filepath.Join(CgroupMount, "cgroup.controllers")); err == nil {
		// Pure cgroup v2: one hierarchy, controllers delegated by the kubelet.
		return os.MkdirAll(filepath.Join(CgroupMount, root), 0o755)
	}
	for _, h := range cgroupHierarchies(cgroupV1Controllers) {
		parts := strings.Split(strings.Trim(root, "/"), "/")
		dir := h
		for _, p := range parts {
			parent := dir
			dir = filepath.Join(dir, p)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("node: cgroup %s: %w", dir, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "cpuset.cpus")); err == nil {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					cur, _ := os.ReadFile(filepath.Join(dir, f))
					if strings.TrimSpace(string(cur)) != "" {
						continue
					}
					v, err := os.ReadFile(filepath.Join(parent, f))
					if err != nil {
						return fmt.Errorf("node: cgroup %s: %w", parent, err)
					}
					if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
						return fmt.Errorf("node: cgroup %s/%s: %w", dir, f, err)
					}
				}
			}
		}
	}
	return nil
}

// cgroupDirs returns root and every cgroup below it in every hierarchy,
// deepest first.
func cgroupDirs(root string) []string {
	var dirs []string
	for _, h := range allHierarchies() {
		top := filepath.Join(h, root)
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

// killCgroupProcs ends the processes still in the host's cgroups: pod
// processes whose sandbox could not be removed because containerd was gone.
func killCgroupProcs(ctx context.Context, root string) error {
	if root == "" || root == "/" {
		return nil
	}
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		pids := map[int]bool{}
		for _, d := range cgroupDirs(root) {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids[pid] = true
				}
			}
		}
		if len(pids) == 0 {
			return nil
		}
		errs = errs[:0]
		for pid := range pids {
			klog.FromContext(ctx).Info("Ending a process left in the host's cgroup", "pid", pid, "cgroup", root)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("node: kill %d: %w", pid, err))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// removeCgroupRoot removes root and its children in every hierarchy, then
// the parent of root when nothing else is in it.
func removeCgroupRoot(root string) error {
	if root == "" || strings.Trim(root, "/") == "" {
		return nil
	}
	var errs []error
	for _, d := range cgroupDirs(root) {
		var err error
		for i := 0; i < 20; i++ {
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node: remove cgroup %s: %w", d, err))
		}
	}
	if parent := filepath.Dir(root); parent != "/" {
		for _, h := range allHierarchies() {
			// Fails harmlessly while other hosts' roots are still in it.
			_ = syscall.Rmdir(filepath.Join(h, parent))
		}
	}
	return errors.Join(errs...)
}

// MountsUnder returns the mount points at or below dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// unescapeMount decodes the octal escapes (\040 etc.) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything at or below dir, deepest first, lazily
// when a mount is busy, until nothing is left.
func unmountUnder(ctx context.Context, dir string) error {
	for pass := 0; pass < 10; pass++ {
		mounts, err := MountsUnder(dir)
		if err != nil {
			return fmt.Errorf("node: mounts under %s: %w", dir, err)
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			err := syscall.Unmount(m, 0)
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				err = syscall.Unmount(m, syscall.MNT_DETACH)
			}
			if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				klog.FromContext(ctx).V(1).Info("Unmount failed", "path", m, "err", err)
			}
		}
	}
	mounts, _ := MountsUnder(dir)
	if len(mounts) > 0 {
		return fmt.Errorf("node: still mounted under %s: %v", dir, mounts)
	}
	return nil
}
