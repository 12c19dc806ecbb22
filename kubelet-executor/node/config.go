package node

import (
	"fmt"
	"hash/fnv"
	"net"
	"path/filepath"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Config is everything that makes one node distinct on a shared host.
type Config struct {
	// NodeName is the Node object's name: the Mesos agent's hostname.
	NodeName string
	// NodeIP is the address the kubelet registers (--node-ip). Not loopback:
	// the kubelet refuses a loopback node IP.
	NodeIP string
	// PodCIDR is the subnet the CNI bridge hands out addresses from.
	PodCIDR string
	// StateDir holds per-node directories: <StateDir>/<NodeName>/{kubelet,pod-logs,cni}.
	StateDir string
	// CNIConfDir is where containerd reads CNI configs; CNIBinDir holds the plugins.
	CNIConfDir string
	CNIBinDir  string
	// BinDir holds the kubelet and kube-proxy binaries.
	BinDir string
	// Kubeconfig is the kubelet's identity (system:node:<NodeName>).
	Kubeconfig string
	// ProxyKubeconfig is kube-proxy's identity (system:kube-proxy or the node's).
	ProxyKubeconfig string
	// ClusterCIDR is the pod network of the whole cluster (kube-proxy's
	// clusterCIDR); empty when unknown.
	ClusterCIDR string
	// ClientCA is the CA bundle the kubelet trusts for client certificates.
	ClientCA string
	// CRISocket is the container runtime endpoint, e.g. unix:///run/containerd/containerd.sock.
	CRISocket string
	// CgroupRoot is the kubelet's cgroup root, unique per node.
	CgroupRoot string
	// ClusterDNS and ClusterDomain configure pod DNS; empty leaves the kubelet's default (host resolv.conf).
	ClusterDNS    []string
	ClusterDomain string
	// TLSCertFile and TLSKeyFile are the kubelet's serving certificate; empty
	// lets the kubelet sign its own.
	TLSCertFile, TLSKeyFile string
	// PreloadedImages are image names or `registry/path/*` patterns loaded
	// into the node's containerd by its operator, never pulled by a kubelet
	// (see PreloadedImagesPolicy).
	PreloadedImages []string
	// Labels are the node labels the kubelet registers with (--node-labels).
	Labels map[string]string
	// Resources are the agent's Mesos resources; allocatable is sized to them.
	Resources Resources
	// LogDir receives kubelet.log and kube-proxy.log (the executor's sandbox).
	LogDir string
}

// Resources are the scalar Mesos resources of the agent.
type Resources struct {
	CPUs   float64 // cpus
	MemMiB float64 // mem, in MiB as Mesos counts it
}

// ResourcesOf sums the scalar cpus and mem among Mesos resources (an agent's,
// or an executor's own).
func ResourcesOf(rs []mesos.Resource) Resources {
	var res Resources
	for _, r := range rs {
		if r.GetType() != mesos.SCALAR || r.Scalar == nil {
			continue
		}
		switch r.Name {
		case "cpus":
			res.CPUs += r.Scalar.GetValue()
		case "mem":
			res.MemMiB += r.Scalar.GetValue()
		}
	}
	return res
}

// NodeDir is the per-node state directory.
func (c Config) NodeDir() string { return filepath.Join(c.StateDir, c.NodeName) }

// KubeletRootDir is the kubelet's --root-dir.
func (c Config) KubeletRootDir() string { return filepath.Join(c.NodeDir(), "kubelet") }

// PodLogsDir is the kubelet's podLogsDir.
func (c Config) PodLogsDir() string { return filepath.Join(c.NodeDir(), "pod-logs") }

// IPAMDataDir is host-local IPAM's dataDir.
func (c Config) IPAMDataDir() string { return filepath.Join(c.NodeDir(), "cni") }

// KubeletConfigPath is where the KubeletConfiguration is written.
func (c Config) KubeletConfigPath() string { return filepath.Join(c.NodeDir(), "kubelet-config.yaml") }

// CNIConfPath is the conflist the executor writes into CNIConfDir.
func (c Config) CNIConfPath() string { return filepath.Join(c.CNIConfDir, "10-kubemesos.conflist") }

// BridgeName is the Linux bridge of this node's pods: unique per node name, at most 15 bytes.
func (c Config) BridgeName() string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(c.NodeName))
	return fmt.Sprintf("kmcni%08x", h.Sum32())
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("node name is empty")
	case c.StateDir == "" || !filepath.IsAbs(c.StateDir):
		return fmt.Errorf("state dir %q must be an absolute path", c.StateDir)
	case c.CNIConfDir == "":
		return fmt.Errorf("CNI conf dir is empty")
	case c.Kubeconfig == "":
		return fmt.Errorf("kubelet kubeconfig is empty")
	case c.ProxyKubeconfig == "":
		return fmt.Errorf("kube-proxy kubeconfig is empty")
	case c.ClientCA == "":
		return fmt.Errorf("client CA is empty")
	case c.CgroupRoot == "" || c.CgroupRoot[0] != '/':
		return fmt.Errorf("cgroup root %q must start with /", c.CgroupRoot)
	}
	if _, _, err := net.ParseCIDR(c.PodCIDR); err != nil {
		return fmt.Errorf("pod CIDR %q: %w", c.PodCIDR, err)
	}
	if c.ClusterCIDR != "" {
		if _, _, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
			return fmt.Errorf("cluster CIDR %q: %w", c.ClusterCIDR, err)
		}
	}
	ip := net.ParseIP(c.NodeIP)
	if ip == nil {
		return fmt.Errorf("node IP %q is not an IP address", c.NodeIP)
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return fmt.Errorf("node IP %s cannot be a loopback or unspecified address (the kubelet refuses it)", c.NodeIP)
	}
	return nil
}
