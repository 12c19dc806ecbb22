package conformance

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ipRoute is what `ip -j route get` says of one destination.
type ipRoute struct {
	Type    string `json:"type"`
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
}

// routeGet asks the kernel how this machine would send a packet to addr.
// A destination with an unreachable route is refused (ip says "No route to
// host").
func routeGet(t *testing.T, addr netip.Addr) (r ipRoute, refused bool) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ip", "-j", "route", "get", addr.String()).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No route to host") || strings.Contains(string(out), "Network is unreachable") {
			return ipRoute{}, true
		}
		t.Fatalf("ip route get %s: %v: %s", addr, err, out)
	}
	var rs []ipRoute
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		t.Fatalf("ip -j route get %s: %q: %v", addr, out, err)
	}
	return rs[0], false
}

// defaultRoute is the machine's default route (gateway and device), if any.
func defaultRoute(t *testing.T) (ipRoute, bool) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ip", "-j", "route", "show", "default").Output()
	if err != nil {
		t.Fatalf("ip route show default: %v", err)
	}
	var rs []ipRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("ip -j route show default: %q: %v", out, err)
	}
	if len(rs) == 0 {
		return ipRoute{}, false
	}
	return rs[0], true
}

// TestClusterRangesStayOnTheHost: while the cluster is up, no packet for an
// address of the cluster's ranges (the Service CIDR, the pod CIDRs, the
// agents' network) would take the machine's default route. Addresses a host
// serves go to the cluster's bridge; the rest are refused on the spot, and a
// connect to a ClusterIP from the machine fails at once with "no route to
// host" instead of leaving through the default gateway.
func TestClusterRangesStayOnTheHost(t *testing.T) {
	if !cluster.local {
		t.Skip("the routes of a cluster this suite did not bring up are its operator's")
	}
	n := cluster.network
	def, hasDefault := defaultRoute(t)
	host := cluster.hosts[0]
	hostPods := netip.MustParsePrefix(host.PodCIDR)

	// last is the address before p's broadcast address, outside every
	// host's address and pod CIDR.
	last := func(p netip.Prefix) netip.Addr {
		b := p.Masked().Addr().As4()
		bits := 32 - p.Bits()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v |= (1<<bits - 1) - 1 // the last address before broadcast
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	cases := []struct {
		name   string
		addr   netip.Addr
		served bool // routed to a host over the bridge; else refused
	}{
		{"a ClusterIP", n.ServiceCIDR.Addr().Next().Next().Next(), false},
		{"the last ClusterIP", last(n.ServiceCIDR), false},
		{"a pod IP of " + host.Name, hostPods.Addr().Next().Next(), true},
		{"a pod IP of no host", last(n.PodCIDRs), false},
		{"the address of " + host.Name, netip.MustParseAddr(host.IP), true},
		{"an agents'-network address of no host", last(n.Gateway.Masked()), true},
	}
	for _, tc := range cases {
		r, refused := routeGet(t, tc.addr)
		if hasDefault && !refused && r.Gateway == def.Gateway && r.Dev == def.Dev {
			t.Errorf("%s (%s) takes the default route: %+v", tc.name, tc.addr, r)
			continue
		}
		switch {
		case tc.served && (refused || r.Dev != n.Bridge):
			t.Errorf("%s (%s): want a route over %s, got %+v (refused %v)", tc.name, tc.addr, n.Bridge, r, refused)
		case !tc.served && !refused:
			t.Errorf("%s (%s): want it refused (unreachable), got %+v", tc.name, tc.addr, r)
		}
	}

	// A connect from the machine to a ClusterIP fails at once.
	start := time.Now()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(cases[0].addr.String(), "443"), 5*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("connected to %s from the machine", cases[0].addr)
	}
	if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("connect to ClusterIP %s: %v, want no route to host", cases[0].addr, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("connect to ClusterIP %s took %v before failing", cases[0].addr, took)
	}
}
