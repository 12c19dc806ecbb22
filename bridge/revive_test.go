package bridge_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
)

// masterCounters reads the REVIVE and DECLINE calls the master has had
// (Mesos' metrics master/messages_revive_offers and _decline_offers).
func (c *testCluster) masterCounters(t *testing.T) (revives, declines int) {
	t.Helper()
	resp, err := http.Get("http://" + c.masters[0].addr + "/metrics/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return int(m["master/messages_revive_offers"]), int(m["master/messages_decline_offers"])
}

// TestUnplaceablePodDoesNotUndoDeclines: while a pod fits nowhere and nothing
// changes, the bridge does not REVIVE (which would clear its decline filters)
// and the master does not offer the declined agent again within the filter;
// a new pod is revived for once, and placed.
func TestUnplaceablePodDoesNotUndoDeclines(t *testing.T) {
	const refuse = 15 * time.Second
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) { p.DeclineFor = refuse }, "cpus:2;mem:2048")
	ctx := t.Context()
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod("huge", "64", "256Mi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the agent's offer declined", func() (bool, string) {
		revives, declines := c.masterCounters(t)
		return declines > 0, fmt.Sprintf("revives %d declines %d", revives, declines)
	})
	revives0, declines0 := c.masterCounters(t)
	// The bridge's test policy holds offers 1 s and revives at most every
	// 200 ms; before this window ends the declined offer's filter still runs.
	time.Sleep(refuse - 5*time.Second)
	revives, declines := c.masterCounters(t)
	if revives-revives0 > 1 || declines != declines0 {
		t.Fatalf("in %v with nothing new: %d REVIVE and %d DECLINE calls (offers re-sent); want at most 1 and none",
			refuse-5*time.Second, revives-revives0, declines-declines0)
	}

	// Something new: a pod that fits. It is revived for and placed.
	p, err := c.client.CoreV1().Pods("default").Create(ctx, pod("small", "250m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the new pod's task RUNNING", func() (bool, string) {
		tasks := c.tasks(t)
		return tasks[string(p.UID)] == "TASK_RUNNING", fmt.Sprint(tasks)
	})
	if r, _ := c.masterCounters(t); r == revives {
		t.Errorf("no REVIVE for the new pod")
	}
}
