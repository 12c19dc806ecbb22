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
// environment (docs/contracts.md); --runtime stands for
// KUBEMESOS_EXECUTOR_RUNTIME, the other flags are klog's. SIGTERM and
// SIGINT shut it down as the agent's SHUTDOWN does.
func runExecutor(args []string) error {
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	klog.InitFlags(fs)
	rt := fs.String("runtime", "", "what runs the node's pods: kubelet or simulated (default: $"+kubeletexecutor.EnvRuntime+", else kubelet)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rt != "" {
		if err := os.Setenv(kubeletexecutor.EnvRuntime, *rt); err != nil {
			return err
		}
	}
	defer klog.Flush()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return kubeletexecutor.RunFromEnv(ctx)
}
