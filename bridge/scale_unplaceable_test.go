package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/bench"
)

// TestScaleThousandUnplaceablePods: 1,000 pods that fit no agent. Each is
// told why (PodScheduled=False, Unschedulable, naming the cpu it asks for),
// none is launched, and once every pod has its reason the leading bridge
// process idles: over 20 s it uses less than a tenth of a core (measured
// from /proc; logged). A pod that fits, created then, still runs.
func TestScaleThousandUnplaceablePods(t *testing.T) {
	needScale(t)
	c := newCluster(t, 1, nil)
	for range 2 {
		c.startAgent("cpus:2;mem:2048", c.execEnv)
	}
	cli, endpoint := etcdClient(t)
	a := c.startHABridgeProcess(t, "bridge-a", endpoint)
	eventually(t, 30*time.Second, "bridge-a leading", func() (bool, string) { n := leaderName(t, cli); return n == "bridge-a", n })
	ctx := t.Context()

	const pods = 1000
	createMany(t, ctx, c, pods, 8, func(i int) *corev1.Pod { return pod(fmt.Sprintf("big-%04d", i), "8", "64Mi") })
	eventually(t, 3*time.Minute, "every pod Unschedulable with its reason", func() (bool, string) {
		n, others := c.unschedulable(t, "big-", "cpu")
		return n == pods, fmt.Sprintf("%d/%d told; the others: %v", n, pods, others)
	})
	if n := podLaunches(t, a); n != 0 {
		t.Fatalf("%d pods launched, want none (none fits)", n)
	}
	u0, err := bench.ProcessUsage(a.p.PID())
	if err != nil {
		t.Fatal(err)
	}
	const window = 20 * time.Second
	time.Sleep(window)
	u1, err := bench.ProcessUsage(a.p.PID())
	if err != nil {
		t.Fatal(err)
	}
	share := float64(u1.CPU-u0.CPU) / float64(window)
	revives, declines := c.masterCounters(t)
	t.Logf("leading bridge with %d unplaceable pods: %v CPU over %v (%.1f%% of a core), peak RSS %d MiB; master saw %d REVIVE, %d DECLINE",
		pods, u1.CPU-u0.CPU, window, 100*share, u1.PeakRSS>>20, revives, declines)
	if share > 0.10 {
		t.Errorf("the bridge used %.1f%% of a core while nothing changed, want under 10%%", 100*share)
	}

	p, err := c.client.CoreV1().Pods("default").Create(ctx, pod("fits", "250m", "64Mi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := []string{string(p.UID)}
	eventually(t, 30*time.Second, "the pod that fits RUNNING", c.allRunning(t, &uids))
}

// createMany creates n pods, inFlight at a time, and fails the test on the
// first error.
func createMany(t *testing.T, ctx context.Context, c *testCluster, n, inFlight int, mk func(int) *corev1.Pod) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := c.client.CoreV1().Pods("default").Create(ctx, mk(i), metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// unschedulable counts the pods named prefix* whose PodScheduled condition
// is False with reason Unschedulable and a message containing want, and
// counts the others by their condition's message.
func (c *testCluster) unschedulable(t *testing.T, prefix, want string) (int, map[string]int) {
	t.Helper()
	list, err := c.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, others := 0, map[string]int{}
	for _, p := range list.Items {
		if !strings.HasPrefix(p.Name, prefix) {
			continue
		}
		msg := "(no PodScheduled condition)"
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				msg = fmt.Sprintf("%s/%s: %s", cond.Status, cond.Reason, cond.Message)
				if cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable && strings.Contains(cond.Message, want) {
					msg = ""
				}
			}
		}
		if msg == "" {
			n++
		} else {
			others[msg]++
		}
	}
	return n, others
}
