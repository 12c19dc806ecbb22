package simnode

import (
	"errors"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestPodIPs: addresses come from the CIDR after the gateway, stay with their
// pod, are reused once released, are never the broadcast address, and a full
// CIDR is a clear error.
func TestPodIPs(t *testing.T) {
	a, err := newPodIPs("10.1.2.0/30") // .0 network, .1 gateway, .2 the only pod address, .3 broadcast
	if err != nil {
		t.Fatal(err)
	}
	ip, ok, err := a.get("u1")
	if err != nil || !ok || ip != netip.MustParseAddr("10.1.2.2") {
		t.Fatalf("first = %v %v %v, want 10.1.2.2", ip, ok, err)
	}
	if again, _, _ := a.get("u1"); again != ip {
		t.Errorf("second get for the same pod = %v, want %v", again, ip)
	}
	if _, _, err := a.get("u2"); !errors.Is(err, ErrPodCIDRFull) {
		t.Errorf("get on a full CIDR: %v, want ErrPodCIDRFull", err)
	}
	a.release("u1")
	if ip, _, err := a.get("u2"); err != nil || ip != netip.MustParseAddr("10.1.2.2") {
		t.Errorf("after release = %v %v, want the freed 10.1.2.2", ip, err)
	}
}

// TestPodIPsKeepsAddressesPodsHave: a pod that already shows an address of
// the CIDR (reported before the executor restarted) keeps it, and no other
// pod gets it; addresses outside the CIDR are not taken over.
func TestPodIPsKeepsAddressesPodsHave(t *testing.T) {
	a, err := newPodIPs("10.1.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	a.keep("old", netip.MustParseAddr("10.1.2.2"))
	a.keep("foreign", netip.MustParseAddr("192.168.0.5"))
	if ip, _, _ := a.get("old"); ip != netip.MustParseAddr("10.1.2.2") {
		t.Errorf("kept pod got %v, want 10.1.2.2", ip)
	}
	if ip, _, _ := a.get("new"); ip != netip.MustParseAddr("10.1.2.3") {
		t.Errorf("new pod got %v, want 10.1.2.3 (10.1.2.2 is taken)", ip)
	}
	if ip, _, _ := a.get("foreign"); !netip.MustParsePrefix("10.1.2.0/24").Contains(ip) {
		t.Errorf("pod with a foreign address got %v, want one of the CIDR", ip)
	}
}

// TestPodIPsWithoutCIDR: no CIDR, no addresses; a bad CIDR is an error.
func TestPodIPsWithoutCIDR(t *testing.T) {
	a, err := newPodIPs("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.get(types.UID("u")); ok || err != nil {
		t.Errorf("get without a CIDR = %v %v, want no address and no error", ok, err)
	}
	if _, err := newPodIPs("10.1.2.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}
