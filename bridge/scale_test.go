package bridge_test

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/podtask"
)

// The scenarios of this file run hundreds of pods through two bridge
// processes and two Mesos masters (about half a minute each, with the
// machine's cores busy), so they run with the fault scenarios (`make
// conformance` sets the variable), not in `make test`.
const scaleEnv = "KUBEMESOS_E2E_FAULTS"

func needScale(t *testing.T) {
	t.Helper()
	if os.Getenv(scaleEnv) == "" {
		t.Skipf("a scale scenario: set %s=1 (make conformance does)", scaleEnv)
	}
}

// scalePods is how many pods the failover scenarios create.
const scalePods = 200

// scaleCluster is two Mesos masters, four agents whose executor binds each
// pod after bindDelay, and two HA bridge processes electing in a test etcd;
// it returns once bridge-a leads.
func scaleCluster(t *testing.T, bindDelay string) (c *testCluster, a, b *haProcess, leader func() string) {
	c = newCluster(t, 2, nil)
	env := maps.Clone(c.execEnv)
	env[bindDelayEnv] = bindDelay
	for range 4 {
		c.startAgent("cpus:16;mem:16384", env)
	}
	cli, endpoint := etcdClient(t)
	a = c.startHABridgeProcess(t, "bridge-a", endpoint)
	leader = func() string { return leaderName(t, cli) }
	eventually(t, 30*time.Second, "bridge-a leading", func() (bool, string) { n := leader(); return n == "bridge-a", n })
	b = c.startHABridgeProcess(t, "bridge-b", endpoint)
	return c, a, b, leader
}

// podLaunches counts the pod tasks (not node tasks) a bridge process sent.
func podLaunches(t *testing.T, h *haProcess) int {
	n := 0
	for _, id := range h.launched(t) {
		if strings.HasPrefix(id, podtask.TaskIDPrefix) {
			n++
		}
	}
	return n
}

// waitLaunching waits until the bridges hs have sent at least n pod tasks.
func waitLaunching(t *testing.T, n int, hs ...*haProcess) {
	t.Helper()
	eventually(t, 60*time.Second, "pods being launched", func() (bool, string) {
		sent := 0
		for _, h := range hs {
			sent += podLaunches(t, h)
		}
		return sent >= n, fmt.Sprint(sent, " launched")
	})
}

// waitAllRunning waits until the burst's n pods are all created and each
// one's task is TASK_RUNNING at the master.
func (c *testCluster) waitAllRunning(t *testing.T, burst *podBurst, n int) {
	t.Helper()
	if err := <-burst.done; err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "every pod's task RUNNING", func() (bool, string) {
		_, states := c.taskCounts(t)
		running := burst.running(states)
		return running == n, fmt.Sprintf("%d/%d running", running, n)
	})
}

// launchedOnce fails the test when a bridge sent a task ID twice, and checks
// with the master that every pod has exactly one task and is bound, not
// Failed. (The launch logs may hold one more launch of a pod than the master
// saw: an ACCEPT the kill cut off before it was sent, whose pod the next
// leader launched.)
func (c *testCluster) launchedOnce(t *testing.T, pods int, hs ...*haProcess) {
	t.Helper()
	seen := map[string]string{}
	for _, h := range hs {
		for _, id := range h.launched(t) {
			if first, dup := seen[id]; dup {
				t.Errorf("task %s launched by %s and again by %s", id, first, h.name)
			}
			seen[id] = h.name
		}
	}
	c.everyPodOnce(t, pods)
}

// TestScaleLeaderKill9With200Pods: two masters, four agents, two bridge
// processes; the leader gets SIGKILL while 200 pods are being created and
// launched. Every pod runs exactly once (no task ID sent twice, one task per
// pod UID at the master, none Failed) and the standby leads within the lease
// plus 5 s of the kill.
func TestScaleLeaderKill9With200Pods(t *testing.T) {
	needScale(t)
	c, a, b, leader := scaleCluster(t, "300ms")
	ctx := t.Context()
	burst := c.createPods(ctx, "k9", scalePods, 10*time.Millisecond)
	waitLaunching(t, scalePods/4, a, b)
	// The leader now; under load a 2 s lease may have moved already.
	dead, standby := a, b
	if leader() == b.name {
		dead, standby = b, a
	}
	dead.kill9(t)
	killed := time.Now()
	atKill := podLaunches(t, a) + podLaunches(t, b)
	eventually(t, haLeaseTTL+15*time.Second, standby.name+" elected", func() (bool, string) { n := leader(); return n == standby.name, n })
	elected := time.Since(killed)
	c.waitAllRunning(t, burst, scalePods)
	t.Logf("%s killed -9 after %d of %d launches; %s elected %v later (lease %v); all running %v after the kill",
		dead.name, atKill, scalePods, standby.name, elected.Round(time.Millisecond), haLeaseTTL, time.Since(killed).Round(time.Millisecond))
	if atKill >= scalePods {
		t.Errorf("all %d pods were launched before the kill", scalePods)
	}
	if elected > haLeaseTTL+5*time.Second {
		t.Errorf("takeover took %v after the kill, want at most the lease (%v) + 5 s", elected, haLeaseTTL)
	}
	c.launchedOnce(t, scalePods, a, b)
}

// TestScaleMesosLeaderKilledMidLaunch: the same cluster; the leading Mesos
// master dies while 200 pods are being created and launched. The bridge
// follows the new leading master with its framework ID, and every pod runs
// exactly once.
func TestScaleMesosLeaderKilledMidLaunch(t *testing.T) {
	needScale(t)
	c, a, b, _ := scaleCluster(t, "300ms")
	ctx := t.Context()
	burst := c.createPods(ctx, "mk", scalePods, 10*time.Millisecond)
	waitLaunching(t, scalePods/4, a, b)
	st, err := bridge.FetchMasterState(ctx, c.master)
	if err != nil {
		t.Fatal(err)
	}
	fwBefore, _ := st.Framework("kubemesos")
	var dead testMaster
	for _, m := range c.masters {
		if strings.HasSuffix(st.Leader, "@"+m.addr) {
			dead = m
		}
	}
	if dead.stop == nil {
		t.Fatalf("leader %q is none of %v", st.Leader, c.masters)
	}
	atKill := podLaunches(t, a) + podLaunches(t, b)
	killed := time.Now()
	dead.stop()
	eventually(t, 60*time.Second, "the framework re-subscribed to the new leading master with its ID", func() (bool, string) {
		st, err := bridge.FetchMasterState(ctx, c.master)
		if err != nil {
			return false, err.Error()
		}
		fw, ok := st.Framework("kubemesos")
		return ok && fw.Active && fw.ID == fwBefore.ID && len(st.Agents) == 4, fmt.Sprintf("leader %s agents %d", st.Leader, len(st.Agents))
	})
	resubscribed := time.Since(killed)
	c.waitAllRunning(t, burst, scalePods)
	t.Logf("leading master killed after %d of %d launches; framework on the new leader %v later; all running %v after the kill",
		atKill, scalePods, resubscribed.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if atKill >= scalePods {
		t.Errorf("all %d pods were launched before the kill", scalePods)
	}
	c.launchedOnce(t, scalePods, a, b)
}
