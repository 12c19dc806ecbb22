package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/klog/v2"
)

// Network is the addressing of the dev cluster's hosts.
type Network struct {
	// Bridge is the Linux bridge on the machine the hosts are wired to.
	Bridge string
	// Gateway is the machine's address on the bridge, with the hosts' prefix.
	Gateway netip.Prefix
	// PodCIDRs holds every host's pod CIDR: host i gets the i-th /24 in it.
	PodCIDRs netip.Prefix
	// ServiceCIDR is the cluster's ClusterIP range; when set, SetupSwitch
	// keeps it on the machine too (see FloorRoute).
	ServiceCIDR netip.Prefix
}

// DefaultNetwork is km0 with 10.200.0.1/24, pod CIDRs in 10.244.0.0/16 and
// Services in 10.96.0.0/16.
func DefaultNetwork() Network {
	return Network{
		Bridge:      "km0",
		Gateway:     netip.MustParsePrefix("10.200.0.1/24"),
		PodCIDRs:    netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
	}
}

// HostIP is the address of host i (1-based): the gateway's network + 10 + i.
func (n Network) HostIP(i int) netip.Addr {
	b := n.Gateway.Masked().Addr().As4()
	b[3] += byte(10 + i)
	return netip.AddrFrom4(b)
}

// PodCIDR is host i's pod CIDR: 10.244.i.0/24 in the default network.
func (n Network) PodCIDR(i int) netip.Prefix {
	b := n.PodCIDRs.Masked().Addr().As4()
	b[2] += byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

func (n Network) validate(i int) error {
	if n.Bridge == "" || !n.Gateway.IsValid() || !n.PodCIDRs.IsValid() {
		return fmt.Errorf("node: incomplete network %+v", n)
	}
	if len(n.Bridge) > 11 {
		// Host veths are named <bridge>v<index>, within the 15-byte limit.
		return fmt.Errorf("node: bridge name %q longer than 11 bytes", n.Bridge)
	}
	if i < 1 || i > 200 {
		return fmt.Errorf("node: host index %d out of range 1..200", i)
	}
	return nil
}

// HostSysctls are the machine-wide settings the dev cluster changes:
// ip_forward (SetupSwitch) and the three the kubelet sets at start.
var HostSysctls = []string{
	"net.ipv4.ip_forward",
	"vm.overcommit_memory",
	"kernel.panic",
	"kernel.panic_on_oops",
}

// SwitchState is what TeardownSwitch needs to undo SetupSwitch.
type SwitchState struct {
	Bridge  string `json:"bridge"`
	Gateway string `json:"gateway"`
	// Sysctls holds the values HostSysctls had before SetupSwitch.
	Sysctls map[string]string `json:"sysctls"`
	// FirewallRule is the iptables FORWARD rule (without -A/-D) that keeps the
	// hosts' traffic on the bridge; empty when none was added.
	FirewallRule []string `json:"firewallRule,omitempty"`
	// Routes are the floor routes that keep the cluster's ranges on the
	// machine.
	Routes []FloorRoute `json:"routes,omitempty"`
}

// SetupSwitch records HostSysctls, gives every cluster range an
// `unreachable` floor route (FloorRoute), creates the bridge with the
// gateway address (or reuses it), enables IP forwarding and keeps forwarded
// traffic from the bridge on the bridge, so the hosts reach each other and
// the machine but nothing beyond it, and no packet for a cluster address
// takes the machine's default route. The returned state is complete even when
// an error is returned, so TeardownSwitch can undo a partial setup.
func SetupSwitch(ctx context.Context, n Network) (SwitchState, error) {
	st := SwitchState{Bridge: n.Bridge, Gateway: n.Gateway.String()}
	unlock, err := lockSwitches()
	if err != nil {
		return st, err
	}
	defer unlock()
	if st.Sysctls, err = registerSwitch(ctx, n.Bridge); err != nil {
		return st, err
	}
	// The floor routes come first and are recorded before they exist, so
	// that nothing for the cluster's ranges leaves the machine at any time
	// and a crash half-way leaves nothing unrecorded.
	if st.Routes, err = planFloorRoutes(ctx, n); err != nil {
		return st, err
	}
	if err := writeRegistryEntry(n.Bridge, registryEntry{Routes: st.Routes}); err != nil {
		return st, err
	}
	if err := addFloorRoutes(ctx, st.Routes); err != nil {
		return st, err
	}
	if !linkExists(n.Bridge) {
		if err := run(ctx, "ip", "link", "add", n.Bridge, "type", "bridge"); err != nil {
			return st, err
		}
	}
	if err := run(ctx, "ip", "addr", "replace", n.Gateway.String(), "dev", n.Bridge); err != nil {
		return st, err
	}
	if err := run(ctx, "ip", "link", "set", n.Bridge, "up"); err != nil {
		return st, err
	}
	if err := WriteSysctl("net.ipv4.ip_forward", "1"); err != nil {
		return st, err
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		klog.FromContext(ctx).Info("No iptables: traffic forwarded from the hosts is not confined to the bridge", "bridge", n.Bridge)
		return st, nil
	}
	rule := []string{"FORWARD", "-i", n.Bridge, "!", "-o", n.Bridge, "-m", "comment", "--comment", "kubemesos: hosts stay on " + n.Bridge, "-j", "DROP"}
	if run(ctx, "iptables", append([]string{"-w", "-C"}, rule...)...) != nil {
		if err := run(ctx, "iptables", append([]string{"-w", "-I"}, rule...)...); err != nil {
			return st, err
		}
	}
	st.FirewallRule = rule
	klog.FromContext(ctx).V(1).Info("Switch up", "bridge", n.Bridge, "gateway", n.Gateway)
	return st, nil
}

// TeardownSwitch removes the firewall rule, the bridge and the floor routes
// and restores the recorded sysctls. It does nothing that is already undone.
func TeardownSwitch(ctx context.Context, st SwitchState) (err error) {
	var errs []error
	// The registry knows the routes of a setup that crashed before its state
	// was saved.
	routes := st.Routes
	if st.Bridge != "" {
		routes = append(routes, readRegistryEntry(st.Bridge).Routes...)
	}
	defer func() {
		// Last: while the bridge and the hosts' routes go, the floor keeps
		// the ranges on the machine.
		err = errors.Join(err, deleteFloorRoutes(ctx, routes))
	}()
	if len(st.FirewallRule) > 0 {
		for run(ctx, "iptables", append([]string{"-w", "-C"}, st.FirewallRule...)...) == nil {
			if err := run(ctx, "iptables", append([]string{"-w", "-D"}, st.FirewallRule...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	if st.Bridge != "" && linkExists(st.Bridge) {
		if err := run(ctx, "ip", "link", "del", st.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	unlock, err := lockSwitches()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer unlock()
	if others := unregisterSwitch(ctx, st.Bridge); len(others) > 0 {
		// The sysctls are machine-wide: the last switch restores them.
		klog.FromContext(ctx).V(1).Info("Other switches are up; sysctls stay", "others", others)
		return errors.Join(errs...)
	}
	for _, k := range HostSysctls {
		v, ok := st.Sysctls[k]
		if !ok {
			continue
		}
		if cur, err := ReadSysctl(k); err == nil && cur == v {
			continue
		}
		if err := WriteSysctl(k, v); err != nil {
			errs = append(errs, err)
		} else {
			klog.FromContext(ctx).V(1).Info("Restored sysctl", "key", k, "value", v)
		}
	}
	return errors.Join(errs...)
}

// SwitchRegistry records the switches that are up on the machine and the
// values HostSysctls had before the first of them, so that clusters that
// overlap in time (tests running in parallel) restore the true originals.
const SwitchRegistry = "/run/kubemesos-switches"

const originalsFile = "sysctls.json"

// lockSwitches takes the machine-wide lock of the registry.
func lockSwitches() (func(), error) {
	if err := os.MkdirAll(SwitchRegistry, 0o755); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(SwitchRegistry, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("node: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// registerSwitch records bridge as up and returns the original sysctls:
// recorded now when no other switch is up, else those the first recorded.
func registerSwitch(ctx context.Context, bridge string) (map[string]string, error) {
	orig := map[string]string{}
	path := filepath.Join(SwitchRegistry, originalsFile)
	b, err := os.ReadFile(path)
	if err == nil && len(liveSwitches(ctx, bridge)) > 0 && json.Unmarshal(b, &orig) == nil && len(orig) == len(HostSysctls) {
		// Another switch is up: its originals are the machine's.
	} else {
		orig = map[string]string{}
		for _, k := range HostSysctls {
			v, err := ReadSysctl(k)
			if err != nil {
				return nil, err
			}
			orig[k] = v
		}
		b, _ := json.Marshal(orig)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if err := writeRegistryEntry(bridge, readRegistryEntry(bridge)); err != nil {
		return nil, err
	}
	return orig, nil
}

// unregisterSwitch forgets bridge and returns the other switches still up.
func unregisterSwitch(ctx context.Context, bridge string) []string {
	if bridge != "" {
		_ = os.Remove(filepath.Join(SwitchRegistry, bridge))
	}
	others := liveSwitches(ctx, bridge)
	if len(others) == 0 {
		_ = os.RemoveAll(SwitchRegistry)
	}
	return others
}

// liveSwitches lists the registered switches other than except whose bridge
// exists; entries of bridges gone (a crash) are dropped with their routes.
func liveSwitches(ctx context.Context, except string) []string {
	ents, err := os.ReadDir(SwitchRegistry)
	if err != nil {
		return nil
	}
	var live []string
	for _, e := range ents {
		name := e.Name()
		if name == originalsFile || strings.HasPrefix(name, ".") || name == except {
			continue
		}
		if linkExists(name) {
			live = append(live, name)
		} else {
			if err := deleteFloorRoutes(ctx, readRegistryEntry(name).Routes); err != nil {
				klog.FromContext(ctx).Error(err, "Removing the routes of a switch that is gone", "bridge", name)
			}
			_ = os.Remove(filepath.Join(SwitchRegistry, name))
		}
	}
	return live
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// ReadSysctl returns the value of a sysctl of this process' namespaces.
func ReadSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return "", fmt.Errorf("node: sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// WriteSysctl sets a sysctl of this process' namespaces.
func WriteSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("node: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// run runs a command and returns its output in the error when it fails.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
