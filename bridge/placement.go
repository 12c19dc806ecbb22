package bridge

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/k8sapi"
	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// PodLister is a PodSource that can also list every pod it watches, bound
// or not (k8sapi.PodFeed). With it, placement counts the pods already on
// each node for inter-pod affinity and topology spread.
type PodLister interface {
	All() []*corev1.Pod
}

// NodeLister is a NodeSource that can also list the Nodes (k8sapi.NodeMirror).
// With it, the nodes of agents that have no offer held still count as
// topology domains, as every node does in kube-scheduler.
type NodeLister interface {
	Nodes() []*corev1.Node
}

// NamespaceSource is what placement reads of the Namespaces: their labels,
// which namespace selectors of inter-pod affinity terms match
// (k8sapi.NamespaceMirror).
type NamespaceSource interface {
	NamespaceLabels() map[string]map[string]string
}

// UseNamespaces makes placement match namespace selectors against the
// Namespaces' labels; without it a namespace has only
// kubernetes.io/metadata.name. Call it before Run.
func (s *Scheduler) UseNamespaces(ns NamespaceSource) { s.placementState().namespaces = ns }

// placementState is what the bridge keeps between cycles for placement:
// the node of each agent it has seen an offer of (a launched pod is on its
// task's agent's node before it is bound), and the last attempt to place
// each pending pod (for `kubemesos why` and /debug/pending).
type placementState struct {
	agents     map[string]seenAgent // by agent ID
	pending    *PendingLog
	namespaces NamespaceSource // may be nil
}

// seenAgent is an agent's node as its last offer showed it.
type seenAgent struct {
	node offermatcher.Node
	at   time.Time
}

// agentMemory is how long an agent whose Node does not exist yet stays a
// topology domain after its last offer. An agent whose resources are all in
// use sends no offer; one the bridge has pods on stays a domain regardless.
const agentMemory = 5 * time.Minute

func (s *Scheduler) placementState() *placementState {
	if s.placement == nil {
		s.placement = &placementState{agents: map[string]seenAgent{}, pending: NewPendingLog()}
	}
	return s.placement
}

// placementCluster is what placement knows besides the pods to place and
// the offers: the Nodes, and the pods on them. A pod is on a node when it is
// bound to it (spec.nodeName), or when the bridge launched its task there
// and the executor has not bound it yet; pods of the plan being built are
// added by offermatcher itself. Finished pods are on no node. Only pods of
// the bridge's scheduler name are known (the pod feed watches no other).
func (s *Scheduler) placementCluster(offers []offermatcher.Offer) offermatcher.Cluster {
	ps := s.placementState()
	now := s.now()
	for _, o := range offers {
		ps.agents[o.AgentID] = seenAgent{node: offermatcher.Node{Name: o.NodeName, Labels: o.Labels, Taints: o.Taints}, at: now}
	}
	c := offermatcher.Cluster{Scoring: s.policy.Scoring}
	if ps.namespaces != nil {
		c.NamespaceLabels = ps.namespaces.NamespaceLabels()
	}
	known := map[string]bool{}
	if nl, ok := s.nodes.(NodeLister); ok && s.nodes != nil {
		for _, n := range nl.Nodes() {
			c.Nodes = append(c.Nodes, offermatcher.Node{Name: n.Name, Labels: n.Labels, Taints: k8sapi.TaintsOf(n)})
			known[n.Name] = true
		}
	}
	if pl, ok := s.pods.(PodLister); ok {
		c.Pods = s.placedPods(pl.All())
	}
	onNode := map[string]bool{}
	for _, p := range c.Pods {
		onNode[p.NodeName] = true
	}
	for id, a := range ps.agents {
		switch {
		case known[a.node.Name]:
		case now.Sub(a.at) < agentMemory || onNode[a.node.Name]:
			c.Nodes = append(c.Nodes, a.node)
			known[a.node.Name] = true
		default:
			delete(ps.agents, id)
		}
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].Name < c.Nodes[j].Name })
	return c
}

// placedPods are the pods on a node: bound, or launched by the bridge and
// not bound yet (on their task's agent).
func (s *Scheduler) placedPods(all []*corev1.Pod) []offermatcher.PlacedPod {
	ps := s.placementState()
	var out []offermatcher.PlacedPod
	for _, p := range all {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			t, launched := s.tasks.Get(p.UID)
			if !launched || t.Terminal() {
				continue
			}
			if t.Hostname != "" {
				node = podtask.NodeName(t.Hostname)
			} else if a, ok := ps.agents[t.AgentID]; ok {
				node = a.node.Name // adopted: the agent of its last offer
			} else {
				continue
			}
		}
		out = append(out, offermatcher.PlacedPodOf(p, node))
	}
	return out
}
