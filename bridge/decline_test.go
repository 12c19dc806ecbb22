package bridge_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bridge"
)

// TestOffersNoPendingPodFitsAreDeclinedAtOnce: while a pod fits nowhere, the
// offers it cannot use are declined in the cycle that found so, not held
// until the offer TTL, so other frameworks get those resources meanwhile.
func TestOffersNoPendingPodFitsAreDeclinedAtOnce(t *testing.T) {
	c := startClusterPolicy(t, 1, func(p *bridge.Policy) { p.OfferTTL, p.DeclineFor = 5*time.Minute, 30*time.Second }, "cpus:2;mem:2048")
	ctx := t.Context()
	start := time.Now()
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod("huge", "64", "256Mi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the agent's offer declined", func() (bool, string) {
		revives, declines := c.masterCounters(t)
		return declines > 0, fmt.Sprintf("revives %d declines %d", revives, declines)
	})
	t.Logf("declined %v after the pod was created (offer TTL 5m)", time.Since(start).Round(time.Millisecond))
}
