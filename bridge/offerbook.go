package bridge

import (
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// heldOffer is an offer the bridge holds, with when it arrived.
type heldOffer struct {
	offer    mesos.Offer
	received time.Time
}

// OfferBook holds the offers the bridge has received and not yet used, declined
// or seen rescinded. It is not safe for concurrent use: the scheduler loop owns it.
type OfferBook struct {
	offers map[string]heldOffer
}

// NewOfferBook returns an empty book.
func NewOfferBook() *OfferBook { return &OfferBook{offers: map[string]heldOffer{}} }

// Add holds offers received at now.
func (b *OfferBook) Add(now time.Time, offers ...mesos.Offer) {
	for _, o := range offers {
		b.offers[o.ID.Value] = heldOffer{offer: o, received: now}
	}
}

// Remove drops offers (used, declined or rescinded); unknown IDs are ignored.
func (b *OfferBook) Remove(ids ...string) {
	for _, id := range ids {
		delete(b.offers, id)
	}
}

// Len is the number of offers held.
func (b *OfferBook) Len() int { return len(b.offers) }

// Get returns a held offer.
func (b *OfferBook) Get(id string) (mesos.Offer, bool) {
	h, ok := b.offers[id]
	return h.offer, ok
}

// All returns the held offers ordered by ID, so matching is deterministic.
func (b *OfferBook) All() []mesos.Offer {
	out := make([]mesos.Offer, 0, len(b.offers))
	for _, h := range b.offers {
		out = append(out, h.offer)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Value < out[j].ID.Value })
	return out
}

// Expired returns the IDs of offers held longer than ttl at now.
func (b *OfferBook) Expired(now time.Time, ttl time.Duration) []string {
	var ids []string
	for id, h := range b.offers {
		if now.Sub(h.received) >= ttl {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// IDs returns the IDs of all held offers.
func (b *OfferBook) IDs() []string {
	ids := make([]string, 0, len(b.offers))
	for id := range b.offers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
