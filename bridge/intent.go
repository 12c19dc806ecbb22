package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// LaunchIntent is the write-ahead record of a launch (invariant 1): it is
// committed to the framework store before the ACCEPT that launches the task
// is sent, and stays there until the task is known to have ended, so a
// bridge that takes over knows every task that may run and asks Mesos about
// each one before it launches anything.
type LaunchIntent struct {
	Pod      podtask.PodRef `json:"pod"`
	TaskID   string         `json:"taskID"`
	AgentID  string         `json:"agentID"`
	Hostname string         `json:"hostname,omitempty"`
	OfferID  string         `json:"offerID"`
	Written  time.Time      `json:"written"`
	// Confirmed is set once a status of the task arrived: Mesos knows it.
	Confirmed bool `json:"confirmed,omitempty"`
	// Volumes are the persistent volumes the launch provisions (#8): the
	// RESERVE and CREATE of each are in the same ACCEPT as the LAUNCH.
	Volumes []VolumeIntent `json:"volumes,omitempty"`
	// Malformed is set on an intent rebuilt from its key only, because its
	// record could not be read: its pod is treated as launched on an unknown
	// agent until Mesos says otherwise. Never stored.
	Malformed bool `json:"-"`
}

// IntentStore keeps the launch intents. A FrameworkStore that also
// implements it makes the scheduler write an intent before every ACCEPT and
// reconcile every stored one when it starts. Writes of a bridge that is no
// longer the leader fail with an error wrapping ErrDeposed.
type IntentStore interface {
	// Intents returns the stored intents. Records that cannot be read come
	// back as Malformed intents (rebuilt from their key) together with an
	// error wrapping ErrMalformedRecord for each one.
	Intents(ctx context.Context) ([]LaunchIntent, error)
	// ApplyIntents stores put and removes the intents of the tasks (IDs)
	// in remove, all or nothing.
	ApplyIntents(ctx context.Context, put []LaunchIntent, remove []string) error
}

var (
	// ErrDeposed is wrapped by a write refused because this bridge is no
	// longer the leader (its leadership's key is gone or another's).
	ErrDeposed = errors.New("not the leader any more")
	// ErrMalformedRecord is wrapped by errors about a record in the framework
	// store that cannot be decoded.
	ErrMalformedRecord = errors.New("malformed record")
)

// MalformedRecordError names a record of the framework store that cannot be decoded.
type MalformedRecordError struct {
	Key string
	Err error
}

func (e *MalformedRecordError) Error() string {
	return fmt.Sprintf("framework store record %q: %v", e.Key, e.Err)
}

func (e *MalformedRecordError) Unwrap() []error { return []error{ErrMalformedRecord, e.Err} }

// EncodeIntent is an intent's stored form.
func EncodeIntent(in LaunchIntent) ([]byte, error) {
	if err := in.validate(in.TaskID); err != nil {
		return nil, err
	}
	return json.Marshal(in)
}

// DecodeIntent reads the stored intent of the task taskID (which its key
// names), checking that it is whole, of that task and of the task's pod.
func DecodeIntent(taskID string, data []byte) (LaunchIntent, error) {
	var in LaunchIntent
	if err := json.Unmarshal(data, &in); err != nil {
		return LaunchIntent{}, fmt.Errorf("decode launch intent: %w", err)
	}
	if err := in.validate(taskID); err != nil {
		return LaunchIntent{}, err
	}
	return in, nil
}

func (in LaunchIntent) validate(taskID string) error {
	uid, ok := podtask.UIDFromTaskID(taskID)
	switch {
	case !ok:
		return fmt.Errorf("launch intent of %q, which is no pod task", taskID)
	case in.TaskID != taskID:
		return fmt.Errorf("launch intent of task %q stored as that of %q", in.TaskID, taskID)
	case in.Pod.UID != uid:
		return fmt.Errorf("launch intent of task %q names pod %q, not %q", taskID, in.Pod.UID, uid)
	case in.AgentID == "":
		return fmt.Errorf("launch intent of task %q names no agent", taskID)
	}
	for _, v := range in.Volumes {
		if err := v.validate(); err != nil {
			return fmt.Errorf("launch intent of task %q: %w", taskID, err)
		}
		if v.AgentID != in.AgentID {
			return fmt.Errorf("launch intent of task %q on agent %q has a volume on agent %q", taskID, in.AgentID, v.AgentID)
		}
	}
	return nil
}

// intentOp is a change to a stored intent not yet committed.
type intentOp int

const (
	opConfirm intentOp = iota + 1 // rewrite with Confirmed set
	opRemove                      // delete: the task ended
)

// IntentTable is the scheduler's view of the stored intents and the changes
// to them it has yet to commit. It does no I/O: the scheduler loop owns it,
// commits what Changes returns and reports back with Committed.
// Not safe for concurrent use.
type IntentTable struct {
	stored map[types.UID]LaunchIntent
	ops    map[types.UID]intentOp
	// replaced are stored records of earlier launches, by pod, that the
	// record of an adopted task replaces (Adopted), still to delete.
	replaced map[types.UID]string
}

// NewIntentTable is the table of the intents a store holds.
func NewIntentTable(stored []LaunchIntent) *IntentTable {
	t := &IntentTable{stored: map[types.UID]LaunchIntent{}, ops: map[types.UID]intentOp{}, replaced: map[types.UID]string{}}
	for _, in := range stored {
		t.stored[in.Pod.UID] = in
	}
	return t
}

// Get returns the stored intent of a pod.
func (t *IntentTable) Get(uid types.UID) (LaunchIntent, bool) {
	in, ok := t.stored[uid]
	return in, ok
}

// Len is the number of stored intents; Unconfirmed those whose task Mesos
// has not reported yet.
func (t *IntentTable) Len() int { return len(t.stored) }

// Unconfirmed is the number of stored intents no status was heard for.
func (t *IntentTable) Unconfirmed() int {
	n := 0
	for _, in := range t.stored {
		if !in.Confirmed {
			n++
		}
	}
	return n
}

// Each calls f for every stored intent.
func (t *IntentTable) Each(f func(LaunchIntent)) {
	for _, in := range t.stored {
		f(in)
	}
}

// Replaced are the task IDs of the stored intents that intents of new
// launches of the same pods replace: they are removed in the transaction
// that writes the new ones.
func (t *IntentTable) Replaced(ins []LaunchIntent) []string {
	var ids []string
	for _, in := range ins {
		if old, ok := t.stored[in.Pod.UID]; ok && old.TaskID != in.TaskID {
			ids = append(ids, old.TaskID)
		}
		if id, ok := t.replaced[in.Pod.UID]; ok && id != in.TaskID {
			ids = append(ids, id)
		}
	}
	return ids
}

// Adopted replaces the intent of a pod by that of another launch of the pod
// that Mesos reports live (the registry adopted it): the new record is
// written and the old one deleted with the next commit. A pod without an
// intent gets none.
func (t *IntentTable) Adopted(in LaunchIntent) {
	uid := in.Pod.UID
	old, ok := t.stored[uid]
	if !ok || old.TaskID == in.TaskID {
		return
	}
	if _, pending := t.replaced[uid]; !pending {
		t.replaced[uid] = old.TaskID
	}
	in.Confirmed, in.Malformed = false, false
	t.stored[uid] = in
	t.ops[uid] = opConfirm
}

// Written records intents committed before an ACCEPT (with the removal of
// the ones they replace); they replace any change of the same pods still to
// commit (a pod launched again after its earlier task ended).
func (t *IntentTable) Written(ins ...LaunchIntent) {
	for _, in := range ins {
		t.stored[in.Pod.UID] = in
		delete(t.ops, in.Pod.UID)
		delete(t.replaced, in.Pod.UID)
	}
}

// Status notes a status of a pod's task from agentID (may be empty): the
// first one confirms its intent, a terminal one removes it. A status of
// another launch of the pod than the stored one changes nothing.
func (t *IntentTable) Status(taskID string, state mesos.TaskState, agentID string) {
	uid, _ := podtask.UIDFromTaskID(taskID)
	in, ok := t.stored[uid]
	if !ok || in.TaskID != taskID {
		return
	}
	switch {
	case podtask.IsTerminal(state):
		t.ops[uid] = opRemove
	case in.Malformed && agentID != "":
		// Rewrite the unreadable record whole, now that its agent is known.
		in.AgentID, in.Malformed = agentID, false
		t.stored[uid] = in
		t.ops[uid] = opConfirm
	case !in.Confirmed && !in.Malformed && t.ops[uid] == 0:
		t.ops[uid] = opConfirm
	}
}

// Changes are the writes to commit: intents to rewrite as confirmed and
// the task IDs of intents that go.
func (t *IntentTable) Changes() (put []LaunchIntent, remove []string) {
	for uid, op := range t.ops {
		switch op {
		case opConfirm:
			in := t.stored[uid]
			in.Confirmed = true
			put = append(put, in)
		case opRemove:
			remove = append(remove, t.stored[uid].TaskID)
		}
	}
	for _, id := range t.replaced {
		remove = append(remove, id)
	}
	return put, remove
}

// Committed records that the changes put and remove (from Changes) are
// stored. A change made meanwhile (a newer launch written) stays.
func (t *IntentTable) Committed(put []LaunchIntent, remove []string) {
	for _, in := range put {
		if t.ops[in.Pod.UID] == opConfirm && t.stored[in.Pod.UID].TaskID == in.TaskID {
			t.stored[in.Pod.UID] = in
			delete(t.ops, in.Pod.UID)
		}
	}
	for _, id := range remove {
		uid, _ := podtask.UIDFromTaskID(id)
		if t.replaced[uid] == id {
			delete(t.replaced, uid)
		}
		if t.ops[uid] == opRemove && t.stored[uid].TaskID == id {
			delete(t.stored, uid)
			delete(t.ops, uid)
		}
	}
}
