package master_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

func rawOperatorCall(t *testing.T, c *cluster, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.masterURL+"/api/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// UPDATE_QUOTA over the operator API takes effect on allocation: a limit
// caps a greedy framework; REMOVE_QUOTA lifts it. Invalid configs are 400s.
func TestOperatorQuotaAndWeights(t *testing.T) {
	c, _ := startSimCluster(t, master.Config{}, 6, "cpus:1;mem:1024;disk:1000")
	if code, body := rawOperatorCall(t, c, `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"capped","guarantees":{"cpus":{"value":3}},"limits":{"cpus":{"value":2}}}]}}`); code != http.StatusBadRequest {
		t.Fatalf("guarantee above limit: %d %s, want 400", code, body)
	}
	if code, body := rawOperatorCall(t, c, `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"capped","limits":{"cpus":{"value":2}}}]}}`); code != http.StatusOK {
		t.Fatalf("UPDATE_QUOTA: %d %s", code, body)
	}
	code, body := rawOperatorCall(t, c, `{"type":"GET_QUOTA"}`)
	if code != http.StatusOK || !strings.Contains(body, `"capped"`) || !strings.Contains(body, `"limits"`) {
		t.Fatalf("GET_QUOTA: %d %s", code, body)
	}
	g := startGreedy(t, c, roleFramework("capped", nil, "capped"), 0)
	waitFor(t, 5*time.Second, "2 cpus", func() bool { return g.cpus() == 2 })
	time.Sleep(500 * time.Millisecond)
	if v := g.cpus(); v != 2 {
		t.Fatalf("capped role holds %.1f cpus, want its limit 2", v)
	}
	if code, body := rawOperatorCall(t, c, `{"type":"REMOVE_QUOTA","remove_quota":{"role":"capped"}}`); code != http.StatusOK {
		t.Fatalf("REMOVE_QUOTA: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "all 6 cpus once the limit is gone", func() bool { return g.cpus() == 6 })

	if code, body := rawOperatorCall(t, c, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"capped","weight":-1}]}}`); code != http.StatusBadRequest {
		t.Fatalf("negative weight: %d %s, want 400", code, body)
	}
	if code, body := rawOperatorCall(t, c, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"capped","weight":2.5}]}}`); code != http.StatusOK {
		t.Fatalf("UPDATE_WEIGHTS: %d %s", code, body)
	}
	if code, body := rawOperatorCall(t, c, `{"type":"GET_WEIGHTS"}`); code != http.StatusOK || !strings.Contains(body, "2.5") {
		t.Fatalf("GET_WEIGHTS: %d %s", code, body)
	}
}
