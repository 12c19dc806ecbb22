package bridge

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
)

// listedPods is a PodSource that lists all its pods (a PodLister), as
// k8sapi.PodFeed does.
type listedPods struct{ *fakePods }

func (l listedPods) All() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range l.pods {
		out = append(out, p)
	}
	return out
}

// offerFrom hands the scheduler an offer of agent (hostname = agent ID).
func (l *loopTest) offerFrom(t *testing.T, agent string) {
	t.Helper()
	l.offers++
	o := mesos.Offer{
		ID: mesos.OfferID{Value: agent + "-o" + string(rune('0'+l.offers))}, AgentID: mesos.AgentID{Value: agent}, Hostname: agent,
		FrameworkID: mesos.FrameworkID{Value: "fw-1"},
		Resources:   toMesos(offermatcher.Resources{MilliCPU: 4000, MemoryMB: 4096}, nil, "kubernetes"),
	}
	if err := l.s.handle(t.Context(), &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
}

func antiWeb(name string) *corev1.Pod {
	p := testPod(name)
	p.Labels = map[string]string{"app": "web"}
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}},
	}}
	return p
}

// TestAntiAffinityCountsLaunchedAndBoundPods: a pod launched on an agent
// and not bound yet, and a pod bound to a node, both repel a pod with
// anti-affinity in later cycles; the pending log says, per agent, why.
func TestAntiAffinityCountsLaunchedAndBoundPods(t *testing.T) {
	w1, w2, w3 := antiWeb("w1"), antiWeb("w2"), antiWeb("w3")
	w3.Spec.NodeName = "a3" // bound by an earlier bridge
	l := newLoopTest(t, w1, w2, w3)
	l.s.pods = listedPods{l.pods}

	l.offerFrom(t, "a1")
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 {
		t.Fatalf("launched %v, want one of the two replicas", got)
	}
	first, second := w1, w2
	if _, ok := l.s.tasks.Get(w2.UID); ok {
		first, second = w2, w1
	}
	if _, ok := l.s.tasks.Get(first.UID); !ok {
		t.Fatal("no task recorded")
	}

	// The launched replica is not bound yet: it still counts on a1.
	l.offerFrom(t, "a1")
	l.offerFrom(t, "a3")
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("launched %v next to a replica (a1) or a bound one (a3)", got)
	}
	rep := l.s.PendingLog().Report()
	if rep.OffersHeld != 2 || len(rep.Pods) != 1 || rep.Pods[0].Name != second.Name {
		t.Fatalf("pending log %+v", rep)
	}
	p := rep.Pods[0]
	wantAgents := []AgentReason{
		{AgentID: "a1", Node: "a1", OfferID: p.Agents[0].OfferID, Reason: string(offermatcher.PodAntiAffinityMismatch)},
		{AgentID: "a3", Node: "a3", OfferID: p.Agents[1].OfferID, Reason: string(offermatcher.PodAntiAffinityMismatch)},
	}
	if len(p.Agents) != 2 || p.Agents[0] != wantAgents[0] || p.Agents[1] != wantAgents[1] {
		t.Fatalf("agents %+v, want %+v", p.Agents, wantAgents)
	}
	if len(p.Reasons) != 1 || p.Reasons[0] != (ReasonCount{Reason: string(offermatcher.PodAntiAffinityMismatch), Agents: 2, Offers: 2}) {
		t.Fatalf("reasons %+v", p.Reasons)
	}
	if p.Message != "0/2 offers fit: 2 didn't match pod anti-affinity rules" {
		t.Fatalf("message %q", p.Message)
	}

	// GET /debug/pending?namespace=default&name=<second> serves the same.
	rec := httptest.NewRecorder()
	l.s.PendingLog().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pending?namespace=default&name="+second.Name, nil))
	var served PendingReport
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.String())
	}
	if len(served.Pods) != 1 || served.Pods[0].Message != p.Message || served.OffersHeld != 2 {
		t.Fatalf("served %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	l.s.PendingLog().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pending?name=nope", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil || len(served.Pods) != 0 {
		t.Fatalf("a pod not pending is listed: %s", rec.Body.String())
	}

	// A shortage says what the pod wants and what the offer had.
	var l2 PendingLog
	offers := []offermatcher.Offer{{ID: "o", AgentID: "a", NodeName: "n", Resources: offermatcher.Resources{MilliCPU: 1500, MemoryMB: 64}}}
	big := offermatcher.FromPod(testPod("big"), offermatcher.Resources{})
	big.Resources.MilliCPU = 2000
	plan := offermatcher.Cluster{Explain: true}.Match([]offermatcher.PodRequest{big}, offers)
	l2.recordPlan(l.s.now(), offers, plan, map[string]*corev1.Pod{big.UID: testPod("big")})
	if got := l2.Report().Pods[0].Agents[0].Detail; got != "wants 2 cpu, offer had 1.5" {
		t.Fatalf("detail %q", got)
	}

	// The offers no pending pod fits were declined, not held to the TTL.
	if n := l.s.offers.Len(); n != 0 {
		t.Fatalf("%d offers still held", n)
	}

	// Once the first replica's task ended before binding, its agent is free:
	// the master offers what the task held (more than was declined, so no
	// filter holds it back).
	l.update(t, mesos.TaskStatus{TaskID: mesos.TaskID{Value: l.taskOf(first.UID)}, State: mesos.TASK_FAILED.Enum(),
		AgentID: &mesos.AgentID{Value: "a1"}, Source: mesos.SOURCE_MASTER.Enum()})
	delete(l.pods.pods, first.UID)
	l.offerFrom(t, "a1")
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 || podOf(got[0]) != second.UID {
		t.Fatalf("launched %v, want %s on a1", got, second.Name)
	}
}

type namespaceLabels map[string]map[string]string

func (n namespaceLabels) NamespaceLabels() map[string]map[string]string { return n }

// TestNamespaceSelectorsSeeNamespaceLabels: with UseNamespaces, a pod's
// anti-affinity term selecting namespaces by label repels it from a pod of
// such a namespace.
func TestNamespaceSelectorsSeeNamespaceLabels(t *testing.T) {
	other := testPod("other")
	other.Namespace, other.Labels, other.Spec.NodeName = "team-x", map[string]string{"app": "web"}, "a1"
	w := antiWeb("w")
	w.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].NamespaceSelector =
		&metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
	l := newLoopTest(t, other, w)
	l.s.pods = listedPods{l.pods}
	l.offerFrom(t, "a1")
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 1 {
		t.Fatalf("without namespace labels the term matches no namespace: launched %v", got)
	}

	w2 := antiWeb("w2")
	w2.Spec.Affinity = w.Spec.Affinity
	l = newLoopTest(t, other, w2)
	l.s.pods = listedPods{l.pods}
	l.s.UseNamespaces(namespaceLabels{"team-x": {"team": "x"}})
	l.offerFrom(t, "a1")
	l.cycle(t)
	if got := launchedTasks(l.master.take(scheduler.Call_ACCEPT)); len(got) != 0 {
		t.Fatalf("launched %v next to a pod of a namespace the term selects", got)
	}
}
