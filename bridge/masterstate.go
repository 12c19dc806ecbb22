package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// MasterState is the part of a Mesos master's /master/state that kubemesos
// reads (Apache Mesos' own JSON shape; mesoslocal serves the same).
type MasterState struct {
	ID                 string           `json:"id"`
	Hostname           string           `json:"hostname"`
	Leader             string           `json:"leader"`
	Agents             []StateAgent     `json:"slaves"`
	Frameworks         []StateFramework `json:"frameworks"`
	CompletedFramework []StateFramework `json:"completed_frameworks"`
}

// StateAgent is an agent of /master/state.
type StateAgent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Active   bool   `json:"active"`
	// ReservedFull are its reserved resources by role, reservations and
	// persistent volumes included ("reserved_resources_full").
	ReservedFull map[string][]StateResource `json:"reserved_resources_full"`
}

// StateResource is a resource of /master/state's reserved_resources_full:
// the parts that tell a claim's reservation and volume.
type StateResource struct {
	Name   string `json:"name"`
	Scalar struct {
		Value float64 `json:"value"`
	} `json:"scalar"`
	Reservations []struct {
		Role   string `json:"role"`
		Labels struct {
			Labels []struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"labels"`
		} `json:"labels"`
	} `json:"reservations"`
	Disk *struct {
		Persistence struct {
			ID string `json:"id"`
		} `json:"persistence"`
	} `json:"disk"`
}

// ClaimResource is a disk reserved for a claim's volume (its reservation
// labels name the claim, podtask.LabelClaimUID), on one agent, with the
// persistence ID of the volume on it ("" for a reservation without one).
type ClaimResource struct {
	AgentID       string
	Claim         types.UID
	PersistenceID string
	DiskMB        float64
}

// ClaimResources lists the reserved disks of claims on every agent.
func (s *MasterState) ClaimResources() []ClaimResource {
	var out []ClaimResource
	for _, a := range s.Agents {
		for _, rs := range a.ReservedFull {
			for _, r := range rs {
				if r.Name != "disk" || len(r.Reservations) == 0 {
					continue
				}
				c := ClaimResource{AgentID: a.ID, DiskMB: r.Scalar.Value}
				for _, l := range r.Reservations[len(r.Reservations)-1].Labels.Labels {
					if l.Key == podtask.LabelClaimUID {
						c.Claim = types.UID(l.Value)
					}
				}
				if c.Claim == "" {
					continue
				}
				if r.Disk != nil {
					c.PersistenceID = r.Disk.Persistence.ID
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// StateFramework is a framework of /master/state with its tasks.
type StateFramework struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Active         bool        `json:"active"`
	Tasks          []StateTask `json:"tasks"`
	CompletedTasks []StateTask `json:"completed_tasks"`
}

// StateTask is a task of /master/state.
type StateTask struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	FrameworkID string `json:"framework_id"`
	ExecutorID  string `json:"executor_id"`
	AgentID     string `json:"slave_id"`
	State       string `json:"state"`
	// Resources are Mesos' json(Resources) of the task: scalars by name,
	// revocable ones as "<name>_revocable" (cpus, mem, disk, gpus always,
	// 0 if none).
	Resources map[string]any `json:"resources"`
}

// Scalar is the task's resource name ("cpus", "mem_revocable") in
// /master/state, 0 if it has none.
func (t StateTask) Scalar(name string) float64 {
	v, _ := t.Resources[name].(float64)
	return v
}

// FetchMasterState reads /master/state from the leading master. masters is
// one master or several, comma-separated (host:port or URL); a non-leading
// master redirects to the leader, and one that cannot be reached is skipped.
func FetchMasterState(ctx context.Context, masters string) (*MasterState, error) {
	var errs []error
	for _, m := range strings.Split(masters, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		st, err := fetchMasterState(ctx, m)
		if err == nil {
			return st, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no mesos master given")
	}
	return nil, errors.Join(errs...)
}

func fetchMasterState(ctx context.Context, master string) (*MasterState, error) {
	if !strings.Contains(master, "://") {
		master = "http://" + master
	}
	u, err := url.Parse(master)
	if err != nil {
		return nil, fmt.Errorf("mesos master %q: %w", master, err)
	}
	u.Path = "/master/state"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var st MasterState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u, err)
	}
	return &st, nil
}

// Framework returns the framework with this name that is active (or the last one listed).
func (s *MasterState) Framework(name string) (StateFramework, bool) {
	var found StateFramework
	ok := false
	for _, f := range s.Frameworks {
		if f.Name == name {
			found, ok = f, true
			if f.Active {
				break
			}
		}
	}
	return found, ok
}

// PodTasks are the framework's pod tasks by pod UID, each pod's in the order
// the master lists them: the ended ones (completed_tasks) first, the live
// one last. Every launch of a pod has its own task ID, so a pod launched
// again has several; node tasks and tasks of no pod are left out.
func (f StateFramework) PodTasks() map[types.UID][]StateTask {
	out := map[types.UID][]StateTask{}
	for _, t := range append(slices.Clone(f.CompletedTasks), f.Tasks...) {
		if uid, ok := podtask.UIDFromTaskID(t.ID); ok {
			out[uid] = append(out[uid], t)
		}
	}
	return out
}

// AgentHostname is the hostname of an agent ID ("" if unknown).
func (s *MasterState) AgentHostname(id string) string {
	for _, a := range s.Agents {
		if a.ID == id {
			return a.Hostname
		}
	}
	return ""
}
