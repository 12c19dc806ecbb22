package node

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// EvictionHard keeps only the kubelet evictions that do not fight Mesos'
// accounting. Memory is Mesos': the agent's host is shared with other
// frameworks' tasks, so host memory pressure says nothing about this node's
// pods, which Mesos granted their memory; "0%" turns the memory.available
// signal off (the kubelet ignores 0% and 100%), the pods' cgroups (limits,
// and the node-allocatable pods cgroup) bound them instead. The disk signals
// are kept at 1%: a full host disk stops the kubelet and containerd
// themselves. No other signal is set, so none has a threshold
// (mergeDefaultEvictionSettings is off), and there are no soft evictions.
var EvictionHard = map[string]string{
	"memory.available":  "0%",
	"nodefs.available":  "1%",
	"imagefs.available": "1%",
	"nodefs.inodesFree": "1%",
}

// Host is the machine's capacity as the kubelet measures it.
type Host struct {
	CPUs   int
	MemMiB float64
}

// Reserved returns the kubelet's systemReserved so that its allocatable
// (capacity − systemReserved; no memory eviction threshold) equals agent, the
// resources Mesos gives the framework's pods there: every kubelet sees the whole host, but only the agent's share is
// for pods. Where the agent has more than the host (an over-declared agent)
// nothing is reserved and allocatable is the host's capacity. A resource the
// agent does not declare (zero) is not reserved.
func Reserved(host Host, agent Resources) map[string]string {
	out := map[string]string{}
	if agent.CPUs > 0 {
		if milli := int64(math.Round(float64(host.CPUs)*1000 - agent.CPUs*1000)); milli > 0 {
			out["cpu"] = strconv.FormatInt(milli, 10) + "m"
		}
	}
	if agent.MemMiB > 0 {
		// In KiB, /proc/meminfo's unit, so allocatable is the agent's
		// memory exactly (rounded up to a KiB), not up to a MiB more.
		if kib := int64(math.Floor((host.MemMiB - agent.MemMiB) * 1024)); kib > 0 {
			if kib%1024 == 0 {
				out["memory"] = strconv.FormatInt(kib/1024, 10) + "Mi"
			} else {
				out["memory"] = strconv.FormatInt(kib, 10) + "Ki"
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// KubeletConfiguration is the kubelet's --config for this node.
func KubeletConfiguration(c Config, host Host) *kubeletv1beta1.KubeletConfiguration {
	kc := &kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		// cgroup v1 hosts are refused by default since 1.35.
		FailCgroupV1:           ptr.To(false),
		CgroupDriver:           "cgroupfs",
		CgroupRoot:             c.CgroupRoot,
		CgroupsPerQOS:          ptr.To(true),
		EnforceNodeAllocatable: []string{"pods"},
		FailSwapOn:             ptr.To(false),
		ReadOnlyPort:           0,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: c.ClientCA},
		},
		Authorization:               kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		EvictionHard:                EvictionHard,
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		ContainerRuntimeEndpoint:    c.CRISocket,
		PodLogsDir:                  c.PodLogsDir(),
		RegisterNode:                ptr.To(true),
		SystemReserved:              Reserved(host, c.Resources),
		ClusterDNS:                  c.ClusterDNS,
		ClusterDomain:               c.ClusterDomain,
		TLSCertFile:                 c.TLSCertFile,
		TLSPrivateKeyFile:           c.TLSKeyFile,
	}
	if len(c.PreloadedImages) > 0 {
		kc.ImagePullCredentialsVerificationPolicy = kubeletv1beta1.NeverVerifyAllowlistedImages
		kc.PreloadedImagesVerificationAllowlist = c.PreloadedImages
	}
	return kc
}

// KubeletConfigYAML renders the KubeletConfiguration.
func KubeletConfigYAML(c Config, host Host) ([]byte, error) {
	b, err := yaml.Marshal(KubeletConfiguration(c, host))
	if err != nil {
		return nil, fmt.Errorf("marshal KubeletConfiguration: %w", err)
	}
	return b, nil
}

// KubeletArgs is the kubelet's command line (without the binary).
func KubeletArgs(c Config) []string {
	args := []string{
		"--config=" + c.KubeletConfigPath(),
		"--kubeconfig=" + c.Kubeconfig,
		"--hostname-override=" + c.NodeName,
		"--node-ip=" + c.NodeIP,
		"--root-dir=" + c.KubeletRootDir(),
	}
	if l := FormatLabels(c.Labels); l != "" {
		args = append(args, "--node-labels="+l)
	}
	return args
}

// FormatLabels renders labels as k=v,k=v in key order.
func FormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}
