package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// DefaultEtcdPrefix is where the bridge keeps its state in etcd.
const DefaultEtcdPrefix = "/kubemesos"

// maxTxnOps is how many operations one etcd transaction carries (etcd's
// default --max-txn-ops is 128; one is the fence).
const maxTxnOps = 100

// EtcdStore keeps the framework state in etcd under a prefix:
//
//	<prefix>/framework        {"frameworkID": "..."}
//	<prefix>/intents/<task>   a LaunchIntent (JSON) of the task with that ID
//	                          (an older bridge's, of task "pod.<uid>": intents/<uid>)
//	<prefix>/leader/...       the leader election (see Election)
//
// It is both the FrameworkStore and the IntentStore of the HA bridge. A store
// from NewEtcdStore reads; every write fails until it is fenced by a
// leadership (Fenced): each write is then a transaction that succeeds only
// while that leadership's election key still exists with the revision it
// was created at, so a deposed leader can write nothing.
type EtcdStore struct {
	cli    *clientv3.Client
	prefix string
	fence  []clientv3.Cmp
	term   string // says which leadership fences the writes, for errors
	rev    int64  // the fencing leadership's create revision
}

var (
	_ FrameworkStore = (*EtcdStore)(nil)
	_ IntentStore    = (*EtcdStore)(nil)
	_ EpochSource    = (*EtcdStore)(nil)
)

// NewEtcdStore is the store under prefix (DefaultEtcdPrefix when empty).
func NewEtcdStore(cli *clientv3.Client, prefix string) *EtcdStore {
	return &EtcdStore{cli: cli, prefix: normPrefix(prefix)}
}

func normPrefix(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return DefaultEtcdPrefix
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// Fenced is the store whose writes succeed only while the election key
// leaderKey exists with create revision rev (concurrency.Election's Key()
// and Rev() of a won campaign).
func (s *EtcdStore) Fenced(leaderKey string, rev int64) *EtcdStore {
	f := *s
	f.fence = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", rev)}
	f.term = fmt.Sprintf("%s@%d", leaderKey, rev)
	f.rev = rev
	return &f
}

// LaunchEpoch is the create revision of the fencing leadership's election
// key (0 unfenced): a later leader's is greater, as its key was created
// after the earlier leader's (the oldest key leads).
func (s *EtcdStore) LaunchEpoch() uint64 { return uint64(max(s.rev, 0)) }

func (s *EtcdStore) frameworkKey() string  { return s.prefix + "/framework" }
func (s *EtcdStore) intentsPrefix() string { return s.prefix + "/intents/" }

// intentKey is where the intent of a pod task is stored: under its task ID,
// or, for the older per-pod ID "pod.<uid>", under the pod UID as an older
// bridge stored it (so that its records are found and removed).
func (s *EtcdStore) intentKey(taskID string) string {
	if uid, a, ok := podtask.ParseTaskID(taskID); ok && a.IsZero() {
		return s.intentsPrefix() + string(uid)
	}
	return s.intentsPrefix() + taskID
}

// taskOfIntentKey is the task ID an intent key names (intentKey inverted),
// false for a key that names none.
func (s *EtcdStore) taskOfIntentKey(key string) (string, bool) {
	name := strings.TrimPrefix(key, s.intentsPrefix())
	if name == "" || strings.Contains(name, "/") {
		return "", false
	}
	if _, ok := podtask.UIDFromTaskID(name); ok {
		return name, true
	}
	legacy := podtask.TaskID(types.UID(name), podtask.Attempt{})
	if _, ok := podtask.UIDFromTaskID(legacy); !ok {
		return "", false
	}
	return legacy, true
}

// ElectionPrefix is the etcd prefix the bridges campaign under.
func (s *EtcdStore) ElectionPrefix() string { return s.prefix + "/leader" }

type frameworkRecord struct {
	FrameworkID string `json:"frameworkID"`
}

// Load returns the stored framework ID ("" when none is stored yet).
func (s *EtcdStore) Load(ctx context.Context) (string, error) {
	resp, err := s.cli.Get(ctx, s.frameworkKey())
	if err != nil {
		return "", fmt.Errorf("load framework ID from etcd %s: %w", s.frameworkKey(), err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	var rec frameworkRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		return "", &MalformedRecordError{Key: s.frameworkKey(), Err: err}
	}
	if rec.FrameworkID == "" || strings.ContainsAny(rec.FrameworkID, " \t\r\n/") {
		return "", &MalformedRecordError{Key: s.frameworkKey(), Err: fmt.Errorf("invalid framework ID %q", rec.FrameworkID)}
	}
	return rec.FrameworkID, nil
}

// Save stores the framework ID (a fenced write).
func (s *EtcdStore) Save(ctx context.Context, id string) error {
	b, err := json.Marshal(frameworkRecord{FrameworkID: id})
	if err != nil {
		return err
	}
	if err := s.commit(ctx, []clientv3.Op{clientv3.OpPut(s.frameworkKey(), string(b))}); err != nil {
		return fmt.Errorf("save framework ID: %w", err)
	}
	return nil
}

// Intents returns every stored intent. A record that cannot be read is
// returned as a Malformed intent of the task its key names, so that task's
// pod is still held back, with an error saying which key is wrong.
func (s *EtcdStore) Intents(ctx context.Context) ([]LaunchIntent, error) {
	resp, err := s.cli.Get(ctx, s.intentsPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("load launch intents from etcd %s: %w", s.intentsPrefix(), err)
	}
	out := make([]LaunchIntent, 0, len(resp.Kvs))
	var errs []error
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		taskID, named := s.taskOfIntentKey(key)
		if !named {
			errs = append(errs, &MalformedRecordError{Key: key, Err: errors.New("the key names no pod task")})
			continue
		}
		in, err := DecodeIntent(taskID, kv.Value)
		if err != nil {
			errs = append(errs, &MalformedRecordError{Key: key, Err: err})
			uid, _ := podtask.UIDFromTaskID(taskID)
			in = LaunchIntent{Pod: podtask.PodRef{UID: uid}, TaskID: taskID, Malformed: true}
		}
		out = append(out, in)
	}
	return out, errors.Join(errs...)
}

// ApplyIntents stores put and deletes the intents of the tasks in remove, fenced, in
// transactions of at most maxTxnOps operations (all of a launch's intents
// fit in one: an offer never carries that many pods on this path).
func (s *EtcdStore) ApplyIntents(ctx context.Context, put []LaunchIntent, remove []string) error {
	ops := make([]clientv3.Op, 0, len(put)+len(remove))
	for _, in := range put {
		b, err := EncodeIntent(in)
		if err != nil {
			return fmt.Errorf("store launch intent: %w", err)
		}
		ops = append(ops, clientv3.OpPut(s.intentKey(in.TaskID), string(b)))
	}
	for _, id := range remove {
		ops = append(ops, clientv3.OpDelete(s.intentKey(id)))
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if err := s.commit(ctx, ops[:n]); err != nil {
			return fmt.Errorf("store launch intents: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// commit runs ops in one transaction guarded by the fence.
func (s *EtcdStore) commit(ctx context.Context, ops []clientv3.Op) error {
	if len(s.fence) == 0 {
		return fmt.Errorf("%w: the store is not fenced by a leadership", ErrDeposed)
	}
	resp, err := s.cli.Txn(ctx).If(s.fence...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("etcd transaction: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: leadership %s ended", ErrDeposed, s.term)
	}
	return nil
}
