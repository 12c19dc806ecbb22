package kubeletexecutor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
)

// Environment variables the executor reads (docs/contracts.md).
const (
	EnvKubeconfig         = "KUBEMESOS_KUBECONFIG"
	EnvExecutorKubeconfig = "KUBEMESOS_EXECUTOR_KUBECONFIG"
	EnvClientCA           = "KUBEMESOS_CLIENT_CA"
	EnvCRISocket          = "KUBEMESOS_CRI_SOCKET"
	EnvPodCIDR            = "KUBEMESOS_POD_CIDR"
	EnvCNIConfDir         = "KUBEMESOS_CNI_CONF_DIR"
	EnvCNIBinDir          = "KUBEMESOS_CNI_BIN_DIR"
	EnvStateDir           = "KUBEMESOS_STATE_DIR"
	EnvBinDir             = "KUBEMESOS_BIN_DIR"
	EnvNodeIP             = "KUBEMESOS_NODE_IP"
	EnvCgroupRoot         = "KUBEMESOS_CGROUP_ROOT"
	EnvProxyKubeconfig    = "KUBEMESOS_PROXY_KUBECONFIG"
	EnvClusterCIDR        = "KUBEMESOS_CLUSTER_CIDR"
	EnvClusterDNS         = "KUBEMESOS_CLUSTER_DNS"
	EnvClusterDomain      = "KUBEMESOS_CLUSTER_DOMAIN"
	EnvKubeletTLSCert     = "KUBEMESOS_KUBELET_TLS_CERT_FILE"
	EnvKubeletTLSKey      = "KUBEMESOS_KUBELET_TLS_KEY_FILE"
	EnvPreloadedImages    = "KUBEMESOS_PRELOADED_IMAGES"
	EnvRuntime            = "KUBEMESOS_EXECUTOR_RUNTIME"
	EnvAdoptWindow        = "KUBEMESOS_ADOPT_WINDOW"
)

// DefaultAdoptWindow is how long a new executor keeps the pods an earlier one
// left on its node for the framework to launch their tasks again.
const DefaultAdoptWindow = time.Minute

// Runtimes of KUBEMESOS_EXECUTOR_RUNTIME: what runs the node's pods.
const (
	// RuntimeKubelet runs a real kubelet and kube-proxy over containerd (the default).
	RuntimeKubelet = "kubelet"
	// RuntimeSimulated runs no kubelet and no containers: the executor
	// registers the Node and reports its pods Running (package simnode).
	RuntimeSimulated = "simulated"
)

// Settings is the executor's whole configuration: the agent's MESOS_*
// variables and the per-host KUBEMESOS_* ones. Node-specific values that only
// the SUBSCRIBED event knows (hostname, attributes, resources) are added then.
type Settings struct {
	Mesos config.Config
	// Runtime is RuntimeKubelet or RuntimeSimulated.
	Runtime string
	// AdoptWindow is Executor.AdoptWindow (DefaultAdoptWindow unless set).
	AdoptWindow time.Duration

	Kubeconfig         string
	ExecutorKubeconfig string
	ClientCA           string
	CRISocket          string
	PodCIDR            string
	CNIConfDir         string
	CNIBinDir          string
	StateDir           string
	BinDir             string
	// NodeIP is empty when the agent endpoint's host is not an IP; it is then resolved at bring-up.
	NodeIP string
	// CgroupRoot is empty for the default /kubemesos/<hostname>.
	CgroupRoot    string
	ClusterDNS    []string
	ClusterDomain string
	// KubeletTLSCert and KubeletTLSKey are the kubelet's serving certificate
	// and key; empty lets the kubelet sign its own, which neither the API
	// server nor metrics-server can verify.
	KubeletTLSCert, KubeletTLSKey string
	// ProxyKubeconfig is kube-proxy's identity; defaults to Kubeconfig.
	ProxyKubeconfig string
	// ClusterCIDR is the cluster's pod network (kube-proxy's clusterCIDR); may be empty.
	ClusterCIDR string
	// PreloadedImages are the image names (no tag or digest) or `registry/path/*`
	// patterns the operator loads into the agent's containerd; the kubelet never
	// pulls them again to verify credentials (node.Config.PreloadedImages).
	PreloadedImages []string
}

// SettingsFromEnv reads Settings from the process environment.
func SettingsFromEnv() (Settings, error) {
	getenv := os.Getenv
	mc, err := config.FromEnv()
	if err != nil {
		return Settings{}, fmt.Errorf("mesos environment: %w", err)
	}
	def := func(name, d string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return d
	}
	s := Settings{
		Mesos:          mc,
		Runtime:        def(EnvRuntime, RuntimeKubelet),
		Kubeconfig:     getenv(EnvKubeconfig),
		ClientCA:       getenv(EnvClientCA),
		CRISocket:      def(EnvCRISocket, "unix:///run/containerd/containerd.sock"),
		PodCIDR:        getenv(EnvPodCIDR),
		CNIConfDir:     def(EnvCNIConfDir, "/etc/cni/net.d"),
		CNIBinDir:      def(EnvCNIBinDir, "/usr/lib/cni"),
		StateDir:       def(EnvStateDir, "/var/lib/kubemesos"),
		NodeIP:         getenv(EnvNodeIP),
		CgroupRoot:     getenv(EnvCgroupRoot),
		ClusterDomain:  getenv(EnvClusterDomain),
		KubeletTLSCert: getenv(EnvKubeletTLSCert),
		KubeletTLSKey:  getenv(EnvKubeletTLSKey),
		ClusterCIDR:    strings.TrimSpace(getenv(EnvClusterCIDR)),
	}
	s.ExecutorKubeconfig = def(EnvExecutorKubeconfig, s.Kubeconfig)
	s.ProxyKubeconfig = def(EnvProxyKubeconfig, s.Kubeconfig)
	s.BinDir = getenv(EnvBinDir)
	if s.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return Settings{}, fmt.Errorf("%s is unset and the executable's directory is unknown: %w", EnvBinDir, err)
		}
		s.BinDir = filepath.Dir(exe)
	}
	if dns := getenv(EnvClusterDNS); dns != "" {
		for _, ip := range strings.Split(dns, ",") {
			if ip = strings.TrimSpace(ip); ip != "" {
				s.ClusterDNS = append(s.ClusterDNS, ip)
			}
		}
	}
	for _, name := range strings.Split(getenv(EnvPreloadedImages), ",") {
		if name = strings.TrimSpace(name); name != "" {
			s.PreloadedImages = append(s.PreloadedImages, name)
		}
	}
	if err := node.ValidatePreloadedImages(s.PreloadedImages); err != nil {
		return Settings{}, fmt.Errorf("%s: %w", EnvPreloadedImages, err)
	}
	if s.NodeIP == "" {
		if host, _, err := net.SplitHostPort(mc.AgentEndpoint); err == nil && net.ParseIP(host) != nil {
			s.NodeIP = host
		}
	}
	s.AdoptWindow = DefaultAdoptWindow
	if v := getenv(EnvAdoptWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return Settings{}, fmt.Errorf("%s=%q: want a duration of at least 0 (e.g. 60s)", EnvAdoptWindow, v)
		}
		s.AdoptWindow = d
	}
	required := map[string]string{EnvKubeconfig: s.Kubeconfig, EnvClientCA: s.ClientCA, EnvPodCIDR: s.PodCIDR}
	switch s.Runtime {
	case RuntimeKubelet:
	case RuntimeSimulated:
		// No kubelet to trust a client CA, no CNI to hand out addresses
		// (pods get no IP without a pod CIDR).
		required = map[string]string{EnvKubeconfig: s.Kubeconfig}
	default:
		return Settings{}, fmt.Errorf("%s=%q: want %q or %q", EnvRuntime, s.Runtime, RuntimeKubelet, RuntimeSimulated)
	}
	var missing []string
	for name, v := range required {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Settings{}, fmt.Errorf("required environment variables are unset: %s", strings.Join(missing, ", "))
	}
	if (s.KubeletTLSCert == "") != (s.KubeletTLSKey == "") {
		return Settings{}, fmt.Errorf("%s and %s must be set together", EnvKubeletTLSCert, EnvKubeletTLSKey)
	}
	return s, nil
}
