package bridge

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
)

// PendingLog keeps the last placement attempt of every pod that is pending
// after it: for each agent an offer was held from, the filter that rejected
// the pod there. `kubemesos why` and GET /debug/pending read it. The
// scheduler loop writes it once per cycle; it is safe for concurrent use.
type PendingLog struct {
	mu   sync.Mutex
	last PendingReport
}

// PendingReport is the JSON of /debug/pending.
type PendingReport struct {
	// At is when the scheduler last tried to place pending pods.
	At time.Time `json:"at"`
	// OffersHeld is how many offers it held then (0: Mesos offered nothing).
	OffersHeld int          `json:"offersHeld"`
	Pods       []PendingPod `json:"pods"`
}

// PendingPod is one pod that was left pending.
type PendingPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Message is the text of its FailedScheduling event.
	Message string `json:"message"`
	// Reasons counts the agents (and offers) per reason, most agents first.
	Reasons []ReasonCount `json:"reasons,omitempty"`
	// Agents is the reason at each agent, by agent ID.
	Agents []AgentReason `json:"agents,omitempty"`
}

// ReasonCount is how many agents, and offers, rejected a pod for one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Agents int    `json:"agents"`
	Offers int    `json:"offers"`
}

// AgentReason is why an agent's offer did not take a pod. An agent with
// several offers shows the reason of its first.
type AgentReason struct {
	AgentID string `json:"agentID"`
	Node    string `json:"node"`
	OfferID string `json:"offerID"`
	Reason  string `json:"reason"`
	// Detail says, for a shortage, what the pod wants and what the offer
	// held before this attempt placed other pods on it.
	Detail string `json:"detail,omitempty"`
}

// NewPendingLog returns an empty log.
func NewPendingLog() *PendingLog { return &PendingLog{} }

// Report returns the last attempt; Pods is a copy.
func (l *PendingLog) Report() PendingReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.last
	r.Pods = slices.Clone(r.Pods)
	return r
}

// recordPlan replaces the log with a placement attempt over offers (the
// order offermatcher.Match saw them in) and its plan, made with Explain.
func (l *PendingLog) recordPlan(at time.Time, offers []offermatcher.Offer, plan offermatcher.Plan, byUID map[string]*corev1.Pod) {
	r := PendingReport{At: at, OffersHeld: len(offers), Pods: make([]PendingPod, 0, len(plan.Unplaced))}
	for _, u := range plan.Unplaced {
		pod := byUID[u.Pod.UID]
		if pod == nil {
			continue
		}
		pp := PendingPod{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), Message: u.Reasons.String()}
		counts := map[string]*ReasonCount{}
		seen := map[string]bool{}
		for i, reason := range u.ByOffer {
			if i >= len(offers) {
				break
			}
			o := &offers[i]
			c := counts[string(reason)]
			if c == nil {
				c = &ReasonCount{Reason: string(reason)}
				counts[string(reason)] = c
			}
			c.Offers++
			if seen[o.AgentID] {
				continue
			}
			seen[o.AgentID] = true
			c.Agents++
			pp.Agents = append(pp.Agents, AgentReason{AgentID: o.AgentID, Node: o.NodeName, OfferID: o.ID, Reason: string(reason),
				Detail: shortage(reason, u.Pod.Resources, o.Resources)})
		}
		for _, c := range counts {
			pp.Reasons = append(pp.Reasons, *c)
		}
		slices.SortFunc(pp.Reasons, func(a, b ReasonCount) int {
			return cmp.Or(cmp.Compare(b.Agents, a.Agents), cmp.Compare(a.Reason, b.Reason))
		})
		slices.SortFunc(pp.Agents, func(a, b AgentReason) int { return cmp.Compare(a.AgentID, b.AgentID) })
		r.Pods = append(r.Pods, pp)
	}
	l.set(r)
}

// shortage is the detail of a resource reason: "wants 2 cpu, offer had 1.5".
func shortage(r offermatcher.Reason, want, had offermatcher.Resources) string {
	switch r {
	case offermatcher.InsufficientCPU:
		return fmt.Sprintf("wants %s cpu, offer had %s", cpus(want.MilliCPU), cpus(had.MilliCPU))
	case offermatcher.InsufficientMemory:
		return fmt.Sprintf("wants %d MiB, offer had %d", want.MemoryMB, had.MemoryMB)
	case offermatcher.InsufficientDisk:
		return fmt.Sprintf("wants %d MiB disk, offer had %d", want.DiskMB, had.DiskMB)
	}
	return ""
}

func cpus(milli int64) string { return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64) }

// recordNoOffers replaces the log with an attempt that found no offer held.
// A pod an earlier attempt over offers explained keeps that entry: the
// offers it did not fit were declined, so none is held now because of it.
func (l *PendingLog) recordNoOffers(at time.Time, pending []*corev1.Pod) {
	l.mu.Lock()
	earlier := make(map[string]PendingPod, len(l.last.Pods))
	for _, p := range l.last.Pods {
		if p.Message != MessageNoOffers {
			earlier[p.UID] = p
		}
	}
	l.mu.Unlock()
	r := PendingReport{At: at, Pods: make([]PendingPod, 0, len(pending))}
	for _, p := range pending {
		if e, ok := earlier[string(p.UID)]; ok {
			r.Pods = append(r.Pods, e)
			continue
		}
		r.Pods = append(r.Pods, PendingPod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Message: MessageNoOffers})
	}
	l.set(r)
}

func (l *PendingLog) set(r PendingReport) {
	slices.SortFunc(r.Pods, func(a, b PendingPod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	l.mu.Lock()
	l.last = r
	l.mu.Unlock()
}

// ServeHTTP serves the last attempt as JSON (GET /debug/pending), only the
// pods of ?namespace= and ?name= when given.
func (l *PendingLog) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !getOnly(w, req) {
		return
	}
	r := l.Report()
	ns, name := req.URL.Query().Get("namespace"), req.URL.Query().Get("name")
	if ns != "" || name != "" {
		r.Pods = slices.DeleteFunc(r.Pods, func(p PendingPod) bool {
			return (ns != "" && p.Namespace != ns) || (name != "" && p.Name != name)
		})
	}
	writeJSON(w, r)
}

// getOnly answers 405 to anything but GET, and reports whether req is one.
func getOnly(w http.ResponseWriter, req *http.Request) bool {
	if req.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

// writeJSON writes v as indented JSON, the debug listener's answers.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// PendingLog is the scheduler's log of pods left pending, to serve over
// HTTP. Call it before Run.
func (s *Scheduler) PendingLog() *PendingLog { return s.placementState().pending }
