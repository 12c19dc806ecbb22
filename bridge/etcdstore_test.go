package bridge_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
	"github.com/kubemesos/kubemesos/podtask"
)

// etcdClient starts a real etcd and returns a client of it, closed when the
// test ends.
func etcdClient(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	endpoint := mesostest.StartEtcd(t)
	return newEtcdClient(t, endpoint), endpoint
}

func newEtcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// campaign wins the election of store with a new session of TTL 1 s and
// returns the store fenced by that leadership, and the session.
func campaign(t *testing.T, cli *clientv3.Client, store *bridge.EtcdStore, who string) (*bridge.EtcdStore, *concurrency.Session) {
	t.Helper()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	el := concurrency.NewElection(s, store.ElectionPrefix())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := el.Campaign(ctx, who); err != nil {
		t.Fatalf("%s campaign: %v", who, err)
	}
	return store.Fenced(el.Key(), el.Rev()), s
}

func intentOf(uid, agent string) bridge.LaunchIntent {
	u := types.UID(uid)
	return bridge.LaunchIntent{
		Pod: podtask.PodRef{Namespace: "default", Name: "p-" + uid, UID: u}, TaskID: podtask.TaskID(u, podtask.Attempt{Epoch: 1, Seq: 1}),
		AgentID: agent, Hostname: "host-" + agent, OfferID: "o-1", Written: time.Now().UTC().Truncate(time.Second),
	}
}

func TestEtcdStoreFrameworkIDAndIntents(t *testing.T) {
	cli, _ := etcdClient(t)
	ctx := t.Context()
	store := bridge.NewEtcdStore(cli, "/test")
	if id, err := store.Load(ctx); err != nil || id != "" {
		t.Fatalf("empty store: Load = %q, %v", id, err)
	}
	if err := store.Save(ctx, "fw-1"); !errors.Is(err, bridge.ErrDeposed) {
		t.Fatalf("Save without a leadership: %v, want ErrDeposed", err)
	}
	leader, _ := campaign(t, cli, store, "a")
	if err := leader.Save(ctx, "fw-1"); err != nil {
		t.Fatal(err)
	}
	if id, err := store.Load(ctx); err != nil || id != "fw-1" {
		t.Fatalf("Load = %q, %v; want fw-1", id, err)
	}
	a, b := intentOf("u-a", "agent-1"), intentOf("u-b", "agent-2")
	if err := leader.ApplyIntents(ctx, []bridge.LaunchIntent{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := store.Intents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], a) || !reflect.DeepEqual(got[1], b) {
		t.Fatalf("Intents = %+v, want %+v and %+v", got, a, b)
	}
	b.Confirmed = true
	if err := leader.ApplyIntents(ctx, []bridge.LaunchIntent{b}, []string{a.TaskID}); err != nil {
		t.Fatal(err)
	}
	got, err = store.Intents(ctx)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], b) {
		t.Fatalf("after confirm+remove: %+v, %v; want only %+v", got, err, b)
	}
	// More operations than one transaction carries.
	var many []bridge.LaunchIntent
	for i := range 250 {
		many = append(many, intentOf("m-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "agent-1"))
	}
	if err := leader.ApplyIntents(ctx, many, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Intents(ctx); err != nil || len(got) != 251 {
		t.Fatalf("after 250 more: %d intents, %v", len(got), err)
	}
	bad := intentOf("u-c", "")
	if err := leader.ApplyIntents(ctx, []bridge.LaunchIntent{bad}, nil); err == nil {
		t.Fatal("an intent without an agent was stored")
	}

	// An older bridge stored its intents under the pod UID, with the
	// per-pod task ID: they are read as such and removed by that ID.
	legacy := intentOf("u-old", "agent-1")
	legacy.TaskID = podtask.TaskID(legacy.Pod.UID, podtask.Attempt{})
	rec, err := bridge.EncodeIntent(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/test/intents/u-old", string(rec)); err != nil {
		t.Fatal(err)
	}
	got, err = store.Intents(ctx)
	if err != nil || !slices.ContainsFunc(got, func(in bridge.LaunchIntent) bool { return reflect.DeepEqual(in, legacy) }) {
		t.Fatalf("an older bridge's intent not read back: %v", err)
	}
	if err := leader.ApplyIntents(ctx, nil, []string{legacy.TaskID}); err != nil {
		t.Fatal(err)
	}
	if resp, err := cli.Get(ctx, "/test/intents/u-old"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("an older bridge's intent not removed: %v %v", resp, err)
	}
}

// TestEtcdStoreFencing: once a leader's lease is gone and another bridge
// leads, every write of the deposed one is refused, whatever it writes.
func TestEtcdStoreFencing(t *testing.T) {
	cli, endpoint := etcdClient(t)
	ctx := t.Context()
	store := bridge.NewEtcdStore(cli, "")
	old, oldSession := campaign(t, cli, store, "old")
	if err := old.ApplyIntents(ctx, []bridge.LaunchIntent{intentOf("u-1", "agent-1")}, nil); err != nil {
		t.Fatal(err)
	}
	// The old leader stops renewing its lease (as when it is partitioned
	// from etcd or frozen); a standby with its own client takes over.
	oldSession.Orphan()
	if _, err := cli.Revoke(ctx, oldSession.Lease()); err != nil {
		t.Fatal(err)
	}
	other := newEtcdClient(t, endpoint)
	next, _ := campaign(t, other, bridge.NewEtcdStore(other, ""), "new")

	err := old.ApplyIntents(ctx, []bridge.LaunchIntent{intentOf("u-2", "agent-1")}, nil)
	if !errors.Is(err, bridge.ErrDeposed) {
		t.Fatalf("deposed leader's intent write: %v, want ErrDeposed", err)
	}
	if err := old.ApplyIntents(ctx, nil, []string{intentOf("u-1", "agent-1").TaskID}); !errors.Is(err, bridge.ErrDeposed) {
		t.Fatalf("deposed leader's intent removal: %v, want ErrDeposed", err)
	}
	if err := old.Save(ctx, "fw-other"); !errors.Is(err, bridge.ErrDeposed) {
		t.Fatalf("deposed leader's framework ID write: %v, want ErrDeposed", err)
	}
	got, err := store.Intents(ctx)
	if err != nil || len(got) != 1 || got[0].Pod.UID != "u-1" {
		t.Fatalf("intents after the deposed leader's writes: %+v, %v; want only u-1", got, err)
	}
	if err := next.ApplyIntents(ctx, []bridge.LaunchIntent{intentOf("u-3", "agent-2")}, nil); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	// The next leader's launch epoch is greater: its task IDs are new.
	if old.LaunchEpoch() == 0 || next.LaunchEpoch() <= old.LaunchEpoch() {
		t.Fatalf("launch epochs: old leader %d, next %d; want the next greater", old.LaunchEpoch(), next.LaunchEpoch())
	}
	if store.LaunchEpoch() != 0 {
		t.Fatalf("an unfenced store has launch epoch %d", store.LaunchEpoch())
	}
}

// TestEtcdStoreMalformedRecords: garbage in etcd is a clear error naming
// the key, never a crash; an unreadable intent still names its pod so the
// pod is held back.
func TestEtcdStoreMalformedRecords(t *testing.T) {
	cli, _ := etcdClient(t)
	ctx := t.Context()
	store := bridge.NewEtcdStore(cli, "/kubemesos")
	good := intentOf("u-good", "agent-1")
	leader, _ := campaign(t, cli, store, "a")
	if err := leader.ApplyIntents(ctx, []bridge.LaunchIntent{good}, nil); err != nil {
		t.Fatal(err)
	}
	for key, val := range map[string]string{
		"/kubemesos/intents/u-garbage":     "{not json",
		"/kubemesos/intents/u-other":       `{"pod":{"uid":"u-else"},"taskID":"pod.u-else","agentID":"a"}`,
		"/kubemesos/intents/u-task":        `{"pod":{"uid":"u-task"},"taskID":"pod.u-wrong","agentID":"a"}`,
		"/kubemesos/intents/a/b":           `{}`,
		"/kubemesos/intents/pod.u-new.4.2": "{not json",
		"/kubemesos/intents/pod.u-new.x":   `{}`,
	} {
		if _, err := cli.Put(ctx, key, val); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.Intents(ctx)
	var me *bridge.MalformedRecordError
	if !errors.Is(err, bridge.ErrMalformedRecord) || !errors.As(err, &me) {
		t.Fatalf("Intents error = %v, want a MalformedRecordError", err)
	}
	for _, key := range []string{"u-garbage", "u-other", "u-task", "intents/a/b", "pod.u-new.4.2", "pod.u-new.x"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name key %s", err, key)
		}
	}
	held := map[types.UID]bool{}
	for _, in := range got {
		held[in.Pod.UID] = true
		// An unreadable record keyed by a pod UID is an older bridge's,
		// of the per-pod task ID; one keyed by a task ID is of that task.
		want := podtask.TaskID(in.Pod.UID, podtask.Attempt{})
		if in.Pod.UID == "u-new" {
			want = "pod.u-new.4.2"
		}
		if in.Pod.UID != good.Pod.UID && (!in.Malformed || in.TaskID != want) {
			t.Errorf("unreadable intent returned as %+v", in)
		}
	}
	if len(got) != 5 || !held["u-good"] || !held["u-garbage"] || !held["u-other"] || !held["u-task"] || !held["u-new"] {
		t.Fatalf("intents %+v: want u-good and the four unreadable ones of single pod tasks", got)
	}

	for _, val := range []string{"", "garbage", `{"frameworkID":""}`, `{"frameworkID":"a b"}`} {
		if _, err := cli.Put(ctx, "/kubemesos/framework", val); err != nil {
			t.Fatal(err)
		}
		id, err := store.Load(ctx)
		if !errors.Is(err, bridge.ErrMalformedRecord) || id != "" || !strings.Contains(err.Error(), "/kubemesos/framework") {
			t.Errorf("Load of %q = %q, %v; want a malformed-record error naming the key", val, id, err)
		}
	}
}
