package main

import (
	"strings"
	"testing"
)

func TestBenchFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--agents-per-process", "-1"}, "--agents-per-process: -1"},
		{[]string{"--no-such-flag"}, "not defined"},
		{[]string{"--real", "--contenders", "kubemesos,kube-scheduler", "--dir", "DIR"}, `unknown contender "kube-scheduler"`},
		// The agent process's own flags, after "agents".
		{[]string{"agents", "--count", "3"}, "--master is required"},
		{[]string{"agents", "--master", "m:1", "--kubeconfig", "k", "--count", "0"}, "at least one agent"},
	} {
		for i, a := range c.args {
			if a == "DIR" {
				c.args[i] = t.TempDir()
			}
		}
		err := runBench(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %q = %v, want %q", c.args, err, c.want)
		}
	}
}
