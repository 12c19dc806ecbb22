package bridge

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func offer(id string) mesos.Offer { return mesos.Offer{ID: mesos.OfferID{Value: id}} }

func TestOfferBookExpiry(t *testing.T) {
	b := NewOfferBook()
	t0 := time.Unix(1000, 0)
	b.Add(t0, offer("b"), offer("a"))
	b.Add(t0.Add(5*time.Second), offer("c"))
	if got := b.Expired(t0.Add(9*time.Second), 10*time.Second); len(got) != 0 {
		t.Fatalf("nothing is 10s old yet, got %v", got)
	}
	got := b.Expired(t0.Add(10*time.Second), 10*time.Second)
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("want [a b], got %v", got)
	}
	b.Remove(got...)
	b.Remove("unknown")
	if b.Len() != 1 {
		t.Fatalf("want 1 left, got %d", b.Len())
	}
	if all := b.All(); len(all) != 1 || all[0].ID.Value != "c" {
		t.Fatalf("want [c], got %v", all)
	}
}
