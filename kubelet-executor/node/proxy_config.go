package node

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Fixed kube-proxy ports (the upstream defaults). Each node on a shared host
// has its own network namespace, so they never collide between nodes; the
// kubelet's own ports (10248, 10250) are different.
const (
	ProxyHealthzPort = 10256
	ProxyMetricsPort = 10249
)

// KubeProxyConfiguration is kube-proxy's --config for this node: iptables
// mode, the node's name and IP, and nothing that changes a sysctl beyond the
// node's network namespace:
//   - conntrack maxPerCore 0 and zero TCP timeouts: nf_conntrack_max and the
//     conntrack hash size are global (a network namespace cannot set them),
//     so kube-proxy leaves every conntrack setting as it is;
//   - nodePortAddresses "primary" and iptables.localhostNodePorts false:
//     NodePorts are served on the node IP only, not on 127.0.0.1, and
//     kube-proxy does not set net.ipv4.conf.all.route_localnet=1.
//
// ClusterCIDR may be empty: traffic to Services from outside the pod network
// is then not masqueraded by kube-proxy.
func KubeProxyConfiguration(c Config) *kubeproxyv1alpha1.KubeProxyConfiguration {
	return &kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection: componentbaseconfigv1alpha1.ClientConnectionConfiguration{
			Kubeconfig: c.ProxyKubeconfig,
		},
		HostnameOverride:   c.NodeName,
		BindAddress:        c.NodeIP,
		HealthzBindAddress: net.JoinHostPort(c.NodeIP, strconv.Itoa(ProxyHealthzPort)),
		MetricsBindAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(ProxyMetricsPort)),
		Mode:               kubeproxyv1alpha1.ProxyMode("iptables"),
		IPTables: kubeproxyv1alpha1.KubeProxyIPTablesConfiguration{
			LocalhostNodePorts: ptr.To(false),
		},
		NodePortAddresses: []string{"primary"},
		DetectLocalMode:   kubeproxyv1alpha1.LocalMode("ClusterCIDR"),
		ClusterCIDR:       c.ClusterCIDR,
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			Min:                   ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
}

// KubeProxyConfigYAML renders the KubeProxyConfiguration.
func KubeProxyConfigYAML(c Config) ([]byte, error) {
	b, err := yaml.Marshal(KubeProxyConfiguration(c))
	if err != nil {
		return nil, fmt.Errorf("marshal KubeProxyConfiguration: %w", err)
	}
	return b, nil
}

// KubeProxyArgs is kube-proxy's command line (without the binary).
func KubeProxyArgs(c Config) []string {
	return []string{"--config=" + c.ProxyConfigPath()}
}

// ProxyConfigPath is where the KubeProxyConfiguration is written.
func (c Config) ProxyConfigPath() string { return filepath.Join(c.NodeDir(), "kube-proxy-config.yaml") }
