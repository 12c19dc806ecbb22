package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/proc"
)

// DefaultRunDir is where hosts keep their sockets and runtime state; it is
// short so that socket paths stay under the 108-byte limit.
const DefaultRunDir = "/run/kubemesos"

// DefaultSandboxImage is the pod sandbox image containerd is configured with.
const DefaultSandboxImage = "kubemesos.local/pause:latest"

// Config describes one host.
type Config struct {
	// Name is the host's name ("agent-1"); its network namespace is km-<Name>.
	Name string
	// Index (1..200) picks the host's address and pod CIDR in Network.
	Index int
	// Dir holds the host's files: containerd's root and config, the CNI
	// config directory, the node state directory and logs. Made absolute.
	Dir string
	// RunDir holds sockets and runtime state; default DefaultRunDir/<Name>.
	RunDir string
	// Network is the addressing; the Switch must be up.
	Network Network
	// SandboxImage is containerd's sandbox_image; default DefaultSandboxImage.
	SandboxImage string
	// Containerd is the containerd binary; default "containerd" from PATH.
	Containerd string
	// Runc is the runc binary; default /usr/sbin/runc.
	Runc string
	// CNIBinDir holds the CNI plugins; default /usr/lib/cni.
	CNIBinDir string
}

// State is everything Teardown needs to undo a host, in JSON for state files.
type State struct {
	Name       string `json:"name"`
	NetNS      string `json:"netns"`
	HostVeth   string `json:"hostVeth"`
	Bridge     string `json:"bridge"`
	IP         string `json:"ip"`
	Gateway    string `json:"gateway"`
	PodCIDR    string `json:"podCIDR"`
	Dir        string `json:"dir"`
	RunDir     string `json:"runDir"`
	CgroupRoot string `json:"cgroupRoot"`
	// ContainerdConfig is the path of containerd's config file.
	ContainerdConfig string `json:"containerdConfig"`
	// ContainerdSocket is containerd's gRPC socket path.
	ContainerdSocket string `json:"containerdSocket"`
	// ContainerdPID is the containerd process, 0 before it is started.
	ContainerdPID int `json:"containerdPID,omitempty"`
}

// CRIEndpoint is containerd's CRI endpoint as a URL ("unix:///...").
func (s State) CRIEndpoint() string { return "unix://" + s.ContainerdSocket }

// NetNSPath is the path of the host's network namespace.
func (s State) NetNSPath() string { return filepath.Join(proc.NetNSDir, s.NetNS) }

// CNIConfDir is where containerd reads CNI configs for this host.
func (s State) CNIConfDir() string { return filepath.Join(s.Dir, "cni", "net.d") }

// StateDir is the host's node state directory (kubelet root, pod logs,
// certificates): KUBEMESOS_STATE_DIR.
func (s State) StateDir() string { return filepath.Join(s.Dir, "state") }

// LogDir holds the logs of the host's processes.
func (s State) LogDir() string { return filepath.Join(s.Dir, "logs") }

// Plan returns the State a host with cfg has, without changing anything, so
// that a caller can record it before Create.
func Plan(cfg Config) (State, error) {
	if cfg.Name == "" {
		return State{}, fmt.Errorf("node: host without a name")
	}
	if err := cfg.Network.validate(cfg.Index); err != nil {
		return State{}, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil || cfg.Dir == "" {
		return State{}, fmt.Errorf("node: host %s: bad dir %q: %v", cfg.Name, cfg.Dir, err)
	}
	runDir := cfg.RunDir
	if runDir == "" {
		runDir = filepath.Join(DefaultRunDir, cfg.Name)
	}
	ip := cfg.Network.HostIP(cfg.Index)
	return State{
		Name:             cfg.Name,
		NetNS:            "km-" + cfg.Name,
		HostVeth:         fmt.Sprintf("%sv%d", cfg.Network.Bridge, cfg.Index),
		Bridge:           cfg.Network.Bridge,
		IP:               ip.String(),
		Gateway:          cfg.Network.Gateway.Addr().String(),
		PodCIDR:          cfg.Network.PodCIDR(cfg.Index).String(),
		Dir:              dir,
		RunDir:           runDir,
		CgroupRoot:       "/kubemesos/" + cfg.Name,
		ContainerdConfig: filepath.Join(dir, "containerd", "config.toml"),
		ContainerdSocket: filepath.Join(runDir, "containerd.sock"),
	}, nil
}

// Host is a running host.
type Host struct {
	state      State
	containerd *proc.Process
}

// State returns the host's state, including containerd's PID.
func (h *Host) State() State { return h.state }

// Create sets the host up: network namespace, veth into the bridge, address
// and routes, IP forwarding inside the namespace, cgroup roots, and containerd
// started inside the namespace and answering CRI. On error whatever was set up
// is torn down again. containerd runs until Destroy or until ctx is done.
func Create(ctx context.Context, cfg Config) (*Host, error) {
	st, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	h := &Host{state: st}
	if err := h.create(ctx, cfg); err != nil {
		// Tear down with a fresh context: ctx may be what failed.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if terr := h.Destroy(tctx); terr != nil {
			klog.FromContext(ctx).Error(terr, "Tearing down a partly created host", "host", st.Name)
		}
		return nil, fmt.Errorf("node: create host %s: %w", st.Name, err)
	}
	return h, nil
}

func (h *Host) create(ctx context.Context, cfg Config) error {
	st := h.state
	logger := klog.FromContext(ctx).WithValues("host", st.Name)
	if !linkExists(st.Bridge) {
		return fmt.Errorf("bridge %s is missing (SetupSwitch first)", st.Bridge)
	}
	if _, err := os.Stat(st.NetNSPath()); err == nil {
		return fmt.Errorf("network namespace %s exists already (tear the old cluster down first)", st.NetNS)
	}
	for _, d := range []string{st.Dir, st.RunDir, st.CNIConfDir(), st.StateDir(), st.LogDir(), filepath.Dir(st.ContainerdConfig)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ns := st.NetNS
	gw := cfg.Network.Gateway
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", st.HostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", st.HostVeth, "master", st.Bridge},
		{"ip", "link", "set", st.HostVeth, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", st.IP, gw.Bits()), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", st.Gateway},
		{"ip", "route", "replace", st.PodCIDR, "via", st.IP, "dev", st.Bridge},
		// Forwarding is per network namespace: the host routes its pods' traffic.
		{"nsenter", "--net=" + st.NetNSPath(), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
	}
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	if err := createCgroupRoot(st.CgroupRoot); err != nil {
		return err
	}
	logger.V(1).Info("Host network up", "netns", ns, "ip", st.IP, "podCIDR", st.PodCIDR)

	containerd := cfg.Containerd
	if containerd == "" {
		var err error
		if containerd, err = exec.LookPath("containerd"); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	conf := containerdConfig(st, cfg)
	if err := os.WriteFile(st.ContainerdConfig, []byte(conf), 0o644); err != nil {
		return err
	}
	logFile := filepath.Join(st.LogDir(), "containerd.log")
	p, err := proc.Start(ctx, proc.Spec{
		Name:    "containerd-" + st.Name,
		Path:    containerd,
		Args:    []string{"--config", st.ContainerdConfig},
		LogFile: logFile,
		NetNS:   ns,
	})
	if err != nil {
		return err
	}
	h.containerd = p
	h.state.ContainerdPID = p.PID()
	if err := waitCRI(ctx, st.ContainerdSocket, p, 60*time.Second); err != nil {
		return fmt.Errorf("containerd: %w; log:\n%s", err, proc.Tail(logFile, 2000))
	}
	logger.V(1).Info("containerd ready", "socket", st.ContainerdSocket, "pid", p.PID())
	return nil
}

// Destroy tears the host down (see Teardown), stopping containerd through
// its supervisor.
func (h *Host) Destroy(ctx context.Context) error {
	return teardown(ctx, h.state, h.containerd)
}

// Teardown undoes a host from its recorded state alone, after a crash too:
// it removes every pod sandbox through CRI, stops containerd (by recorded PID,
// only if that process is still this host's containerd) and the shims it left,
// unmounts everything under the host's directories, deletes the route, veth
// and network namespace, removes the cgroup roots and the run directory.
// The host's Dir (logs, containerd root) is left for inspection; its mounts
// are gone.
func Teardown(ctx context.Context, st State) error {
	return teardown(ctx, st, nil)
}

func teardown(ctx context.Context, st State, containerd *proc.Process) error {
	logger := klog.FromContext(ctx).WithValues("host", st.Name)
	var errs []error
	// First whatever else runs on the host (a kubelet would recreate the
	// sandboxes); containerd and its shims stay until the sandboxes are gone.
	keep := map[int]bool{}
	if containerd != nil {
		keep[containerd.PID()] = true
	} else if st.ContainerdPID > 0 {
		keep[st.ContainerdPID] = true
	}
	if shims, err := shimsOf(st.ContainerdSocket); err == nil {
		for _, pid := range shims {
			keep[pid] = true
		}
	}
	if st.NetNS != "" {
		if err := stopNetNSProcs(ctx, st, keep, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if st.ContainerdSocket != "" {
		if n, err := RemoveAllSandboxes(ctx, st.CRIEndpoint()); err != nil {
			// containerd may be gone already (crash); what it left is cleaned below.
			logger.V(1).Info("Could not remove pod sandboxes", "err", err)
		} else if n > 0 {
			logger.V(1).Info("Removed pod sandboxes", "count", n)
		}
	}
	if containerd != nil {
		if err := containerd.Stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	} else if err := stopRecorded(ctx, st.ContainerdPID, st.ContainerdConfig, 15*time.Second); err != nil {
		errs = append(errs, err)
	}
	if st.ContainerdSocket != "" {
		if err := stopShims(ctx, st.ContainerdSocket); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killCgroupProcs(ctx, st.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if st.NetNS != "" {
		if err := stopNetNSProcs(ctx, st, nil, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	runDirClear := true
	for _, d := range []string{st.RunDir, st.Dir} {
		if err := unmountUnder(ctx, d); err != nil {
			errs = append(errs, err)
			runDirClear = runDirClear && d != st.RunDir
		}
	}
	if st.PodCIDR != "" && st.Bridge != "" && linkExists(st.Bridge) {
		if out, err := output(ctx, "ip", "route", "show", st.PodCIDR); err == nil && out != "" {
			if err := run(ctx, "ip", "route", "del", st.PodCIDR); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.HostVeth != "" && linkExists(st.HostVeth) {
		if err := run(ctx, "ip", "link", "del", st.HostVeth); err != nil {
			errs = append(errs, err)
		}
	}
	if st.NetNS != "" {
		if _, err := os.Stat(st.NetNSPath()); err == nil {
			if err := run(ctx, "ip", "netns", "delete", st.NetNS); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := removeCgroupRoot(st.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	// Never remove files through a mount that is still there.
	if st.RunDir != "" && runDirClear {
		if err := os.RemoveAll(st.RunDir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		logger.V(1).Info("Host torn down")
	}
	return errors.Join(errs...)
}
