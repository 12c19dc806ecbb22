package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
)

func init() {
	register("executor", "Mesos custom executor that runs pods with a kubelet (started by a Mesos agent)", runExecutor)
}

// runExecutor reads its configuration from the MESOS_* and KUBEMESOS_*
// environment (docs/contracts.md); flags are klog's only. SIGTERM and
// SIGINT shut it down as the agent's SHUTDOWN does.
func runExecutor(args []string) error {
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer klog.Flush()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return kubeletexecutor.RunFromEnv(ctx)
}
