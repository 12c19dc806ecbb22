package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/bridge"
)

// etcdFlags are the scheduler's etcd flags: where the HA bridges keep their
// state and elect their leader.
type etcdFlags struct {
	list, prefix              string
	caFile, certFile, keyFile string
	lease                     time.Duration
}

func addEtcdFlags(fs *flag.FlagSet) *etcdFlags {
	f := &etcdFlags{}
	fs.StringVar(&f.list, "etcd-endpoints", "", "etcd endpoints, comma-separated (http(s)://host:port): the bridges elect one leader there and keep the framework ID and launch intents; empty: a single bridge with its framework ID in the ConfigMap of --framework-store-namespace/--framework-store-name")
	fs.StringVar(&f.prefix, "etcd-prefix", bridge.DefaultEtcdPrefix, "etcd key prefix of the bridges' state and election")
	fs.StringVar(&f.caFile, "etcd-cafile", "", "CA bundle that verifies etcd's server certificates")
	fs.StringVar(&f.certFile, "etcd-certfile", "", "client certificate for etcd (with --etcd-keyfile)")
	fs.StringVar(&f.keyFile, "etcd-keyfile", "", "client key for etcd")
	fs.DurationVar(&f.lease, "leader-lease", bridge.DefaultLeaseTTL, "etcd lease of the leader: a standby takes over this long after the leader stopped renewing it (whole seconds)")
	return f
}

func (f *etcdFlags) endpoints() []string {
	var out []string
	for _, e := range strings.Split(f.list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// client is an etcd client of the flags' endpoints, with TLS when any of the
// files is given.
func (f *etcdFlags) client(ctx context.Context) (*clientv3.Client, error) {
	var tlsCfg *tls.Config
	if f.caFile != "" || f.certFile != "" || f.keyFile != "" {
		if (f.certFile == "") != (f.keyFile == "") {
			return nil, fmt.Errorf("--etcd-certfile and --etcd-keyfile go together")
		}
		info := transport.TLSInfo{CertFile: f.certFile, KeyFile: f.keyFile, TrustedCAFile: f.caFile}
		c, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		tlsCfg = c
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: f.endpoints(), DialTimeout: 5 * time.Second, TLS: tlsCfg,
		Logger: zap.NewNop(), Context: ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client of %s: %w", f.list, err)
	}
	return cli, nil
}

// serveMetrics serves reg's metrics on http://addr/metrics, /healthz (the
// process answers) and /readyz (ready()) until stop is called, and returns
// the address it listens on; it fails at once when addr cannot be listened on.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, ready func() (bool, string)) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, why := ready(); !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.FromContext(ctx).Error(err, "Metrics server", "address", addr)
		}
	}()
	klog.FromContext(ctx).Info("Serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
