// Package cptest starts a real control plane (devcluster/controlplane) for a
// test and stops it when the test ends.
//
// A test is skipped, with a message saying how to build them, only when the
// Kubernetes binaries are missing; set KUBEMESOS_REQUIRE_BINARIES=1 (as CI
// does) to fail instead. Any other start failure fails the test.
package cptest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

// LogTailBytes is how much of each component's log a failed test prints.
const LogTailBytes = 4000

// Option adjusts the Options a control plane starts with.
type Option func(*controlplane.Options)

// WithControllerManager also runs kube-controller-manager.
func WithControllerManager() Option {
	return func(o *controlplane.Options) { o.ControllerManager = true }
}

// WithOptions lets the caller set any option; Dir defaults to a t.TempDir().
func WithOptions(f func(*controlplane.Options)) Option { return Option(f) }

// Start starts a control plane in a temporary directory and registers its
// Stop with t.Cleanup; when the test failed, the cleanup also prints the tail
// of each component's log.
func Start(t testing.TB, opts ...Option) *controlplane.ControlPlane {
	t.Helper()
	var o controlplane.Options
	for _, f := range opts {
		f(&o)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	c, err := controlplane.Start(t.Context(), o)
	if errors.Is(err, bindir.ErrMissing) && os.Getenv(bindir.RequireEnv) != "1" {
		t.Skipf("real control plane not available: %v", err)
	}
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
		if t.Failed() {
			for _, name := range []string{controlplane.EtcdBinary, controlplane.APIServerBinary, controlplane.ControllerManagerBinary} {
				log := filepath.Join(c.LogDir, name+".log")
				if tail := proc.Tail(log, LogTailBytes); tail != "" {
					t.Logf("--- last %d bytes of %s ---\n%s", LogTailBytes, log, tail)
				}
			}
		}
	})
	return c
}
