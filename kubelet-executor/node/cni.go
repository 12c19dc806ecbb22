package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kubemesos/kubemesos/internal/atomicfile"
)

// CNIVersion is the CNI spec version of the written configs; containerd 1.6
// and containernetworking-plugins 1.1 both speak it.
const CNIVersion = "0.4.0"

// CNIConfList is the network config of this node's pods: a bridge (the node's
// gateway, no masquerading so pod source IPs survive across nodes),
// host-local IPAM over the node's pod CIDR, and portmap for hostPorts.
func CNIConfList(c Config) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": CNIVersion,
		"name":       "kubemesos",
		"plugins": []any{
			map[string]any{
				"type":      "bridge",
				"bridge":    c.BridgeName(),
				"isGateway": true,
				"ipMasq":    false,
				// Hairpin lets a pod reach itself through a Service IP; the bridge
				// plugin refuses hairpinMode together with promiscMode.
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": c.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": c.IPAMDataDir(),
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// LoopbackConf is the loopback network. containerd's CRI plugin sets up
// loopback itself with the loopback plugin from its bin dir; the file is
// written for runtimes that load every config in the directory.
func LoopbackConf() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": CNIVersion,
		"name":       "lo",
		"type":       "loopback",
	}, "", "  ")
}

// WriteCNIConfig writes the node's conflist (and loopback conf) into
// CNIConfDir and creates the IPAM data dir.
func WriteCNIConfig(c Config) error {
	list, err := CNIConfList(c)
	if err != nil {
		return fmt.Errorf("CNI conflist: %w", err)
	}
	lo, err := LoopbackConf()
	if err != nil {
		return fmt.Errorf("loopback conf: %w", err)
	}
	if err := os.MkdirAll(c.IPAMDataDir(), 0o755); err != nil {
		return fmt.Errorf("IPAM data dir: %w", err)
	}
	if err := atomicfile.Write(c.CNIConfPath(), list, 0o644); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(c.CNIConfDir, "99-loopback.conf"), lo, 0o644)
}
