package mesostest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
)

// EtcdStartTimeout is how long StartEtcd waits for etcd to report healthy.
const EtcdStartTimeout = 15 * time.Second

const (
	etcdBinary   = "etcd" // as hack/tools builds it into bin/
	logTailBytes = 4000   // how much of etcd's log a failed test prints
)

// StartEtcd runs the real etcd from bindir.Default on free
// loopback ports, in a temporary directory, until the test ends, and returns
// its client URL ("http://127.0.0.1:port") once /health answers OK. Without
// the binary the test is skipped, or fails when bindir.RequireEnv is
// "1". A failed test logs the tail of etcd's log.
func StartEtcd(t testing.TB) (clientURL string) {
	t.Helper()
	binDir, err := bindir.Default()
	if err == nil {
		err = bindir.Check(binDir, etcdBinary)
	}
	if errors.Is(err, bindir.ErrMissing) && os.Getenv(bindir.RequireEnv) != "1" {
		t.Skipf("etcd not available: %v", err)
	}
	if err != nil {
		t.Fatalf("etcd binary: %v", err)
	}
	cu, pu := "http://"+FreeAddr(t), "http://"+FreeAddr(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "etcd.log")
	// Stopped by its cleanup, after those of the masters started later.
	ctx, cancel := context.WithCancel(context.Background())
	p, err := proc.Start(ctx, proc.Spec{
		Name: "etcd", Path: filepath.Join(binDir, etcdBinary), LogFile: logFile,
		Args: []string{"--name", "mesostest", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", cu, "--advertise-client-urls", cu,
			"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu, "--initial-cluster", "mesostest=" + pu},
	})
	if err != nil {
		cancel()
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		_ = p.Stop(5 * time.Second)
		cancel()
		if t.Failed() {
			if tail := proc.Tail(logFile, logTailBytes); tail != "" {
				t.Logf("--- last %d bytes of %s ---\n%s", logTailBytes, logFile, tail)
			}
		}
	})
	Eventually(t, EtcdStartTimeout, "etcd healthy", func() (bool, string) {
		select {
		case <-p.Exited():
			t.Fatalf("etcd exited: %v", p.Err())
		default:
		}
		resp, err := http.Get(cu + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return cu
}
