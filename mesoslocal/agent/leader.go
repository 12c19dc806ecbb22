package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/klog/v2"
)

// masterFinder locates the leading master before each registration. It is
// given one of:
//
//   - host:port or http://host:port: that master (a non-leader redirects);
//   - host1:port1,host2:port2,...: the first that answers /master/redirect
//     names the leader;
//   - etcd://host:port[,host:port]/prefix: the leader is the value of the
//     oldest key under <prefix>/leader/ (the masters' election), as Mesos'
//     zk://host:port/path.
type masterFinder struct {
	candidates    []*url.URL
	etcdEndpoints []string
	etcdPrefix    string

	mu  sync.Mutex
	cur *url.URL
	cli *clientv3.Client
}

// parseMasterSpec parses --master; the URL is the first master to try.
func parseMasterSpec(s string) (*url.URL, *masterFinder, error) {
	f := &masterFinder{}
	if rest, ok := strings.CutPrefix(s, "etcd://"); ok {
		hosts, prefix, _ := strings.Cut(rest, "/")
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				f.etcdEndpoints = append(f.etcdEndpoints, "http://"+h)
			}
		}
		if len(f.etcdEndpoints) == 0 {
			return nil, nil, fmt.Errorf("invalid master address %q: no etcd endpoints", s)
		}
		f.etcdPrefix = "/" + strings.Trim(prefix, "/")
		if f.etcdPrefix == "/" {
			f.etcdPrefix = "/mesos"
		}
		return nil, f, nil
	}
	for _, part := range strings.Split(s, ",") {
		u, err := ParseMaster(strings.TrimSpace(part))
		if err != nil {
			return nil, nil, err
		}
		f.candidates = append(f.candidates, u)
	}
	f.cur = f.candidates[0]
	return f.cur, f, nil
}

// current is the base URL of the master believed to lead.
func (f *masterFinder) current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		return ""
	}
	return f.cur.String()
}

func (f *masterFinder) set(u *url.URL) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || f.cur.Host != u.Host {
		klog.InfoS("Leading master found", "master", u.String())
	}
	f.cur = u
}

func (f *masterFinder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cli != nil {
		_ = f.cli.Close()
		f.cli = nil
	}
}

// find looks the leader up and makes it current.
func (f *masterFinder) find(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(f.etcdEndpoints) > 0 {
		return f.findEtcd(ctx)
	}
	if len(f.candidates) == 1 {
		return nil // a lone master redirects by itself
	}
	var errs []error
	for _, c := range f.candidates {
		u, err := askRedirect(ctx, c)
		if err == nil {
			f.set(u)
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no master names a leader: %w", errors.Join(errs...))
}

func (f *masterFinder) findEtcd(ctx context.Context) error {
	f.mu.Lock()
	if f.cli == nil {
		cli, err := clientv3.New(clientv3.Config{Endpoints: f.etcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			f.mu.Unlock()
			return fmt.Errorf("etcd client: %w", err)
		}
		f.cli = cli
	}
	cli := f.cli
	f.mu.Unlock()
	resp, err := cli.Get(ctx, f.etcdPrefix+"/leader/", clientv3.WithFirstCreate()...)
	if err != nil {
		return fmt.Errorf("read leader from etcd: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("no leading master under %s/leader/", f.etcdPrefix)
	}
	u, err := ParseMaster(string(resp.Kvs[0].Value))
	if err != nil {
		return err
	}
	f.set(u)
	return nil
}

// askRedirect asks a master's /master/redirect where the leader is.
func askRedirect(ctx context.Context, base *url.URL) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/master/redirect", nil)
	if err != nil {
		return nil, fmt.Errorf("build redirect request: %w", err)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s for the leader: %w", base.Host, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		return nil, fmt.Errorf("ask %s for the leader: %s", base.Host, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Host == "" {
		return nil, fmt.Errorf("ask %s for the leader: bad Location %q", base.Host, resp.Header.Get("Location"))
	}
	return &url.URL{Scheme: "http", Host: loc.Host}, nil
}

// masterBase is the base URL of the master to talk to.
func (a *Agent) masterBase() string { return a.finder.current() }
