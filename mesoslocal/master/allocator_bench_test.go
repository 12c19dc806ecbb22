package master

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mailbox"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// benchMaster is a master with nAgents connected agents and nFrameworks
// subscribed frameworks spread over ten roles, set up in-process (no HTTP).
func benchMaster(tb testing.TB, nAgents, nFrameworks int) *Master {
	tb.Helper()
	m := New(Config{Hostname: "bench", IP: "127.0.0.1", Port: 5050})
	total, err := resources.Parse("cpus:8;mem:16384;disk:100000;ports:[31000-32000]")
	if err != nil {
		tb.Fatal(err)
	}
	attrs, _ := resources.ParseAttributes("rack:r1;zone:a")
	for i := 0; i < nAgents; i++ {
		id := fmt.Sprintf("%s-S%d", m.id, i)
		port := int32(5051)
		m.agents[id] = &agent{
			id:        id,
			info:      mesos.AgentInfo{ID: &mesos.AgentID{Value: id}, Hostname: fmt.Sprintf("host-%d", i), Port: &port, Resources: total, Attributes: attrs},
			endpoint:  "127.0.0.1:5051",
			total:     total.Clone(),
			box:       mailbox.New[link.Command](),
			active:    true,
			executors: map[string]map[string]*executor{},
		}
	}
	for j := 0; j < nFrameworks; j++ {
		id := fmt.Sprintf("%s-%04d", m.id, j)
		role := fmt.Sprintf("role%d", j%10)
		info := mesos.FrameworkInfo{
			ID: &mesos.FrameworkID{Value: id}, Name: id, User: "root", Roles: []string{role},
			Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}},
		}
		m.frameworks[id] = &framework{id: id, info: info, role: role, box: mailbox.New[*scheduler.Event](), connected: true, tasks: map[string]*task{}}
	}
	return m
}

// resetOffers withdraws every offer and empties the event queues.
func resetOffers(m *Master) {
	m.offers = map[string]*offer{}
	for _, fw := range m.frameworks {
		for {
			if _, ok := fw.box.TryPop(); !ok {
				break
			}
		}
	}
}

func benchmarkAllocationCycle(b *testing.B, nAgents, nFrameworks int) {
	m := benchMaster(b, nAgents, nFrameworks)
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check the cycle does its job before timing it: every agent is offered
	// exactly once and the offers are spread over the frameworks.
	m.allocateLocked()
	perAgent := map[string]int{}
	perFramework := map[string]int{}
	for _, o := range m.offers {
		perAgent[o.agentID]++
		perFramework[o.fwID]++
	}
	if len(perAgent) != nAgents {
		b.Fatalf("%d of %d agents offered", len(perAgent), nAgents)
	}
	for a, n := range perAgent {
		if n != 1 {
			b.Fatalf("agent %s offered %d times", a, n)
		}
	}
	if len(perFramework) != nFrameworks {
		b.Fatalf("%d of %d frameworks got offers", len(perFramework), nFrameworks)
	}
	resetOffers(m)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.allocateLocked()
		b.StopTimer()
		if len(m.offers) != nAgents {
			b.Fatalf("cycle %d made %d offers, want %d", i, len(m.offers), nAgents)
		}
		resetOffers(m)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/cycle")
}

// BenchmarkAllocationCycle times one allocation cycle (offer generation and
// queuing the OFFERS events) over idle agents.
func BenchmarkAllocationCycle(b *testing.B) {
	b.Run("agents=10000/frameworks=100", func(b *testing.B) { benchmarkAllocationCycle(b, 10000, 100) })
	b.Run("agents=10000/frameworks=1000", func(b *testing.B) { benchmarkAllocationCycle(b, 10000, 1000) })
}
