package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubemesos/kubemesos/internal/bindir"
)

// KubeSchedulerContender is kube-scheduler's name in the table.
const KubeSchedulerContender = "kube-scheduler"

// KubeSchedulerBinary is looked up in Env.BinDir.
const KubeSchedulerBinary = "kube-scheduler"

// kubeSchedulerStopGrace is how long kube-scheduler gets between SIGTERM
// and SIGKILL.
const kubeSchedulerStopGrace = 10 * time.Second

// KubeScheduler runs kube-scheduler from bin/ with its defaults (the
// default profile and plugins, adaptive percentageOfNodesToScore), its
// client QPS and burst raised to Env.ClientQPS and ClientBurst, no leader
// election and no serving port; it schedules the pods of
// "default-scheduler".
type KubeScheduler struct{}

var _ Contender = KubeScheduler{}

func (KubeScheduler) Name() string          { return KubeSchedulerContender }
func (KubeScheduler) SchedulerName() string { return "default-scheduler" }
func (KubeScheduler) NeedsNodes() bool      { return true }

// KubeSchedulerConfig is the KubeSchedulerConfiguration the contender runs
// with.
func KubeSchedulerConfig(kubeconfig string, qps float32, burst int) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: %g
  burst: %d
leaderElection:
  leaderElect: false
profiles:
- schedulerName: default-scheduler
`, kubeconfig, qps, burst)
}

// Start starts kube-scheduler and returns once its process runs; the
// bench's warm-up pod tells when it schedules.
func (KubeScheduler) Start(ctx context.Context, env Env) (Running, error) {
	if err := bindir.Check(env.BinDir, KubeSchedulerBinary); err != nil {
		return nil, err
	}
	dir := filepath.Join(env.Dir, "kube-scheduler")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kube-scheduler: %w", err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(KubeSchedulerConfig(env.Kubeconfig, env.ClientQPS, env.ClientBurst)), 0o644); err != nil {
		return nil, fmt.Errorf("kube-scheduler: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "kube-scheduler.log"))
	if err != nil {
		return nil, fmt.Errorf("kube-scheduler: %w", err)
	}
	cmd := exec.Command(filepath.Join(env.BinDir, KubeSchedulerBinary), "--config="+cfg, "--secure-port=0", "--v=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start kube-scheduler: %w", err)
	}
	r := &processRunning{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

// processRunning is a contender running as a child process.
type processRunning struct {
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
	waitErr error
}

func (r *processRunning) Usage() (Usage, error) {
	select {
	case <-r.exited:
		return Usage{}, fmt.Errorf("%s exited: %v (log %s)", filepath.Base(r.cmd.Path), r.waitErr, r.log.Name())
	default:
	}
	return ProcessUsage(r.cmd.Process.Pid)
}

func (r *processRunning) Measured() string { return MeasuredProcess }

// Stop sends SIGTERM and, after kubeSchedulerStopGrace, SIGKILL.
func (r *processRunning) Stop() error {
	defer r.log.Close()
	select {
	case <-r.exited:
		return fmt.Errorf("%s exited early: %v (log %s)", filepath.Base(r.cmd.Path), r.waitErr, r.log.Name())
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(kubeSchedulerStopGrace):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	var exitErr *exec.ExitError
	if r.waitErr != nil && !errors.As(r.waitErr, &exitErr) {
		return fmt.Errorf("%s: %w", filepath.Base(r.cmd.Path), r.waitErr)
	}
	return nil
}
