package mesostest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/agent"
	"github.com/kubemesos/kubemesos/mesoslocal/master"
)

// StopTimeout is how long Stop waits for a master or agent to return from
// Serve before it fails the test.
const StopTimeout = 10 * time.Second

// RegisterTimeout is how long StartAgent waits for the agent to register.
const RegisterTimeout = 10 * time.Second

// Listen listens on a free loopback port, failing the test if it cannot.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

// ListenAt listens on addr, retrying for a few seconds while a server that
// just stopped there still holds it.
func ListenAt(t testing.TB, addr string) net.Listener {
	t.Helper()
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("listen %s: %v", addr, err)
	return nil
}

// FreeAddr is a loopback host:port that was free a moment ago, for a program
// that must be told its address before it listens (another process may take
// it first; the caller's start fails then).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	defer ln.Close()
	return ln.Addr().String()
}

// Master is an in-process mesoslocal master serving on a loopback port.
type Master struct {
	*master.Master
	// Addr is the host:port it listens on; URL is "http://" + Addr.
	Addr, URL string
	stop      func()
}

// Stop stops the master and waits for it, failing the test if Serve
// returned an error or did not return within StopTimeout. It is also called
// when the test ends; later calls do nothing.
func (m *Master) Stop() { m.stop() }

// StartMaster starts a master with cfg on a free loopback port.
func StartMaster(t testing.TB, cfg master.Config) *Master {
	t.Helper()
	return serveMaster(t, Listen(t), cfg)
}

// StartMasterAt starts a master with cfg on addr, as a restarted master
// comes back on the address its agents and frameworks know.
func StartMasterAt(t testing.TB, addr string, cfg master.Config) *Master {
	t.Helper()
	return serveMaster(t, ListenAt(t, addr), cfg)
}

func serveMaster(t testing.TB, ln net.Listener, cfg master.Config) *Master {
	m := &Master{Master: master.New(cfg), Addr: ln.Addr().String()}
	m.URL = "http://" + m.Addr
	m.stop = serve(t, "master "+m.Addr, func(ctx context.Context) error { return m.Serve(ctx, ln) })
	return m
}

// Agent is an in-process mesoslocal agent serving on a loopback port.
type Agent struct {
	*agent.Agent
	// Addr is the host:port it listens on.
	Addr string
	stop func()
}

// Stop stops the agent and waits for it, as Master.Stop does. Executors of
// checkpointing frameworks keep running, as when a real agent stops.
func (a *Agent) Stop() { a.stop() }

// StartAgent starts an agent with cfg on a free loopback port and waits up to
// RegisterTimeout for it to register with its master.
func StartAgent(t testing.TB, cfg agent.Config) *Agent {
	t.Helper()
	return StartAgentAt(t, "127.0.0.1:0", cfg)
}

// StartAgentAt is StartAgent on addr: a restarted agent comes back there
// with the same work directory to recover its executors.
func StartAgentAt(t testing.TB, addr string, cfg agent.Config) *Agent {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatalf("agent %s: %v", cfg.Hostname, err)
	}
	ln := ListenAt(t, addr)
	sa := &Agent{Agent: a, Addr: ln.Addr().String()}
	sa.stop = serve(t, "agent "+sa.Addr, func(ctx context.Context) error { return a.Serve(ctx, ln) })
	select {
	case <-a.Registered():
	case <-time.After(RegisterTimeout):
		t.Fatalf("agent %s did not register with %s within %s", cfg.Hostname, cfg.Master, RegisterTimeout)
	}
	return sa
}

// serve runs run until the returned stop is called or the test ends.
func serve(t testing.TB, name string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(StopTimeout):
			t.Errorf("%s did not stop within %s", name, StopTimeout)
		}
	})
	t.Cleanup(stop)
	return stop
}
