package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/devcluster/pki"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
	"github.com/kubemesos/kubemesos/manifests/rbac"
)

// Defaults of Options.
const (
	DefaultBindAddress  = "127.0.0.1"
	DefaultServiceCIDR  = "10.96.0.0/16"
	DefaultClusterCIDR  = "10.244.0.0/16"
	DefaultStartTimeout = 3 * time.Minute
	// StopGrace is how long each component gets between SIGTERM and SIGKILL.
	StopGrace = 15 * time.Second
)

// Binary names looked up in Options.BinDir.
const (
	EtcdBinary              = "etcd"
	APIServerBinary         = "kube-apiserver"
	ControllerManagerBinary = "kube-controller-manager"
)

// Users of the certificates the control plane issues for itself.
const (
	AdminUser             = "kubemesos-admin"
	APIServerKubeletUser  = "kube-apiserver-kubelet-client"
	ControllerManagerUser = "system:kube-controller-manager"
	frontProxyUser        = "front-proxy-client"
)

// ServiceAccountIssuer is the issuer of service-account tokens.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// Options configure Start.
type Options struct {
	// Dir holds all state, certificates, logs and kubeconfigs. Required.
	Dir string
	// BinDir holds etcd, kube-apiserver and kube-controller-manager.
	// Default: bindir.Default().
	BinDir string
	// BindAddress is the address the API server listens on and advertises;
	// `kubemesos up` passes the host address that agents' network
	// namespaces reach. Default 127.0.0.1. etcd always listens on loopback.
	BindAddress string
	// ControllerManager also runs kube-controller-manager (default
	// ServiceAccounts, EndpointSlices, Deployments, garbage collection, ...).
	ControllerManager bool
	// ServiceCIDR is the ClusterIP range. Default 10.96.0.0/16.
	ServiceCIDR string
	// ClusterCIDR is the pod CIDR of the whole cluster. Default 10.244.0.0/16.
	// The controller-manager does not allocate node CIDRs from it.
	ClusterCIDR string
	// StartTimeout bounds Start. Default 3 minutes.
	StartTimeout time.Duration
	// VerifyKubelets makes the API server verify kubelets' serving
	// certificates against the CA (--kubelet-certificate-authority): every
	// kubelet then needs one the CA signed (CA().IssueServing).
	VerifyKubelets bool
	// APIServerArgs and ControllerManagerArgs are extra flags, appended after
	// the ones Start sets (a repeated flag's last value wins), e.g.
	// "--feature-gates=...".
	APIServerArgs         []string
	ControllerManagerArgs []string
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// URL is the API server's https URL.
	URL string
	// Dir is Options.Dir.
	Dir string
	// AdminKubeconfig is a kubeconfig of a system:masters user.
	AdminKubeconfig string
	// CAFile is the CA that signed the API server's serving certificate
	// (and every client certificate: it is also ClientCAFile).
	CAFile string
	// EtcdURL is etcd's client URL (loopback, plain http).
	EtcdURL string
	// LogDir holds one log file per component.
	LogDir string
	// ServiceCIDR and ClusterCIDR as configured.
	ServiceCIDR string
	ClusterCIDR string

	opts  Options
	ca    *pki.CA
	admin *pki.KeyPair

	life context.Context // processes live under it; never cancelled by Start's caller ending Start

	mu         sync.Mutex
	components []*component // in start order
	stopping   bool

	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{}
}

// state is written to <Dir>/controlplane.json for tools such as `kubemesos down`.
type state struct {
	URL             string         `json:"url"`
	EtcdURL         string         `json:"etcdURL"`
	AdminKubeconfig string         `json:"adminKubeconfig"`
	CAFile          string         `json:"caFile"`
	PIDs            map[string]int `json:"pids"`
}

// StateFile is the name, under Dir, of the JSON file describing the running
// control plane.
const StateFile = "controlplane.json"

// Start starts etcd, kube-apiserver and, when asked, kube-controller-manager,
// waits until the API server is ready (and the default ServiceAccount and
// kube-root-ca.crt exist when the controller-manager runs), and applies the
// RBAC manifests. The control plane is stopped by Stop or when ctx is done.
func Start(ctx context.Context, o Options) (*ControlPlane, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	bins := []string{EtcdBinary, APIServerBinary}
	if o.ControllerManager {
		bins = append(bins, ControllerManagerBinary)
	}
	if err := bindir.Check(o.BinDir, bins...); err != nil {
		return nil, err
	}
	log := klog.FromContext(ctx).WithValues("dir", o.Dir)
	began := time.Now()

	startCtx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	c := &ControlPlane{
		Dir:         o.Dir,
		LogDir:      filepath.Join(o.Dir, "logs"),
		ServiceCIDR: o.ServiceCIDR,
		ClusterCIDR: o.ClusterCIDR,
		opts:        o,
		stopped:     make(chan struct{}),
	}
	if err := c.start(startCtx, ctx); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			log.Error(stopErr, "Stopping a control plane that failed to start")
		}
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			if err := c.Stop(); err != nil {
				log.Error(err, "Stopping control plane after context end")
			}
		case <-c.stopped:
		}
	}()
	log.Info("Control plane ready", "url", c.URL, "controllerManager", o.ControllerManager, "took", time.Since(began).Round(time.Millisecond))
	return c, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("controlplane: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("controlplane: %w", err)
	}
	o.Dir = dir
	if o.BinDir == "" {
		if o.BinDir, err = bindir.Default(); err != nil {
			return o, err
		}
	}
	if o.BindAddress == "" {
		o.BindAddress = DefaultBindAddress
	}
	if net.ParseIP(o.BindAddress) == nil {
		return o, fmt.Errorf("controlplane: bind address %q is not an IP address", o.BindAddress)
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = DefaultClusterCIDR
	}
	for _, cidr := range []string{o.ServiceCIDR, o.ClusterCIDR} {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return o, fmt.Errorf("controlplane: %w", err)
		}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o, nil
}

// KubernetesServiceIP is the first address of the service CIDR, the
// ClusterIP of the `kubernetes` Service.
func KubernetesServiceIP(serviceCIDR string) (net.IP, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return nil, fmt.Errorf("service CIDR: %w", err)
	}
	return net.IP(p.Masked().Addr().Next().AsSlice()), nil
}

// start brings the components up. startCtx bounds the waiting; life is the
// context the processes live under (they are stopped by Stop, in order).
func (c *ControlPlane) start(startCtx, life context.Context) error {
	o := c.opts
	life = context.WithoutCancel(life)
	c.life = life
	pkiDir := filepath.Join(o.Dir, "pki")
	ca, err := pki.LoadOrCreateCA(pkiDir, "kubemesos-ca")
	if err != nil {
		return fmt.Errorf("controlplane CA: %w", err)
	}
	c.ca = ca
	c.CAFile = ca.CertFile
	sa, err := pki.NewServiceAccountKey(pkiDir)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	svcIP, err := KubernetesServiceIP(o.ServiceCIDR)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	dnsNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" && hostname != "localhost" {
		dnsNames = append(dnsNames, hostname)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, svcIP}
	if bind := net.ParseIP(o.BindAddress); !bind.IsUnspecified() && !bind.IsLoopback() {
		ips = append(ips, bind)
	}
	serving, err := ca.IssueServing("kube-apiserver", dnsNames, ips)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if c.admin, err = ca.IssueClientAs("admin", AdminUser, []string{"system:masters"}); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	kubeletClient, err := ca.IssueClientAs("apiserver-kubelet-client", APIServerKubeletUser, []string{"system:masters"})
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}

	if err := c.startEtcd(startCtx, life); err != nil {
		return err
	}
	// The aggregation layer's front proxy has a CA of its own, so a client
	// certificate from the main CA can never pass as the proxy.
	frontProxyCA, err := pki.LoadOrCreateCA(filepath.Join(pkiDir, "front-proxy"), "kubemesos-front-proxy-ca")
	if err != nil {
		return fmt.Errorf("controlplane front-proxy CA: %w", err)
	}
	frontProxy, err := frontProxyCA.IssueClient(frontProxyUser, nil)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if err := c.startAPIServer(startCtx, life, serving, kubeletClient, sa, frontProxyCA, frontProxy); err != nil {
		return err
	}
	c.AdminKubeconfig = filepath.Join(o.Dir, "kubeconfigs", "admin.kubeconfig")
	if err := pki.WriteKubeconfig(c.AdminKubeconfig, c.URL, ca, c.admin); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	client := c.Client()
	if err := retry(startCtx, "apply RBAC manifests", func() error { return rbac.Apply(startCtx, client) }); err != nil {
		return err
	}
	if o.ControllerManager {
		if err := c.startControllerManager(startCtx, life, sa); err != nil {
			return err
		}
	}
	return c.writeState()
}

func (c *ControlPlane) startEtcd(ctx, life context.Context) error {
	dataDir := filepath.Join(c.opts.Dir, "etcd")
	return c.startWithPorts(ctx, "etcd", func() (proc.Spec, func(context.Context) error, error) {
		client, err := freePort("127.0.0.1")
		if err != nil {
			return proc.Spec{}, nil, err
		}
		peer, err := freePort("127.0.0.1")
		if err != nil {
			return proc.Spec{}, nil, err
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		spec := proc.Spec{
			Name: "etcd",
			Path: filepath.Join(c.opts.BinDir, EtcdBinary),
			Args: []string{
				"--name=default",
				"--data-dir=" + dataDir,
				"--listen-client-urls=" + clientURL,
				"--advertise-client-urls=" + clientURL,
				"--listen-peer-urls=" + peerURL,
				"--initial-advertise-peer-urls=" + peerURL,
				"--initial-cluster=default=" + peerURL,
				"--initial-cluster-state=new",
				// A dev cluster trades durability across host crashes for speed.
				"--unsafe-no-fsync",
				"--log-level=warn",
			},
			LogFile: filepath.Join(c.LogDir, "etcd.log"),
		}
		ready := func(ctx context.Context) error {
			c.EtcdURL = clientURL
			return waitHTTP(ctx, http.DefaultClient, clientURL+"/health", `"health":"true"`)
		}
		return spec, ready, nil
	}, life)
}

func (c *ControlPlane) startAPIServer(ctx, life context.Context, serving, kubeletClient *pki.KeyPair, sa *pki.ServiceAccountKey, frontProxyCA *pki.CA, frontProxy *pki.KeyPair) error {
	o := c.opts
	return c.startWithPorts(ctx, "kube-apiserver", func() (proc.Spec, func(context.Context) error, error) {
		port, err := freePort(o.BindAddress)
		if err != nil {
			return proc.Spec{}, nil, err
		}
		host := o.BindAddress
		if net.ParseIP(host).IsUnspecified() {
			host = "127.0.0.1"
		}
		args := []string{
			"--etcd-servers=" + c.EtcdURL,
			"--bind-address=" + o.BindAddress,
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + serving.CertFile,
			"--tls-private-key-file=" + serving.KeyFile,
			"--client-ca-file=" + c.ca.CertFile,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--kubelet-client-certificate=" + kubeletClient.CertFile,
			"--kubelet-client-key=" + kubeletClient.KeyFile,
			"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
			"--service-account-issuer=" + ServiceAccountIssuer,
			"--service-account-key-file=" + sa.PublicKeyFile,
			"--service-account-signing-key-file=" + sa.PrivateKeyFile,
			"--service-cluster-ip-range=" + o.ServiceCIDR,
			"--allow-privileged=true",
			// Aggregation layer: lets extension API servers and the
			// controller-manager's delegated authentication trust the proxy.
			"--requestheader-client-ca-file=" + frontProxyCA.CertFile,
			"--requestheader-allowed-names=" + frontProxyUser,
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + frontProxy.CertFile,
			"--proxy-client-key-file=" + frontProxy.KeyFile,
			// Webhooks, CRD conversion webhooks and aggregated API servers
			// are called at their Services' endpoints (pod IPs, routed to
			// the hosts), not at ClusterIPs: no kube-proxy serves the Service
			// CIDR where the API server runs (docs/networking.md).
			"--enable-aggregator-routing=true",
			"--profiling=false",
			"--v=1",
		}
		switch bind := net.ParseIP(o.BindAddress); {
		case bind.IsLoopback():
			// The `kubernetes` Service cannot have a loopback endpoint (pods
			// could not reach it anyway): keep the reconciler from retrying.
			args = append(args, "--advertise-address="+o.BindAddress, "--endpoint-reconciler-type=none")
		case !bind.IsUnspecified():
			args = append(args, "--advertise-address="+o.BindAddress)
		}
		if o.VerifyKubelets {
			args = append(args, "--kubelet-certificate-authority="+c.ca.CertFile)
		}
		args = append(args, o.APIServerArgs...)
		spec := proc.Spec{
			Name:    "kube-apiserver",
			Path:    filepath.Join(o.BinDir, APIServerBinary),
			Args:    args,
			Dir:     o.Dir,
			LogFile: filepath.Join(c.LogDir, "kube-apiserver.log"),
		}
		ready := func(ctx context.Context) error {
			c.URL = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
			hc, err := rest.HTTPClientFor(c.RESTConfig())
			if err != nil {
				return fmt.Errorf("API server client: %w", err)
			}
			return waitHTTP(ctx, hc, c.URL+"/readyz", "ok")
		}
		return spec, ready, nil
	}, life)
}

func (c *ControlPlane) startControllerManager(ctx, life context.Context, sa *pki.ServiceAccountKey) error {
	o := c.opts
	cert, err := c.ca.IssueClientAs("controller-manager", ControllerManagerUser, nil)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	kubeconfig := filepath.Join(o.Dir, "kubeconfigs", "controller-manager.kubeconfig")
	if err := pki.WriteKubeconfig(kubeconfig, c.URL, c.ca, cert); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	err = c.startWithPorts(ctx, "kube-controller-manager", func() (proc.Spec, func(context.Context) error, error) {
		port, err := freePort("127.0.0.1")
		if err != nil {
			return proc.Spec{}, nil, err
		}
		spec := proc.Spec{
			Name: "kube-controller-manager",
			Path: filepath.Join(o.BinDir, ControllerManagerBinary),
			Args: append([]string{
				"--kubeconfig=" + kubeconfig,
				"--authentication-kubeconfig=" + kubeconfig,
				"--authorization-kubeconfig=" + kubeconfig,
				"--bind-address=127.0.0.1",
				"--secure-port=" + strconv.Itoa(port),
				"--cert-dir=" + filepath.Join(o.Dir, "controller-manager"),
				"--use-service-account-credentials=true",
				"--service-account-private-key-file=" + sa.PrivateKeyFile,
				"--root-ca-file=" + c.ca.CertFile,
				"--cluster-signing-cert-file=" + c.ca.CertFile,
				"--cluster-signing-key-file=" + c.ca.KeyFile,
				"--allocate-node-cidrs=false",
				"--cluster-cidr=" + o.ClusterCIDR,
				"--service-cluster-ip-range=" + o.ServiceCIDR,
				"--leader-elect=false",
				"--controllers=*",
				"--profiling=false",
				"--v=1",
			}, o.ControllerManagerArgs...),
			Dir:     o.Dir,
			LogFile: filepath.Join(c.LogDir, "kube-controller-manager.log"),
		}
		// Ready once it did its first jobs in the default namespace: the
		// default ServiceAccount and the root CA config map that every
		// pod's projected token volume needs.
		ready := func(ctx context.Context) error {
			client := c.Client()
			return poll(ctx, "default ServiceAccount and kube-root-ca.crt", func() (bool, error) {
				if _, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{}); err != nil {
					return false, nil //nolint:nilerr // not there yet
				}
				_, err := client.CoreV1().ConfigMaps(metav1.NamespaceDefault).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
				return err == nil, nil
			})
		}
		return spec, ready, nil
	}, life)
	return err
}

// component is one process of the control plane, with what it takes to start
// it again.
type component struct {
	name  string
	spec  proc.Spec
	ready func(context.Context) error
	p     *proc.Process
}

// startWithPorts starts a component and waits for ready. A component that
// exits before it is ready is started again on fresh ports (another process
// may have taken a port between picking and binding), up to three times.
func (c *ControlPlane) startWithPorts(ctx context.Context, name string, prepare func() (proc.Spec, func(context.Context) error, error), life context.Context) error {
	log := klog.FromContext(ctx)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		spec, ready, err := prepare()
		if err != nil {
			return fmt.Errorf("controlplane %s: %w", name, err)
		}
		comp := &component{name: name, spec: spec, ready: ready}
		c.mu.Lock()
		c.components = append(c.components, comp)
		c.mu.Unlock()
		err = c.run(ctx, life, comp)
		if err == nil || !errors.Is(err, proc.ErrExitedEarly) {
			return err
		}
		lastErr = err
		log.Info("Component exited before it was ready; retrying on fresh ports", "name", name, "attempt", attempt, "err", comp.p.Err())
		c.mu.Lock()
		for i, q := range c.components {
			if q == comp {
				c.components = append(c.components[:i], c.components[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
	}
	return lastErr
}

// run starts comp's process and waits until it is ready or exits.
func (c *ControlPlane) run(ctx, life context.Context, comp *component) error {
	began := time.Now()
	p, err := proc.Start(life, comp.spec)
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	c.mu.Lock()
	comp.p = p
	c.mu.Unlock()

	readyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyErr := make(chan error, 1)
	go func() { readyErr <- comp.ready(readyCtx) }()
	select {
	case err = <-readyErr:
		if err != nil {
			return fmt.Errorf("controlplane %s: %w\n%s", comp.name, err, logTail(comp.spec.LogFile))
		}
		klog.FromContext(ctx).V(1).Info("Component ready", "name", comp.name, "pid", p.PID(), "took", time.Since(began).Round(time.Millisecond))
		return nil
	case <-p.Exited():
		cancel()
		<-readyErr
		return fmt.Errorf("controlplane %s: %w before it was ready (%v); log %s:\n%s", comp.name, proc.ErrExitedEarly, p.Err(), comp.spec.LogFile, logTail(comp.spec.LogFile))
	}
}

func (c *ControlPlane) component(name string) (*component, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, ErrStopped
	}
	for _, comp := range c.components {
		if comp.name == name {
			return comp, nil
		}
	}
	return nil, fmt.Errorf("controlplane: no component %q", name)
}

// ErrStopped is returned for components of a control plane being stopped.
var ErrStopped = errors.New("control plane stopped")

// StopComponent stops one component (EtcdBinary, APIServerBinary or
// ControllerManagerBinary), for fault tests: gracefully (SIGTERM, then
// SIGKILL after StopGrace), or with crash a SIGKILL at once. The rest of the
// control plane keeps running; StartComponent brings it back.
func (c *ControlPlane) StopComponent(name string, crash bool) error {
	comp, err := c.component(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := comp.p
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("controlplane: %s is still starting", name)
	}
	if crash {
		if err := p.Signal(syscall.SIGKILL); err != nil {
			return err
		}
		<-p.Exited()
		return nil
	}
	return p.Stop(StopGrace)
}

// StartComponent starts a component stopped by StopComponent (or one that
// died) again, with the same flags, ports and data, and waits until it is
// ready. Clients and kubeconfigs keep working: URLs do not change.
func (c *ControlPlane) StartComponent(ctx context.Context, name string) error {
	comp, err := c.component(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := comp.p
	c.mu.Unlock()
	if p == nil || !exited(p) {
		return fmt.Errorf("controlplane: %s is running or starting", name)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if err := c.run(ctx, c.life, comp); err != nil {
		return err
	}
	return c.writeState()
}

func exited(p *proc.Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

func logTail(path string) string {
	t := proc.Tail(path, 3000)
	if t == "" {
		return "(empty log)"
	}
	return t
}

func (c *ControlPlane) writeState() error {
	s := state{URL: c.URL, EtcdURL: c.EtcdURL, AdminKubeconfig: c.AdminKubeconfig, CAFile: c.CAFile, PIDs: c.PIDs()}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("controlplane state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, StateFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("controlplane state: %w", err)
	}
	return nil
}

// PIDs returns the process ID of each running component by name.
func (c *ControlPlane) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.components))
	for _, comp := range c.components {
		if comp.p != nil && !exited(comp.p) {
			m[comp.name] = comp.p.PID()
		}
	}
	return m
}

// Stop stops the components in reverse start order (controller-manager,
// API server, etcd), each with SIGTERM then SIGKILL after StopGrace. It
// keeps Dir: certificates, kubeconfigs, logs and etcd's data stay. Calling
// it again returns the first result.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		defer close(c.stopped)
		c.mu.Lock()
		c.stopping = true
		var procs []*proc.Process
		for _, comp := range c.components {
			if comp.p != nil {
				procs = append(procs, comp.p)
			}
		}
		c.mu.Unlock()
		var errs []error
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].Stop(StopGrace); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Dir != "" {
			_ = os.Remove(filepath.Join(c.Dir, StateFile))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Stopped is closed once Stop has finished.
func (c *ControlPlane) Stopped() <-chan struct{} { return c.stopped }

// RESTConfig returns a new admin (system:masters) client configuration.
func (c *ControlPlane) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: c.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.ca.CertPEM,
			CertData: c.admin.CertPEM,
			KeyData:  c.admin.KeyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
}

// Client returns a new admin clientset.
func (c *ControlPlane) Client() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(c.RESTConfig())
}

// Kubeconfig issues a client certificate for user in groups and writes a
// kubeconfig with it to <Dir>/kubeconfigs/<name>.kubeconfig; it returns the
// path. The certificate is <Dir>/pki/<name>.crt.
func (c *ControlPlane) Kubeconfig(name, user string, groups ...string) (string, error) {
	if name == "" {
		return "", errors.New("kubeconfig needs a name")
	}
	cert, err := c.ca.IssueClientAs(name, user, groups)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	path := filepath.Join(c.Dir, "kubeconfigs", pki.FileName(name)+".kubeconfig")
	if err := pki.WriteKubeconfig(path, c.URL, c.ca, cert); err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	return path, nil
}

// ClientCAFile is the CA that signs client certificates, the API server's
// kubelet client included: kubelets trust it for authentication.
func (c *ControlPlane) ClientCAFile() string { return c.CAFile }

// CA returns the control plane's CA, to issue further certificates (for
// example kubelet serving certificates).
func (c *ControlPlane) CA() *pki.CA { return c.ca }

// NodeKubeconfig writes a kubeconfig for the kubelet of node nodeName
// (user system:node:<nodeName>, group system:nodes: the Node authorizer and
// NodeRestriction admit it for that node only).
func (c *ControlPlane) NodeKubeconfig(nodeName string) (string, error) {
	return c.Kubeconfig("node-"+nodeName, "system:node:"+nodeName, "system:nodes")
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200 with a body containing want.
func waitHTTP(ctx context.Context, hc *http.Client, url, want string) error {
	var last string
	err := poll(ctx, url, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), want), nil
	})
	if err != nil && last != "" {
		return fmt.Errorf("%w (last answer: %s)", err, last)
	}
	return err
}

// poll calls cond every 100ms until it is true, returns an error, or ctx ends.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// retry calls f every 200ms until it succeeds or ctx ends.
func retry(ctx context.Context, what string, f func() error) error {
	var last error
	err := poll(ctx, what, func() (bool, error) {
		last = f()
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w: %w", err, last)
	}
	return err
}
