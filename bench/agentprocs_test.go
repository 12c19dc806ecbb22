package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// fakeAgentEnv makes the test binary, started as an agent process, behave
// as the mode it names instead of running tests.
const fakeAgentEnv = "KUBEMESOS_BENCH_FAKE_AGENT"

// TestMain lets the test binary stand for the kubemesos binary as an
// agent process: `<test binary> bench agents FLAGS` runs RunAgents, as
// `kubemesos bench agents` does (TestRunAllContenders starts them so), and
// fakeAgentEnv selects a misbehaving process.
func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeAgentEnv); mode != "" {
		os.Exit(fakeAgent(mode))
	}
	if len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == AgentsSubcommand {
		c, err := ParseAgentsFlags(os.Args[3:], os.Stderr)
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
			err = RunAgents(ctx, c, os.Stdout)
			stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeAgent(mode string) int {
	switch mode {
	case "ready": // ready, then stops on SIGTERM
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println(AgentsReady)
		<-ctx.Done()
		return 0
	case "exit": // fails before it is ready
		fmt.Fprintln(os.Stderr, "cannot reach the master")
		return 3
	case "silent": // never ready
		time.Sleep(time.Hour)
	case "stubborn": // ready, ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println(AgentsReady)
		time.Sleep(time.Hour)
	case "crash": // ready, then dies on its own
		fmt.Println(AgentsReady)
		time.Sleep(300 * time.Millisecond)
		return 2
	}
	return 1
}

// fakeCommand starts the test binary in mode.
func fakeCommand(t *testing.T, mode string) []string {
	t.Setenv(fakeAgentEnv, mode)
	return []string{os.Args[0]}
}

var fakeBase = AgentsConfig{Master: "127.0.0.1:1", Hostname: "h", Resources: "cpus:1", Kubeconfig: "k", ClientQPS: 1, ClientBurst: 1}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestAgentProcsStartAndStopByPID(t *testing.T) {
	p, err := StartAgentProcs(t.Context(), fakeCommand(t, "ready"), fakeBase, []int{2, 2, 1}, t.TempDir(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pids := p.PIDs()
	if len(pids) != 3 {
		t.Fatalf("pids %v, want 3", pids)
	}
	u, err := p.Usage()
	if err != nil || u.PeakRSS <= 0 {
		t.Fatalf("usage %+v, %v: want the processes' summed RSS", u, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
}

func TestAgentProcsExitBeforeReady(t *testing.T) {
	dir := t.TempDir()
	_, err := StartAgentProcs(t.Context(), fakeCommand(t, "exit"), fakeBase, []int{1}, dir, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "agents-0.log") {
		t.Fatalf("err = %v, want the exit status and the log", err)
	}
	log, _ := os.ReadFile(dir + "/agents-0.log")
	if !strings.Contains(string(log), "cannot reach the master") {
		t.Errorf("log %q: want the process's standard error", log)
	}
}

func TestAgentProcsNotReadyInTime(t *testing.T) {
	_, err := StartAgentProcs(t.Context(), fakeCommand(t, "silent"), fakeBase, []int{1, 1}, t.TempDir(), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not registered within") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestAgentProcsKillAfterGrace(t *testing.T) {
	defer func(g time.Duration) { agentStopGrace = g }(agentStopGrace)
	agentStopGrace = 300 * time.Millisecond
	p, err := StartAgentProcs(t.Context(), fakeCommand(t, "stubborn"), fakeBase, []int{1}, t.TempDir(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.PIDs()[0]
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop = %v, want the kill reported", err)
	}
	if alive(pid) {
		t.Errorf("process %d survived", pid)
	}
}

func TestAgentProcsCrashIsReported(t *testing.T) {
	p, err := StartAgentProcs(t.Context(), fakeCommand(t, "crash"), fakeBase, []int{1}, t.TempDir(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The process exits 300 ms after it is ready; a loaded machine may take longer.
	var uerr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, uerr = p.Usage(); uerr != nil {
			break
		}
	}
	if uerr == nil || !strings.Contains(uerr.Error(), "exit status 2") {
		t.Errorf("usage after a crash = %v, want the exit", uerr)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Errorf("stop after a crash = %v, want the exit", err)
	}
}

func TestAgentProcsBadConfig(t *testing.T) {
	bad := fakeBase
	bad.Master = ""
	if _, err := StartAgentProcs(t.Context(), fakeCommand(t, "ready"), bad, []int{1}, t.TempDir(), time.Second); err == nil {
		t.Error("started without a master")
	}
	if _, err := StartAgentProcs(t.Context(), nil, fakeBase, []int{1}, t.TempDir(), time.Second); err == nil {
		t.Error("started without a command")
	}
}

// Real agent processes (this binary as `kubemesos bench agents`) register
// every agent of their share with a master, under distinct hostnames.
func TestAgentProcsRegisterWithMaster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	m := master.New(master.Config{Hostname: "127.0.0.1"})
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	kubeconfig := t.TempDir() + "/kubeconfig"
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := AgentsConfig{Master: ln.Addr().String(), Hostname: "t", Resources: "cpus:2;mem:4096", Kubeconfig: kubeconfig, ClientQPS: 10, ClientBurst: 10}
	exe, _ := os.Executable()
	p, err := StartAgentProcs(t.Context(), []string{exe, "bench"}, base, []int{3, 2}, t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Slaves []struct {
			Hostname string `json:"hostname"`
		} `json:"slaves"`
	}
	err = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range state.Slaves {
		got = append(got, s.Hostname)
	}
	slices.Sort(got)
	want := []string{"t-p0-sim0", "t-p0-sim1", "t-p0-sim2", "t-p1-sim0", "t-p1-sim1"}
	if !slices.Equal(got, want) {
		t.Errorf("agents %v, want %v", got, want)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
