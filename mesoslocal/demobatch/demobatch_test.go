package demobatch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/demobatch"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
	"github.com/kubemesos/kubemesos/mesoslocal/mesostest"
)

// A batch of short command tasks runs to completion against an in-process
// master and agent; the framework then tears itself down with every task
// TASK_FINISHED in its completed tasks.
func TestDemoBatchCompletes(t *testing.T) {
	m := mesostest.StartMaster(t, master.Config{Hostname: "localhost", AllocationInterval: 50 * time.Millisecond})
	mesostest.StartAgent(t, agent.Config{Master: m.Addr, Hostname: "agent-1", WorkDir: t.TempDir(), Resources: "cpus:2;mem:1024", RegistrationBackoff: 100 * time.Millisecond})

	const n = 24 // 8 run at once: three waves
	var progress []demobatch.Progress
	rctx, rcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer rcancel()
	p, err := demobatch.Run(rctx, demobatch.Config{
		Master: m.Addr, Role: "batch", Tasks: n, CPUs: 0.25, Mem: 64, Duration: 200 * time.Millisecond,
		Progress: func(p demobatch.Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, p)
	}
	if p.Finished != n || p.Failed != 0 || len(progress) != n {
		t.Fatalf("progress %+v, %d reports", p, len(progress))
	}
	if p.Elapsed < 3*200*time.Millisecond {
		t.Errorf("%d tasks of 200ms on 8 slots took only %v", n, p.Elapsed)
	}

	resp, err := http.Get(m.URL + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		CompletedFrameworks []struct {
			Name           string `json:"name"`
			Role           string `json:"role"`
			CompletedTasks []struct {
				State string `json:"state"`
			} `json:"completed_tasks"`
		} `json:"completed_frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.CompletedFrameworks) != 1 || st.CompletedFrameworks[0].Name != "demo-batch" || st.CompletedFrameworks[0].Role != "batch" {
		t.Fatalf("completed frameworks %+v", st.CompletedFrameworks)
	}
	finished := 0
	for _, task := range st.CompletedFrameworks[0].CompletedTasks {
		if task.State == "TASK_FINISHED" {
			finished++
		}
	}
	if finished != n {
		t.Errorf("%d TASK_FINISHED in completed_tasks, want %d", finished, n)
	}
}
