package master_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// FuzzSchedulerCall throws arbitrary bodies at the scheduler API in both
// encodings: the master must answer every one with an HTTP status (a 4xx for
// anything malformed or naming no framework), never panic, and register no
// framework from a call that is not SUBSCRIBE.
func FuzzSchedulerCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"DECLINE","framework_id":{"value":"x"},"decline":{"offer_ids":[{"value":"o"}]}}`,
		`{"type":"ACCEPT","framework_id":{"value":"x"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}]}}`,
		`{"type":"KILL","framework_id":{"value":"x"},"kill":{"task_id":{"value":"t"}}}`,
		`{"type":"RECONCILE","framework_id":{"value":"x"},"reconcile":{}}`,
		`{"type":"TEARDOWN"}`, `{"type":`, `[]`, `null`, "\x00\xff",
	} {
		f.Add([]byte(seed), false)
	}
	for _, c := range []*scheduler.Call{
		{Type: scheduler.Call_DECLINE, Decline: &scheduler.Call_Decline{}},
		{Type: scheduler.Call_ACKNOWLEDGE, Acknowledge: &scheduler.Call_Acknowledge{UUID: []byte("u")}},
	} {
		b, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	m := master.New(master.Config{Hostname: "fuzz", IP: "127.0.0.1", Port: 5050})
	h := m.Handler()
	f.Fuzz(func(t *testing.T, body []byte, proto bool) {
		mt := codecs.MediaTypeJSON
		if proto {
			mt = codecs.MediaTypeProtobuf
		}
		var call scheduler.Call
		codec := codecs.ByMediaType[encoding.MediaType(mt)]
		if codec.NewDecoder(encoding.SourceReader(bytes.NewReader(body))).Decode(&call) == nil && call.GetType() == scheduler.Call_SUBSCRIBE {
			t.Skip("a valid SUBSCRIBE opens a stream")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/scheduler", bytes.NewReader(body))
		req.Header.Set("Content-Type", string(mt))
		req.Header.Set("Accept", string(mt))
		req.Header.Set("Mesos-Stream-Id", "not-a-stream")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("body %q (%s): status %d, want a 4xx: %s", body, mt, rec.Code, rec.Body.String())
		}
		st := httptest.NewRecorder()
		h.ServeHTTP(st, httptest.NewRequest(http.MethodGet, "/master/state", nil))
		if bytes.Contains(st.Body.Bytes(), []byte(`"tasks":[{`)) {
			t.Fatalf("body %q created a task: %s", body, st.Body.String())
		}
	})
}
