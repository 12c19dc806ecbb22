package master_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// startDBOnRealAgent starts a master and one real agent (cpus:2,
// mem:2048, disk:1000 on a fresh work dir) and subscribes a framework of
// role db.
func startDBOnRealAgent(t *testing.T) (agent.Config, *mesostest.Agent, *cluster, *eventLog) {
	t.Helper()
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond, HeartbeatInterval: time.Second})
	acfg := agent.Config{
		Master: m.Addr, Hostname: "agent-1", WorkDir: t.TempDir(), Resources: "cpus:2;mem:2048;disk:1000",
		StatusUpdateRetryInterval: time.Second, RegistrationBackoff: 100 * time.Millisecond,
	}
	a := mesostest.StartAgent(t, acfg)
	c := &cluster{t: t, master: m.Master, masterURL: m.URL}
	return acfg, a, c, &eventLog{sched: subscribe(t, c, roleFramework("db", nil, "db"))}
}

// A restarted agent reloads <work_dir>/meta/resources/resources.info: its
// reservations and persistent volumes survive the restart and are offered
// to their role again.
func TestAgentRestartKeepsReservationsAndVolumes(t *testing.T) {
	acfg, a, c, db := startDBOnRealAgent(t)
	agentID := a.ID()

	o := db.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	rs := []mesos.Resource{reservedRes("cpus", 1, "db", "p-db", o), reservedRes("mem", 256, "db", "p-db", o), reservedRes("disk", 100, "db", "p-db", o)}
	vol := volume("vol1", 100, "db", "p-db", o)
	// Everything offered from now on is declined for an hour, so the only
	// offer after the restart is the one REVIVE asks for.
	db.mustCall(calls.Accept(calls.OfferOperations{calls.OpReserve(rs...), calls.OpCreate(vol)}.WithOffers(o.ID)).With(calls.RefuseSeconds(time.Hour)))
	checkpoint := filepath.Join(acfg.WorkDir, "meta", "resources", "resources.info")
	waitFor(t, 5*time.Second, "the agent checkpointed the volume", func() bool {
		b, _ := os.ReadFile(checkpoint)
		return strings.Contains(string(b), "vol1")
	})

	a.Stop()
	a = mesostest.StartAgentAt(t, a.Addr, acfg)
	if a.ID() != agentID {
		t.Fatalf("restarted agent has ID %s, want %s", a.ID(), agentID)
	}
	db.backlog = nil
	db.mustCall(calls.Revive())
	var got mesos.Offer
	waitFor(t, 5*time.Second, "an offer of the restarted agent", func() bool {
		for _, o := range db.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers {
			if o.AgentID.Value == agentID {
				got = o
				return true
			}
		}
		return false
	})
	if findVolume(got.Resources, "vol1") == nil {
		t.Errorf("offer after the restart has no volume vol1: %v", got.Resources)
	}
	var reservedCPUs float64
	for _, r := range got.Resources {
		if r.Name == "cpus" && r.GetRole() == "db" {
			reservedCPUs += r.GetScalar().GetValue()
		}
	}
	if reservedCPUs != 1 {
		t.Errorf("offer after the restart has %v cpus reserved for db, want 1: %v", reservedCPUs, got.Resources)
	}
	st := agentState(t, c)
	if res, _ := st["reserved_resources"].(map[string]any)["db"].(map[string]any); res["cpus"] != 1.0 || res["disk"] != 100.0 {
		t.Errorf("master's reserved_resources[db] after the restart = %v", res)
	}
	a.Stop()

	// A checkpoint that does not fit the flags stops the agent from
	// starting, as Mesos' agent fails its recovery.
	bad := acfg
	bad.Resources = "cpus:4;mem:2048;disk:1000"
	ag, err := agent.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ag.Serve(ctx, listen(t)); err == nil || !strings.Contains(err.Error(), "incompatible") {
		t.Errorf("agent with other --resources than its checkpoint: Serve = %v, want an incompatibility error", err)
	}
}
