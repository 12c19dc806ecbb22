package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/internal/atomicfile"
)

// Prepare brings the host side of the node up, once, before the kubelet
// starts: state directories, the CNI config, the cgroup root, the
// KubeletConfiguration and the KubeProxyConfiguration.
func Prepare(ctx context.Context, c Config, host Host) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	for _, d := range []string{c.KubeletRootDir(), c.PodLogsDir(), c.IPAMDataDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := WriteCNIConfig(c); err != nil {
		return err
	}
	mounts, err := CgroupMounts()
	if err != nil {
		return err
	}
	if err := EnsureCgroupRoot(mounts, c.CgroupRoot); err != nil {
		return fmt.Errorf("cgroup root %s: %w", c.CgroupRoot, err)
	}
	kc, err := KubeletConfigYAML(c, host)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.KubeletConfigPath(), kc, 0o644); err != nil {
		return err
	}
	pc, err := KubeProxyConfigYAML(c)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.ProxyConfigPath(), pc, 0o644); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Node prepared", "node", c.NodeName, "cni", c.CNIConfPath(),
		"kubeletConfig", c.KubeletConfigPath(), "proxyConfig", c.ProxyConfigPath(), "cgroupRoot", c.CgroupRoot, "systemReserved", Reserved(host, c.Resources))
	return nil
}

// Kubelet is the supervised kubelet process of this node.
func Kubelet(c Config) *Process {
	return &Process{
		Name:    "kubelet",
		Path:    filepath.Join(c.BinDir, "kubelet"),
		Args:    KubeletArgs(c),
		LogPath: filepath.Join(c.LogDir, "kubelet.log"),
	}
}

// Teardown undoes what the node left on the host once the kubelet and
// kube-proxy have stopped: kube-proxy's rules, pod sandboxes (through CRI),
// mounts under the kubelet root dir and the cgroup root. It tries every step
// and returns their errors joined.
func Teardown(ctx context.Context, c Config) error {
	var errs []error
	if err := CleanupProxyRules(ctx, c); err != nil {
		errs = append(errs, err)
	}
	n, err := RemovePodSandboxes(ctx, c.CRISocket)
	if err != nil {
		errs = append(errs, err)
	}
	if err := UnmountUnder(c.KubeletRootDir()); err != nil {
		errs = append(errs, err)
	}
	if mounts, err := CgroupMounts(); err != nil {
		errs = append(errs, err)
	} else if err := RemoveCgroupRoot(mounts, c.CgroupRoot); err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup root: %w", err))
	}
	klog.FromContext(ctx).Info("Node torn down", "node", c.NodeName, "sandboxesRemoved", n, "errors", len(errs))
	return errors.Join(errs...)
}
