package agent

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

// FuzzExecutorCall throws arbitrary bodies at the executor API of an agent
// that runs one custom executor: every body must be answered with a 2xx or
// 4xx status, never a panic or a 5xx, and no call may change which tasks the
// executor runs.
func FuzzExecutorCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"UPDATE","framework_id":{"value":"fw"},"executor_id":{"value":"ex"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"dQ=="}}}`,
		`{"type":"UPDATE","framework_id":{"value":"fw"},"executor_id":{"value":"ex"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_STAGING","uuid":"dQ=="}}}`,
		`{"type":"UPDATE","framework_id":{"value":"fw"},"executor_id":{"value":"ex"},"update":{"status":{"task_id":{"value":"t"}}}}`,
		`{"type":"MESSAGE","framework_id":{"value":"fw"},"executor_id":{"value":"ex"}}`,
		`{"type":"MESSAGE","framework_id":{"value":"nope"},"executor_id":{"value":"ex"},"message":{"data":"eA=="}}`,
		`{"type":"HEARTBEAT","framework_id":{"value":"fw"},"executor_id":{"value":"ex"}}`,
		`{"type":"SUBSCRIBE","framework_id":{"value":"fw"},"executor_id":{"value":"other"},"subscribe":{}}`,
		`{"type":`, `[]`, `null`, "\x00\xff",
	} {
		f.Add([]byte(seed), false)
	}
	for _, c := range []*executor.Call{
		{Type: executor.Call_UPDATE, FrameworkID: mesos.FrameworkID{Value: "fw"}, ExecutorID: mesos.ExecutorID{Value: "ex"},
			Update: &executor.Call_Update{Status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}, State: mesos.TASK_FAILED.Enum(), UUID: []byte("u")}}},
		{Type: executor.Call_MESSAGE, FrameworkID: mesos.FrameworkID{Value: "fw"}, ExecutorID: mesos.ExecutorID{Value: "nope"}},
	} {
		b, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	a, err := New(Config{Master: "127.0.0.1:1", WorkDir: f.TempDir(), Hostname: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	// The master is never reached: deliveries in the background fail at once.
	a.client.Timeout = 100 * time.Millisecond
	run := &executorRun{
		fwID:  "fw",
		info:  mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "ex"}},
		done:  make(chan struct{}),
		tasks: map[string]*agentTask{"t": {info: mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t"}}, state: mesos.TASK_RUNNING}},
	}
	a.frameworks["fw"] = &frameworkState{
		info:      mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: "fw"}},
		executors: map[string]*executorRun{"ex": run},
	}
	h := a.Handler()
	f.Cleanup(a.wg.Wait)
	f.Fuzz(func(t *testing.T, body []byte, proto bool) {
		mt := codecs.MediaTypeJSON
		if proto {
			mt = codecs.MediaTypeProtobuf
		}
		var call executor.Call
		codec := codecs.ByMediaType[encoding.MediaType(mt)]
		if codec.NewDecoder(encoding.SourceReader(bytes.NewReader(body))).Decode(&call) == nil &&
			call.GetType() == executor.Call_SUBSCRIBE && call.FrameworkID.Value == "fw" && call.ExecutorID.Value == "ex" {
			t.Skip("a valid SUBSCRIBE opens a stream")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/executor", bytes.NewReader(body))
		req.Header.Set("Content-Type", string(mt))
		req.Header.Set("Accept", string(mt))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q (%s): status %d: %s", body, mt, rec.Code, rec.Body.String())
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.frameworks) != 1 || len(run.tasks) != 1 || run.tasks["t"] == nil || len(run.pending) != 0 {
			t.Fatalf("body %q (%s) changed the executor's tasks: %d frameworks, tasks %v", body, mt, len(a.frameworks), run.tasks)
		}
	})
}
