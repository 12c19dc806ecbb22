package master_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

func TestExecutorCrashFailsTasksAndSendsFailure(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("crash"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ei := testExecutor("exec-crash")
	// Two tasks on one executor: the second is a LAUNCH to the running one.
	t1 := taskInfo("c1", o, ei, "cpus:0.2;mem:64", "")
	t2 := taskInfo("c2", o, ei, "cpus:0.2;mem:64", mesostest.TaskDataCrash)
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(t1, t2)}.WithOffers(o.ID)))

	states := map[string][]mesos.TaskState{}
	var failure *scheduler.Event_Failure
	deadline := time.After(8 * time.Second)
	for failure == nil || len(states["c1"]) < 2 || len(states["c2"]) < 2 {
		select {
		case e := <-s.events:
			switch e.Type {
			case scheduler.Event_UPDATE:
				st := e.Update.Status
				states[st.TaskID.Value] = append(states[st.TaskID.Value], st.GetState())
				if st.GetState() == mesos.TASK_FAILED {
					if st.GetSource() != mesos.SOURCE_AGENT || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetMessage() != "Executor terminated" || len(st.UUID) == 0 {
						t.Errorf("TASK_FAILED update %v", st)
					}
				}
				if len(st.UUID) > 0 {
					s.mustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
				}
			case scheduler.Event_FAILURE:
				failure = e.Failure
			case scheduler.Event_OFFERS:
				// Resources freed with the tasks may be offered before the
				// executor's own: hand them back at once.
				s.declineNow(e.Offers.Offers)
			}
		case <-deadline:
			t.Fatalf("states %v failure %v", states, failure)
		}
	}
	for _, id := range []string{"c1", "c2"} {
		if got := states[id]; got[0] != mesos.TASK_RUNNING || got[len(got)-1] != mesos.TASK_FAILED {
			t.Errorf("task %s states %v, want RUNNING then FAILED", id, got)
		}
	}
	if failure.GetExecutorID().GetValue() != "exec-crash" || failure.GetAgentID().GetValue() != c.agent.ID() {
		t.Errorf("FAILURE %v", failure)
	}
	if st := syscallExit(failure.GetStatus()); st != mesostest.CrashExitCode {
		t.Errorf("FAILURE status %d, want exit code %d", st, mesostest.CrashExitCode)
	}
	waitFor(t, 2*time.Second, "TASK_FAILED in state", func() bool {
		task := c.taskState(t, s.fwID, "c1")
		return task != nil && task["state"] == "TASK_FAILED"
	})
	// The executor's resources are released with it: the whole agent is offered again.
	var offered []float64
	for end := time.Now().Add(8 * time.Second); ; {
		left := time.Until(end)
		if left <= 0 {
			t.Fatalf("the whole agent (2 cpus) was never offered again after the crash; offers had %v cpus", offered)
		}
		e := s.next(scheduler.Event_OFFERS, left)
		cpus := scalar(e.Offers.Offers[0].Resources, "cpus")
		if cpus == 2 {
			break
		}
		offered = append(offered, cpus)
		s.declineNow(e.Offers.Offers)
	}
}

// declineNow declines offers without a refuse filter, so their resources
// come back at the next allocation.
func (s *sched) declineNow(offers []mesos.Offer) {
	s.t.Helper()
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	s.mustCall(calls.Decline(ids...).With(calls.RefuseSeconds(0)))
}

// syscallExit extracts the exit code of a wait status.
func syscallExit(status int32) int { return int(status>>8) & 0xff }

func TestExecutorEnvironmentAndSandbox(t *testing.T) {
	c := startCluster(t, func(_ *masterConfig, a *agentConfig) {
		a.ExecutorEnvironment = map[string]string{"KUBEMESOS_EXAMPLE": "from-agent-flag", "PATH": "/usr/bin:/bin"}
	})
	s := subscribe(t, c, frameworkInfo("env"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ti := taskInfo("e1", o, testExecutor("exec-env"), "cpus:0.1;mem:32", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	if st := s.update("e1", 8*time.Second); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	dir := sandboxDir(t, c, s.fwID, "exec-env")
	b, err := os.ReadFile(filepath.Join(dir, mesostest.ExecutorEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	want := map[string]string{
		"KUBEMESOS_EXAMPLE":                    "from-agent-flag",
		"PATH":                                 "/usr/bin:/bin",
		"LIBPROCESS_IP":                        "127.0.0.1",
		"LIBPROCESS_PORT":                      "0",
		"MESOS_AGENT_ENDPOINT":                 c.agentAddr,
		"MESOS_CHECKPOINT":                     "1",
		"MESOS_DIRECTORY":                      dir,
		"MESOS_SANDBOX":                        dir,
		"MESOS_EXECUTOR_ID":                    "exec-env",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "1secs",
		"MESOS_FRAMEWORK_ID":                   s.fwID,
		"MESOS_HTTP_COMMAND_EXECUTOR":          "0",
		"MESOS_RECOVERY_TIMEOUT":               "15mins",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX":       "2secs",
		"MESOS_SLAVE_ID":                       c.agent.ID(),
		"MESOS_SLAVE_PID":                      "slave(1)@" + c.agentAddr,
		mesostest.ExecutorEnv:                  "1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if _, ok := want[k]; !ok && k != "PWD" && k != "SHLVL" && k != "_" {
			t.Errorf("unexpected variable %s in the executor environment", k)
		}
	}
	for _, f := range []string{"stdout", "stderr"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("sandbox %s: %v", f, err)
		}
	}
	var sub map[string]any
	b, _ = os.ReadFile(filepath.Join(dir, mesostest.ExecutorSubscribedFile))
	if err := json.Unmarshal(b, &sub); err != nil {
		t.Fatalf("%s: %v", mesostest.ExecutorSubscribedFile, err)
	}
	if sub["hostname"] != "agent-1" || sub["agent_id"] != c.agent.ID() || sub["attributes"] != 2.0 || sub["container_id"] != filepath.Base(dir) || sub["framework"] != "env" {
		t.Errorf("SUBSCRIBED as seen by the executor: %v", sub)
	}
}

func TestDeclineRefuseSecondsKeepsAgentOut(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("decline"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	start := time.Now()
	s.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(1500 * time.Millisecond)))
	s.none(scheduler.Event_OFFERS, 1200*time.Millisecond)
	s.next(scheduler.Event_OFFERS, 3*time.Second)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("re-offered after %v, want ≥ 1.5s", d)
	}
	// A declined offer is gone: accepting it drops the task.
	ti := taskInfo("late", o, testExecutor("x"), "cpus:0.1;mem:32", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID)))
	if st := s.update("late", 3*time.Second); st.GetState() != mesos.TASK_DROPPED || st.GetReason() != mesos.REASON_INVALID_OFFERS {
		t.Errorf("launch on a declined offer: %v %v", st.GetState(), st.GetReason())
	}
}

func TestBadLaunchGetsTaskError(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("bad"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	big := taskInfo("big", o, testExecutor("x"), "cpus:3;mem:32", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(big)}.WithOffers(o.ID)))
	st := s.update("big", 3*time.Second)
	if st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 {
		t.Errorf("oversized task: %v", st)
	}
	// Nothing was used: the next offer has the whole agent.
	if cpus := scalar(s.next(scheduler.Event_OFFERS, 8*time.Second).Offers.Offers[0].Resources, "cpus"); cpus != 2 {
		t.Errorf("offer after a bad launch has %v cpus", cpus)
	}
}

// Task and executor IDs name sandbox directories on the agent: IDs that are
// not one path component are invalid, as in Mesos.
func TestPathLikeIDsGetTaskError(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("ids"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	escape := taskInfo("../../../escape", o, nil, "cpus:0.1;mem:32", "")
	escape.Command = &mesos.CommandInfo{Shell: ptr(true), Value: ptr("true")}
	ex := testExecutor("x")
	ex.ExecutorID.Value = ".."
	dotdot := taskInfo("dotdot-executor", o, ex, "cpus:0.1;mem:32", "")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(escape, dotdot)}.WithOffers(o.ID)))
	for _, id := range []string{"../../../escape", "dotdot-executor"} {
		if st := s.update(id, 3*time.Second); st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID {
			t.Errorf("%s: %v %v %s, want TASK_ERROR REASON_TASK_INVALID", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
	sub := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"bad-id","id":{"value":"a/b"}}}}`
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1/scheduler", strings.NewReader(sub))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("SUBSCRIBE with framework ID a/b: %s, want 400", resp.Status)
	}
}

func TestExplicitAndImplicitReconcile(t *testing.T) {
	c := startCluster(t)
	s := subscribe(t, c, frameworkInfo("reconcile"))
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ti := taskInfo("r1", o, testExecutor("exec-r"), "cpus:0.1;mem:32", "")
	withData := taskInfo("r2", o, testExecutor("exec-r"), "cpus:0.1;mem:32", "")
	withData.Data = []byte(mesostest.TaskDataStatusData)
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti, withData)}.WithOffers(o.ID)))
	// updates reads the next update of each of ids, acknowledging them.
	updates := func(ids ...string) map[string]mesos.TaskStatus {
		t.Helper()
		got := map[string]mesos.TaskStatus{}
		for len(got) < len(ids) {
			st := s.next(scheduler.Event_UPDATE, 8*time.Second).Update.Status
			if len(st.UUID) > 0 {
				s.mustCall(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.UUID))
			}
			if slices.Contains(ids, st.TaskID.Value) {
				got[st.TaskID.Value] = st
			}
		}
		return got
	}
	launched := updates("r1", "r2")
	if st := launched["r1"]; st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("got %v", st.GetState())
	}
	if st := launched["r2"]; st.GetState() != mesos.TASK_RUNNING || string(st.Data) != mesostest.TaskDataStatusData || st.GetLabels() == nil {
		t.Fatalf("the executor's update of r2: %v", st)
	}
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"r1": c.agent.ID(), "ghost": ""})))
	got := updates("r1", "ghost")
	if st := got["r1"]; st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 {
		t.Errorf("known task: %v", st)
	}
	// Partition-aware framework, no agent given: TASK_UNKNOWN.
	if st := got["ghost"]; st.GetState() != mesos.TASK_UNKNOWN || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Errorf("unknown task: %v", st)
	}
	s.mustCall(calls.Reconcile())
	implicit := updates("r1", "r2")
	if st := implicit["r1"]; st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Errorf("implicit reconcile: %v", st)
	}
	// An answer is a new status: the latest one's data and labels stay out.
	if st := implicit["r2"]; st.GetState() != mesos.TASK_RUNNING || len(st.Data) != 0 || st.GetLabels() != nil {
		t.Errorf("reconciliation answer of r2 %v with data %q, labels %v, want neither", st.GetState(), st.Data, st.GetLabels())
	}
}

// rawSubscribe subscribes with JSON over plain HTTP and returns the stream
// ID, a reader of RecordIO records and the response.
func rawSubscribe(t *testing.T, c *cluster, body string) (string, func() map[string]any, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe: %s %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	next := func() map[string]any {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read record length: %v", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("record length %q", line)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("record %s: %v", b, err)
		}
		return e
	}
	return resp.Header.Get("Mesos-Stream-Id"), next, resp
}

func rawCall(t *testing.T, c *cluster, streamID, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if streamID != "" {
		req.Header.Set("Mesos-Stream-Id", streamID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJSONSubscribeAndBadRequests(t *testing.T) {
	c := startCluster(t)
	streamID, next, _ := rawSubscribe(t, c, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"json-fw","roles":["kubernetes"],"capabilities":[{"type":"MULTI_ROLE"}],"failover_timeout":60}}}`)
	if streamID == "" {
		t.Fatal("no Mesos-Stream-Id")
	}
	e := next()
	if e["type"] != "SUBSCRIBED" {
		t.Fatalf("first event %v", e)
	}
	sub := e["subscribed"].(map[string]any)
	fwID := sub["framework_id"].(map[string]any)["value"].(string)
	mi := sub["master_info"].(map[string]any)
	if mi["id"] != c.master.ID() || mi["version"] != "1.12.0" || mi["address"] == nil || sub["heartbeat_interval_seconds"] != 1.0 {
		t.Errorf("SUBSCRIBED %v", sub)
	}
	var offerID string
	for offerID == "" {
		if e := next(); e["type"] == "OFFERS" {
			offer := e["offers"].(map[string]any)["offers"].([]any)[0].(map[string]any)
			offerID = offer["id"].(map[string]any)["value"].(string)
		}
	}
	before := c.state(t)

	cases := []struct {
		name     string
		streamID string
		body     string
		want     int
	}{
		{"malformed body", streamID, `{"type":`, http.StatusBadRequest},
		{"missing stream id", "", `{"type":"REVIVE","framework_id":{"value":"` + fwID + `"}}`, http.StatusBadRequest},
		{"wrong stream id", "not-the-stream", `{"type":"REVIVE","framework_id":{"value":"` + fwID + `"}}`, http.StatusBadRequest},
		{"unknown framework", streamID, `{"type":"TEARDOWN","framework_id":{"value":"no-such-framework"}}`, http.StatusBadRequest},
		{"missing framework id", streamID, `{"type":"TEARDOWN"}`, http.StatusBadRequest},
		{"decline with wrong stream", "x", `{"type":"DECLINE","framework_id":{"value":"` + fwID + `"},"decline":{"offer_ids":[{"value":"` + offerID + `"}]}}`, http.StatusBadRequest},
		{"subscribe with stream id", streamID, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}`, http.StatusBadRequest},
	}
	for _, tc := range cases {
		if code, body := rawCall(t, c, tc.streamID, tc.body); code != tc.want {
			t.Errorf("%s: got %d (%s), want %d", tc.name, code, body, tc.want)
		}
	}
	// Unsupported media type and unknown path.
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1/scheduler", strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %v %v", resp, err)
	}
	if resp, err := http.Get(c.masterURL + "/api/v1/nothing-here"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %v %v", resp, err)
	}
	// Nothing changed: the offer is still outstanding, the framework still there.
	after := c.state(t)
	if fwOffers(before, fwID) != 1 || fwOffers(after, fwID) != 1 {
		t.Errorf("offers before %d after %d", fwOffers(before, fwID), fwOffers(after, fwID))
	}
	// A good JSON call is 202, and TEARDOWN removes the framework.
	if code, body := rawCall(t, c, streamID, `{"type":"TEARDOWN","framework_id":{"value":"`+fwID+`"}}`); code != http.StatusAccepted {
		t.Fatalf("TEARDOWN: %d %s", code, body)
	}
	if fwOffers(c.state(t), fwID) != -1 {
		t.Errorf("framework still listed after TEARDOWN")
	}
	// Calls for a torn-down framework are refused.
	if code, _ := rawCall(t, c, streamID, `{"type":"REVIVE","framework_id":{"value":"`+fwID+`"}}`); code != http.StatusBadRequest {
		t.Errorf("call after TEARDOWN: %d", code)
	}
}

// fwOffers is the number of offers of a framework in a state, -1 if absent.
func fwOffers(st map[string]any, fwID string) int {
	for _, f := range st["frameworks"].([]any) {
		if fw := f.(map[string]any); fw["id"] == fwID {
			return len(fw["offers"].([]any))
		}
	}
	return -1
}

func TestStateRedirectHealth(t *testing.T) {
	c := startCluster(t)
	st := c.state(t)
	slaves := st["slaves"].([]any)
	if len(slaves) != 1 {
		t.Fatalf("slaves %v", slaves)
	}
	sl := slaves[0].(map[string]any)
	if sl["id"] != c.agent.ID() || sl["hostname"] != "agent-1" || sl["active"] != true {
		t.Errorf("slave %v", sl)
	}
	if res := sl["resources"].(map[string]any); res["cpus"] != 2.0 || res["ports"] != "[31000-32000]" {
		t.Errorf("slave resources %v", res)
	}
	if attrs := sl["attributes"].(map[string]any); attrs["rack"] != "r1" || attrs["zone"] != "a" {
		t.Errorf("slave attributes %v", attrs)
	}
	if st["leader"] != st["pid"] || !strings.HasPrefix(st["pid"].(string), "master@127.0.0.1:") || st["hostname"] != "localhost" {
		t.Errorf("leader/pid/hostname %v %v %v", st["leader"], st["pid"], st["hostname"])
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(c.masterURL + "/master/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "//"+strings.TrimPrefix(c.masterURL, "http://") {
		t.Errorf("redirect %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(c.masterURL + "/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("health %v %v", resp, err)
	}
}
