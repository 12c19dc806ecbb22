package master_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// operatorJSON posts a JSON operator call and decodes the JSON answer.
func operatorJSON(t *testing.T, c *cluster, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(c.masterURL+"/api/v1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s %q %s", body, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return out
}

// operatorProto posts a protobuf operator call and decodes the answer.
func operatorProto(t *testing.T, c *cluster, typ opv1.Call_Type) *opv1.Response {
	t.Helper()
	call := opv1.Call{Type: typ}
	b, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Accept", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", typ, resp.Status, body)
	}
	var out opv1.Response
	if err := out.Unmarshal(body); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return &out
}

// sameShape reports reference keys missing from got, recursively through
// objects and the first element of arrays.
func sameShape(path string, ref, got any) []string {
	var missing []string
	switch r := ref.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (not an object)"}
		}
		for k, v := range r {
			gv, ok := g[k]
			if !ok {
				missing = append(missing, path+"."+k)
				continue
			}
			missing = append(missing, sameShape(path+"."+k, v, gv)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{path + " (not an array)"}
		}
		if len(r) > 0 && len(g) > 0 {
			missing = append(missing, sameShape(path+"[]", r[0], sameName(r[0], g))...)
		}
	}
	return missing
}

// sameName picks the element of got to compare with the reference element
// ref: for resources (objects with a "name") the one of the same name, as
// lists of resources come in no fixed order and differ in kinds (a ports
// range, a cpus scalar); otherwise the first.
func sameName(ref any, got []any) any {
	if r, ok := ref.(map[string]any); ok {
		if name, ok := r["name"].(string); ok {
			for _, g := range got {
				if gm, ok := g.(map[string]any); ok && gm["name"] == name {
					return g
				}
			}
		}
	}
	return got[0]
}

func TestOperatorAPIAndMetrics(t *testing.T) {
	c := startCluster(t)
	info := frameworkInfo("operator")
	s := subscribe(t, c, info)
	o := s.next(scheduler.Event_OFFERS, 5*time.Second).Offers.Offers[0]
	ti := taskInfo("op-1", o, nil, "cpus:0.5;mem:64", "")
	ti.Command = &mesos.CommandInfo{Shell: ptr(true), Value: ptr("sleep 60")}
	done := taskInfo("op-2", o, nil, "cpus:0.1;mem:32", "")
	done.Command = &mesos.CommandInfo{Shell: ptr(true), Value: ptr("exit 0")}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(ti, done)}.WithOffers(o.ID)))
	waitState(s, "op-1", mesos.TASK_RUNNING)
	waitState(s, "op-2", mesos.TASK_FINISHED)

	// GET_STATE in JSON has every field of a real Mesos 1.12 answer.
	refBytes, err := os.ReadFile("/work/shared/reference/mesos-1.12/operator-get-state.json")
	if err != nil {
		t.Skipf("reference payload: %v", err)
	}
	var ref map[string]any
	if err := json.Unmarshal(refBytes, &ref); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	// The resources op-2 freed are offered again (the scheduler never
	// declines), so an offer is outstanding and its resources show.
	waitFor(t, 5*time.Second, "completed task and an outstanding offer in GET_STATE", func() bool {
		got = operatorJSON(t, c, `{"type":"GET_STATE"}`)
		tasks := got["get_state"].(map[string]any)["get_tasks"].(map[string]any)
		ct, _ := tasks["completed_tasks"].([]any)
		agents := got["get_state"].(map[string]any)["get_agents"].(map[string]any)["agents"].([]any)
		offered, _ := agents[0].(map[string]any)["offered_resources"].([]any)
		return len(ct) == 1 && len(offered) > 0
	})
	// The offers themselves differ in IDs and resources; offer_constraints
	// is newer than mesos-go v0.0.11's FrameworkInfo; command tasks have no
	// executor here; reason and message only belong to some updates.
	rs := ref["get_state"].(map[string]any)
	delete(rs["get_frameworks"].(map[string]any)["frameworks"].([]any)[0].(map[string]any), "offers")
	delete(rs["get_frameworks"].(map[string]any)["frameworks"].([]any)[0].(map[string]any), "offer_constraints")
	delete(rs["get_agents"].(map[string]any)["agents"].([]any)[0].(map[string]any)["agent_info"].(map[string]any), "checkpoint") // not in mesos-go's AgentInfo
	refTask := rs["get_tasks"].(map[string]any)["completed_tasks"].([]any)[0].(map[string]any)
	delete(refTask, "executor_id")
	for _, k := range []string{"executor_id", "reason", "message"} {
		delete(refTask["statuses"].([]any)[0].(map[string]any), k)
	}
	// The reference task has only its terminal status; compare ours.
	gotTask := got["get_state"].(map[string]any)["get_tasks"].(map[string]any)["completed_tasks"].([]any)[0].(map[string]any)
	gs := gotTask["statuses"].([]any)
	gotTask["statuses"] = []any{gs[len(gs)-1]}
	if missing := sameShape("", ref, got); len(missing) > 0 {
		t.Errorf("GET_STATE lacks fields of the reference: %v", missing)
	}
	ct := got["get_state"].(map[string]any)["get_tasks"].(map[string]any)["completed_tasks"].([]any)[0].(map[string]any)
	last := gs[len(gs)-1].(map[string]any)
	if ct["state"] != "TASK_FINISHED" || ct["status_update_state"] != "TASK_FINISHED" || ct["status_update_uuid"] != last["uuid"] || last["source"] != "SOURCE_EXECUTOR" {
		t.Errorf("completed task: %v", ct)
	}

	// The same in protobuf.
	st := operatorProto(t, c, opv1.Call_GET_STATE)
	if st.Type != opv1.Response_GET_STATE || len(st.GetState.GetAgents.Agents) != 1 || len(st.GetState.GetFrameworks.Frameworks) != 1 ||
		len(st.GetState.GetTasks.Tasks) != 1 || st.GetState.GetTasks.Tasks[0].GetState() != mesos.TASK_RUNNING {
		t.Fatalf("protobuf GET_STATE: %+v", st)
	}
	if fw := st.GetState.GetFrameworks.Frameworks[0]; fw.FrameworkInfo.GetID().GetValue() != s.fwID || !fw.Connected || !fw.Active {
		t.Errorf("framework: %+v", fw)
	}
	for typ, check := range map[opv1.Call_Type]func(*opv1.Response) bool{
		opv1.Call_GET_HEALTH:     func(r *opv1.Response) bool { return r.GetHealth.Healthy },
		opv1.Call_GET_VERSION:    func(r *opv1.Response) bool { return r.GetVersion.VersionInfo.Version == master.Version },
		opv1.Call_GET_AGENTS:     func(r *opv1.Response) bool { return len(r.GetAgents.Agents) == 1 && r.GetAgents.Agents[0].Active },
		opv1.Call_GET_FRAMEWORKS: func(r *opv1.Response) bool { return len(r.GetFrameworks.Frameworks) == 1 },
		opv1.Call_GET_EXECUTORS:  func(r *opv1.Response) bool { return r.GetExecutors != nil },
		opv1.Call_GET_TASKS: func(r *opv1.Response) bool {
			return len(r.GetTasks.Tasks) == 1 && len(r.GetTasks.CompletedTasks) == 1
		},
		opv1.Call_GET_ROLES: func(r *opv1.Response) bool {
			for _, role := range r.GetRoles.Roles {
				if role.Name == "kubernetes" && len(role.Frameworks) == 1 && scalar(role.Resources, "cpus") >= 0.5 {
					return true
				}
			}
			return false
		},
		opv1.Call_GET_MASTER: func(r *opv1.Response) bool {
			return r.GetMaster.MasterInfo.GetID() == c.master.ID() && r.GetMaster.GetElectedTime() > 0
		},
		opv1.Call_GET_FLAGS: func(r *opv1.Response) bool {
			for _, f := range r.GetFlags.Flags {
				if f.Name == "allocation_interval" {
					return true
				}
			}
			return false
		},
	} {
		if r := operatorProto(t, c, typ); !check(r) {
			t.Errorf("%s: unexpected answer %+v", typ, r)
		}
	}
	h := operatorJSON(t, c, `{"type":"GET_HEALTH"}`)
	if h["type"] != "GET_HEALTH" || h["get_health"].(map[string]any)["healthy"] != true {
		t.Errorf("JSON GET_HEALTH: %v", h)
	}
	if code, _ := postStatus(t, c.masterURL+"/api/v1", "application/json", `{"type":"NOT_A_CALL"}`); code != http.StatusBadRequest {
		t.Errorf("unknown call type: %d", code)
	}
	if code, _ := postStatus(t, c.masterURL+"/api/v1", "text/plain", `x`); code != http.StatusUnsupportedMediaType {
		t.Errorf("bad content type: %d", code)
	}

	// Metrics agree with the state.
	m := metrics(t, c.masterURL)
	for name, want := range map[string]float64{
		"master/elected": 1, "master/slaves_active": 1, "master/frameworks_active": 1,
		"master/tasks_running": 1, "master/tasks_finished": 1, "master/tasks_failed": 0,
		"master/cpus_total": 2, "master/mem_total": 4096, "master/messages_register_framework": 1,
		"master/messages_launch_tasks": 1, "master/messages_register_slave": 1,
	} {
		if v, ok := m[name]; !ok || v != want {
			t.Errorf("metric %s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if m["master/cpus_used"] < 0.5 || m["master/uptime_secs"] <= 0 {
		t.Errorf("cpus_used %v uptime %v", m["master/cpus_used"], m["master/uptime_secs"])
	}
}

func waitState(s *sched, id string, want mesos.TaskState) {
	s.t.Helper()
	for {
		st := s.update(id, 10*time.Second)
		if st.GetState() == want {
			return
		}
		if isTerminalState(st.GetState()) {
			s.t.Fatalf("task %s: %s, want %s", id, st.GetState(), want)
		}
	}
}

func isTerminalState(st mesos.TaskState) bool {
	switch st {
	case mesos.TASK_STAGING, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING:
		return false
	}
	return true
}

func postStatus(t *testing.T, url, ct, body string) (int, http.Header) {
	t.Helper()
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestFrameworkAuthentication(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/credentials.json"
	if err := os.WriteFile(path, []byte(`{"credentials":[{"principal":"kube","secret":"s3cret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := master.LoadCredentials(path)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials: %v %v", creds, err)
	}
	c := startCluster(t, func(mc *master.Config, _ *agentConfig) {
		mc.Auth = master.AuthConfig{AuthenticateFrameworks: true, Credentials: creds}
	})
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"auth","principal":"kube"}}}`
	try := func(user, pass, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1/scheduler", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, cred := range [][2]string{{"", ""}, {"kube", "wrong"}, {"other", "s3cret"}} {
		resp := try(cred[0], cred[1], body)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-scheduler"` {
			t.Errorf("credentials %v: %s %q", cred, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp := try("kube", "s3cret", strings.Replace(body, `"principal":"kube"`, `"principal":"else"`, 1)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("principal mismatch: %s", resp.Status)
	}
	resp := try("kube", "s3cret", body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mesos-Stream-Id") == "" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("right credentials: %s %s", resp.Status, b)
	}
	if m := metrics(t, c.masterURL); m["master/frameworks_active"] != 1 || m["master/messages_authenticate_failed"] != 3 {
		t.Errorf("metrics after authentication: active %v failed %v", m["master/frameworks_active"], m["master/messages_authenticate_failed"])
	}
}
