package bridge

import (
	"errors"
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// The master's events are outside input: the protobuf codec decodes what
// it is sent, and any message field may be missing. The scheduler checks
// what it relies on before it acts on an event (eventError) and keeps only
// the offers it can name (usableOffers); what fails is logged and ignored,
// never a crash.

// eventError says what an event lacks that the scheduler needs, nil if
// nothing.
func eventError(e *scheduler.Event) error {
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		if e.GetSubscribed().GetFrameworkID().GetValue() == "" {
			return errors.New("SUBSCRIBED without a framework ID")
		}
	case scheduler.Event_RESCIND:
		if e.GetRescind() == nil || e.GetRescind().OfferID.Value == "" {
			return errors.New("RESCIND without an offer ID")
		}
	case scheduler.Event_RESCIND_INVERSE_OFFER:
		if e.GetRescindInverseOffer() == nil || e.GetRescindInverseOffer().InverseOfferID.Value == "" {
			return errors.New("RESCIND_INVERSE_OFFER without an inverse offer ID")
		}
	case scheduler.Event_UPDATE:
		if e.GetUpdate() == nil || e.GetUpdate().Status.TaskID.Value == "" {
			return errors.New("UPDATE without a task status")
		}
	}
	return nil
}

// usableOffers are the offers that name themselves and their agent; the
// error lists the others.
func usableOffers(offers []mesos.Offer) ([]mesos.Offer, error) {
	var bad []error
	out := offers[:0:0]
	for _, o := range offers {
		if o.ID.Value == "" || o.AgentID.Value == "" {
			bad = append(bad, fmt.Errorf("offer %q of agent %q: an offer needs both IDs", o.ID.Value, o.AgentID.Value))
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(bad...)
}
