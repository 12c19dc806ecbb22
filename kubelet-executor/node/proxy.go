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

// OwnNetNS reports whether this process runs in a network namespace other
// than PID 1's: then the namespace is the node's own, and the iptables rules
// kube-proxy leaves go away with it. It is false when the namespaces cannot
// be compared (both unreadable counts as shared).
func OwnNetNS() bool {
	self, err1 := os.Readlink("/proc/self/ns/net")
	pid1, err2 := os.Readlink("/proc/1/ns/net")
	return err1 == nil && err2 == nil && self != pid1
}

// CleanupProxyRules removes kube-proxy's rules (iptables, IPVS and nftables)
// from this process' network namespace with `kube-proxy --cleanup`. It needs
// no API server. Call it only after kube-proxy has stopped.
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
	klog.FromContext(ctx).Info("Removed kube-proxy rules from the host's network namespace", "node", c.NodeName)
	return nil
}
