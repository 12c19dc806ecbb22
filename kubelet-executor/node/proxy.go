package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/klog/v2"
)

// KubeProxy is the supervised kube-proxy process of this node.
func KubeProxy(c Config) *Process {
	return &Process{
		Name:    "kube-proxy",
		Path:    filepath.Join(c.BinDir, "kube-proxy"),
		Args:    KubeProxyArgs(c),
		LogPath: filepath.Join(c.LogDir, "kube-proxy.log"),
	}
}

// CleanupProxyRules removes kube-proxy's rules (iptables, IPVS and nftables)
// from this process' network namespace with `kube-proxy --cleanup` (about
// 0.25 s). It needs no API server. Call it only after kube-proxy has stopped.
// In a network namespace of the node's own the rules would go with the
// namespace anyway; whether the namespace is the host's cannot be told
// reliably (PID 1 may itself run in another one), so the rules are always
// removed.
func CleanupProxyRules(ctx context.Context, c Config) error {
	log, err := os.OpenFile(filepath.Join(c.LogDir, "kube-proxy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open kube-proxy log: %w", err)
	}
	defer log.Close()
	args := append(KubeProxyArgs(c), "--cleanup")
	fmt.Fprintf(log, "==== cleanup: %s %v\n", filepath.Join(c.BinDir, "kube-proxy"), args)
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kube-proxy"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kube-proxy --cleanup: %w", err)
	}
	klog.FromContext(ctx).Info("Removed kube-proxy rules", "node", c.NodeName)
	return nil
}
