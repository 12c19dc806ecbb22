package agent_test

import (
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
)

func TestOversubscriptionConfigErrors(t *testing.T) {
	base := agent.Config{Master: "127.0.0.1:1", WorkDir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		mutate func(*agent.Config)
	}{
		{"unknown estimator", func(c *agent.Config) { c.ResourceEstimator = "org_apache_mesos_NoSuchEstimator" }},
		{"estimate without estimator", func(c *agent.Config) { c.ResourceEstimatorResources = "cpus:1" }},
		{"bad estimate", func(c *agent.Config) {
			c.ResourceEstimator, c.ResourceEstimatorResources = agent.FixedResourceEstimator, "cpus:-1"
		}},
		{"unknown QoS controller", func(c *agent.Config) { c.QoSController = "org_apache_mesos_LoadQoSController" }},
	} {
		cfg := base
		tc.mutate(&cfg)
		if _, err := agent.New(cfg); err == nil {
			t.Errorf("%s: agent.New accepted %+v", tc.name, cfg)
		}
	}

	plain, err := agent.New(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.SetResourceEstimate("cpus:1"); !errors.Is(err, agent.ErrNoResourceEstimator) {
		t.Errorf("SetResourceEstimate without an estimator: %v, want ErrNoResourceEstimator", err)
	}
	fixed := base
	fixed.ResourceEstimator, fixed.ResourceEstimatorResources = agent.FixedResourceEstimator, "cpus:1"
	a, err := agent.New(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetResourceEstimate("cpus:abc"); err == nil {
		t.Error("SetResourceEstimate accepted a bad estimate")
	}
}

func revocable(rs []mesos.Resource, o mesos.Offer, names ...string) []mesos.Resource {
	for i := range rs {
		rs[i].AllocationInfo = o.AllocationInfo
		for _, n := range names {
			if rs[i].Name == n {
				rs[i].Revocable = &mesos.Resource_RevocableInfo{}
			}
		}
	}
	return rs
}

// TestQoSCorrectionPreemptsExecutors: a custom executor and a task group of
// the default executor on revocable cpus are both killed when the estimate
// drops to nothing: their tasks end TASK_GONE, REASON_CONTAINER_PREEMPTED,
// and the scheduler gets FAILURE for each executor, as when Mesos destroys
// a container for a QoS correction.
func TestQoSCorrectionPreemptsExecutors(t *testing.T) {
	e := startEnv(t, func(c *agent.Config) {
		c.ResourceEstimator, c.ResourceEstimatorResources = agent.FixedResourceEstimator, "cpus:2"
		c.OversubscribedResourcesInterval = 100 * time.Millisecond
		c.QoSController = agent.EstimateQoSController
		c.QoSCorrectionIntervalMin = 100 * time.Millisecond
	})
	fi := frameworkInfo("rev", false)
	fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES})
	s := subscribe(t, e, fi)
	var o mesos.Offer
	for o.ID.Value == "" {
		for _, x := range s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers {
			for _, r := range x.Resources {
				if r.IsRevocable() {
					o = x
				}
			}
			if o.ID != x.ID {
				s.call(calls.Decline(x.ID).With(calls.RefuseSeconds(0)))
			}
		}
	}

	ex := testExecutor("custom")
	ex.Resources = revocable(ex.Resources, o, "cpus")
	custom := task("on-custom", o)
	custom.Resources = revocable(custom.Resources, o, "cpus")
	custom.Executor = ex
	def := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "group"}, FrameworkID: &o.FrameworkID, Type: mesos.ExecutorInfo_DEFAULT,
		Resources: revocable(resources("cpus:0.1;mem:32"), o, "cpus")}
	g1, g2 := task("group-1", o), task("group-2", o)
	for _, g := range []*mesos.TaskInfo{&g1, &g2} {
		g.Resources = revocable(g.Resources, o, "cpus")
		g.Command = &mesos.CommandInfo{Value: ptr("sleep 1000")}
	}
	s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(custom), calls.OpLaunchGroup(def, g1, g2)}.WithOffers(o.ID)))
	s.Running(10*time.Second, "on-custom", "group-1", "group-2")

	if err := e.agent.SetResourceEstimate(""); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	failed := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(gone) < 3 || len(failed) < 2 {
		select {
		case ev, ok := <-s.Events:
			if !ok {
				t.Fatal("event stream closed")
			}
			switch ev.Type {
			case scheduler.Event_UPDATE:
				st := ev.Update.Status
				if len(st.UUID) > 0 {
					s.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
				}
				if st.GetState() != mesos.TASK_GONE || st.GetReason() != mesos.REASON_CONTAINER_PREEMPTED || st.GetSource() != mesos.SOURCE_AGENT {
					t.Fatalf("%s: %s %s %s %q, want TASK_GONE REASON_CONTAINER_PREEMPTED SOURCE_AGENT",
						st.TaskID.Value, st.GetState(), st.GetReason(), st.GetSource(), st.GetMessage())
				}
				gone[st.TaskID.Value] = true
			case scheduler.Event_FAILURE:
				failed[ev.Failure.GetExecutorID().GetValue()] = true
			}
		case <-deadline:
			t.Fatalf("after the estimate dropped: gone %v, executor failures %v; want on-custom, group-1, group-2 gone and custom, group failed", gone, failed)
		}
	}
	if !failed["custom"] || !failed["group"] || !gone["on-custom"] || !gone["group-1"] || !gone["group-2"] {
		t.Fatalf("gone %v, executor failures %v", gone, failed)
	}
}
