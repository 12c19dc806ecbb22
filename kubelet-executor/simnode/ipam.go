package simnode

import (
	"errors"
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// ErrPodCIDRFull is returned when every address of the pod CIDR is taken.
var ErrPodCIDRFull = errors.New("no free address in the pod CIDR")

// podIPs hands out pod addresses from a CIDR as host-local IPAM does: the
// network address and the first address (the bridge's gateway) are never
// given, nor the broadcast address of an IPv4 range. Not safe for concurrent
// use.
type podIPs struct {
	prefix netip.Prefix
	byUID  map[types.UID]netip.Addr
	used   map[netip.Addr]types.UID
	next   netip.Addr
}

// newPodIPs parses cidr; an empty cidr gives an allocator without addresses
// (pods are reported without an IP).
func newPodIPs(cidr string) (*podIPs, error) {
	a := &podIPs{byUID: map[types.UID]netip.Addr{}, used: map[netip.Addr]types.UID{}}
	if cidr == "" {
		return a, nil
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	a.prefix = p.Masked()
	a.next = a.first()
	return a, nil
}

func (a *podIPs) first() netip.Addr { return a.prefix.Addr().Next().Next() }

// usable reports whether ip may be given to a pod.
func (a *podIPs) usable(ip netip.Addr) bool {
	if !a.prefix.Contains(ip) || ip.Less(a.first()) {
		return false
	}
	if ip.Is4() && !a.prefix.Contains(ip.Next()) {
		return false // the IPv4 broadcast address
	}
	return true
}

// get returns uid's address, taking the next free one the first time; ok is
// false when the allocator has no CIDR.
func (a *podIPs) get(uid types.UID) (netip.Addr, bool, error) {
	if !a.prefix.IsValid() {
		return netip.Addr{}, false, nil
	}
	if ip, ok := a.byUID[uid]; ok {
		return ip, true, nil
	}
	start := a.next
	for ip := start; ; {
		if _, taken := a.used[ip]; !taken && a.usable(ip) {
			a.byUID[uid], a.used[ip] = ip, uid
			a.next = ip.Next()
			return ip, true, nil
		}
		ip = ip.Next()
		if !ip.IsValid() || !a.prefix.Contains(ip) {
			ip = a.first()
		}
		if ip == start {
			return netip.Addr{}, false, fmt.Errorf("%w %s", ErrPodCIDRFull, a.prefix)
		}
	}
}

// keep records an address a pod already has (a pod this node reported
// before the executor restarted); addresses outside the CIDR or held by
// another pod are ignored.
func (a *podIPs) keep(uid types.UID, ip netip.Addr) {
	if !a.prefix.IsValid() || !a.usable(ip) {
		return
	}
	if _, taken := a.used[ip]; taken {
		return
	}
	if _, has := a.byUID[uid]; has {
		return
	}
	a.byUID[uid], a.used[ip] = ip, uid
}

// release frees uid's address.
func (a *podIPs) release(uid types.UID) {
	if ip, ok := a.byUID[uid]; ok {
		delete(a.byUID, uid)
		delete(a.used, ip)
	}
}
