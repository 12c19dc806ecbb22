package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	kubeletexecutor "github.com/kubemesos/kubemesos/kubelet-executor"
)

func init() {
	register("executor", "Mesos custom executor that runs pods with a kubelet (started by a Mesos agent)", runExecutor)
}

func runExecutor(args []string) error {
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer klog.Flush()
	settings, err := kubeletexecutor.SettingsFromEnv()
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", settings.ExecutorKubeconfig)
	if err != nil {
		return fmt.Errorf("executor kubeconfig %s: %w", settings.ExecutorKubeconfig, err)
	}
	restCfg.UserAgent = "kubemesos-executor"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background().WithValues("executor", settings.Mesos.ExecutorID))
	node := &kubeletexecutor.KubeletNode{Settings: settings, Client: client}
	return kubeletexecutor.New(settings.Mesos, client, node).Run(ctx)
}
