package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubemesos/kubemesos/mesoslocal/demobatch"
)

func init() {
	register("demo-batch", "run a Spark-like batch of short Mesos command tasks and exit when done", runDemoBatch)
}

func runDemoBatch(args []string) error {
	fs := flag.NewFlagSet("demo-batch", flag.ContinueOnError)
	cfg := demobatch.Config{Duration: 2 * time.Second}
	fs.StringVar(&cfg.Master, "master", "127.0.0.1:5050", "Mesos master, host:port or http://host:port")
	fs.StringVar(&cfg.Name, "name", "demo-batch", "framework name")
	fs.StringVar(&cfg.Role, "role", "batch", "role the framework registers in")
	fs.IntVar(&cfg.Tasks, "tasks", 100, "number of tasks")
	fs.Float64Var(&cfg.CPUs, "cpus", 0.5, "cpus per task")
	fs.Float64Var(&cfg.Mem, "mem", 64, "memory per task (MB)")
	fs.Var(mesosDuration{&cfg.Duration}, "duration", "how long each task sleeps, e.g. 2s or 2secs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments")
	}
	cfg.Progress = func(p demobatch.Progress) {
		fmt.Fprintf(os.Stdout, "%s: %d/%d done (%d failed), %d running, %s\n", cfg.Name, p.Finished+p.Failed, p.Total, p.Failed, p.Running, p.Elapsed.Round(100*time.Millisecond))
	}
	ctx, cancel := signalContext()
	defer cancel()
	p, err := demobatch.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: all %d tasks finished in %s\n", cfg.Name, p.Finished, p.Elapsed.Round(100*time.Millisecond))
	return nil
}
