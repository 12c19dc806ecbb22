package kubeletexecutor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
)

// testAgent serves the Mesos v1 executor API over HTTP in protobuf, as an
// agent does: SUBSCRIBE answers with a RecordIO stream of events; UPDATE is
// recorded and acknowledged on the stream.
type testAgent struct {
	t      *testing.T
	srv    *httptest.Server
	agent  mesos.AgentInfo
	fwInfo mesos.FrameworkInfo

	mu         sync.Mutex
	events     chan mesosexec.Event
	updates    chan mesos.TaskStatus
	subscribes chan mesosexec.Call_Subscribe
	// drop ends the current SUBSCRIBE stream, as an agent restart does.
	drop chan struct{}
	// noAck stops acknowledging updates.
	noAck bool
	// failUpdates answers UPDATE calls with 503 (an agent that cannot take them now).
	failUpdates bool
	// execResources are the executor's own resources in SUBSCRIBED's executor info.
	execResources []mesos.Resource
}

func newTestAgent(t *testing.T) *testAgent {
	a := &testAgent{
		t:          t,
		agent:      mesos.AgentInfo{Hostname: "node-a", ID: &mesos.AgentID{Value: "S0"}},
		fwInfo:     mesos.FrameworkInfo{Name: "kubemesos", User: "root", ID: &mesos.FrameworkID{Value: "fw"}},
		events:     make(chan mesosexec.Event, 16),
		updates:    make(chan mesos.TaskStatus, 16),
		subscribes: make(chan mesosexec.Call_Subscribe, 4),
		drop:       make(chan struct{}),
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAgent) endpoint() string { return strings.TrimPrefix(a.srv.URL, "http://") }

func (a *testAgent) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != agentAPIPath || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf on "+agentAPIPath, http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var call mesosexec.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch call.GetType() {
	case mesosexec.Call_SUBSCRIBE:
		a.subscribes <- *call.Subscribe
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		a.write(w, mesosexec.Event{Type: mesosexec.Event_SUBSCRIBED, Subscribed: &mesosexec.Event_Subscribed{
			ExecutorInfo:  mesos.ExecutorInfo{ExecutorID: call.ExecutorID, Type: mesos.ExecutorInfo_CUSTOM, Resources: a.execResources},
			FrameworkInfo: a.fwInfo, AgentInfo: a.agent}})
		for {
			select {
			case <-r.Context().Done():
				return
			case <-a.drop:
				return
			case ev := <-a.events:
				a.write(w, ev)
			}
		}
	case mesosexec.Call_UPDATE:
		a.updates <- call.Update.Status
		a.mu.Lock()
		noAck, fail := a.noAck, a.failUpdates
		a.mu.Unlock()
		if fail {
			http.Error(w, "agent busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		if noAck {
			return
		}
		a.events <- mesosexec.Event{Type: mesosexec.Event_ACKNOWLEDGED, Acknowledged: &mesosexec.Event_Acknowledged{
			TaskID: call.Update.Status.TaskID, UUID: call.Update.Status.UUID}}
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// write sends one RecordIO record: "<length>\n<protobuf>".
func (a *testAgent) write(w http.ResponseWriter, ev mesosexec.Event) {
	b, err := ev.Marshal()
	if err != nil {
		a.t.Errorf("marshal event: %v", err)
		return
	}
	fmt.Fprintf(w, "%d\n", len(b))
	_, _ = w.Write(b)
	w.(http.Flusher).Flush()
}

func (a *testAgent) nextUpdate(t *testing.T) mesos.TaskStatus {
	t.Helper()
	select {
	case u := <-a.updates:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no status update within 10s")
	}
	return mesos.TaskStatus{}
}

func (a *testAgent) mesosConfig() config.Config {
	return config.Config{
		FrameworkID: "fw", ExecutorID: "kubelet-executor", AgentEndpoint: a.endpoint(),
		Directory: a.t.TempDir(), Sandbox: a.t.TempDir(), ExecutorShutdownGracePeriod: 3 * time.Second,
		Checkpoint: true, RecoveryTimeout: 10 * time.Second, SubscriptionBackoffMax: 200 * time.Millisecond,
	}
}

// readyNode is a Node that is already registered and Ready (e.g. a kubelet
// started by someone else); it records its lifecycle.
type readyNode struct {
	mu               sync.Mutex
	started, stopped int
	name             string
}

func (n *readyNode) Start(_ context.Context, agent mesos.AgentInfo, _ node.Resources) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.started++
	n.name = agent.GetHostname()
	return n.name, nil
}
func (n *readyNode) WaitReady(context.Context) error { return nil }
func (n *readyNode) Stop(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped++
	return nil
}
