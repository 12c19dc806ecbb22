// Command conformance-report prints the table of a conformance run from its
// test2json stream (gotestsum --jsonfile, or go test -json): scenario,
// pass/fail/skip, duration, and for fault scenarios pods lost, pods run
// twice and recovery time. It exits 1 when a scenario failed or a fault lost
// or doubled a pod, 2 on unreadable input.
//
//	conformance-report _output/conformance/test.json
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kubemesos/kubemesos/conformance/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	in := stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintln(stderr, "conformance-report:", err)
			return 2
		}
		defer f.Close()
		in = f
	default:
		fmt.Fprintln(stderr, "usage: conformance-report [test2json file]")
		return 2
	}
	results, err := report.Read(in)
	if err != nil {
		fmt.Fprintln(stderr, "conformance-report:", err)
		return 2
	}
	if len(results) == 0 {
		fmt.Fprintln(stderr, "conformance-report: no scenarios in the input")
		return 2
	}
	if err := report.WriteTable(stdout, results); err != nil {
		fmt.Fprintln(stderr, "conformance-report:", err)
		return 2
	}
	if !report.Summarize(results).OK {
		return 1
	}
	return 0
}
