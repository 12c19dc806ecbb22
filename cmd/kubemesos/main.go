// Command kubemesos is Kubernetes on Apache Mesos in one binary: the bridge
// (scheduler), the kubelet-executor, a local Mesos (mesos-master, mesos-agent),
// the dev cluster (up, down) and the migration of Marathon, Metronome and
// Chronos definitions (migrate).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: it receives its own arguments (without its name).
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: kubemesos <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(os.Stderr, b.String())
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "kubemesos: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "kubemesos %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
