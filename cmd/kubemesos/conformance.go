package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kubemesos/kubemesos/internal/bindir"
)

func init() {
	register("conformance", "run the upstream Kubernetes [Conformance] tests (e2e.test of the pinned module) against a cluster: --upstream --kubeconfig F", runConformance)
}

// Defaults of `kubemesos conformance --upstream`.
const (
	DefaultConformanceFocus = `\[Conformance\]`
	DefaultConformanceSkip  = `\[Flaky\]`
	DefaultConformanceProcs = 3
)

// ConformancePass is one ginkgo run of the upstream suite.
type ConformancePass struct {
	// Name is "parallel" or "serial"; the JUnit report is junit_<Name>.xml.
	Name        string
	Procs       int
	Focus, Skip string
	// LabelFilter keeps the pass to the specs it may run together: the
	// parallel pass leaves out Serial and Disruptive specs, which the serial
	// pass runs one at a time.
	LabelFilter string
}

// JUnitFile is the report file name of the pass.
func (p ConformancePass) JUnitFile() string { return "junit_" + p.Name + ".xml" }

// conformancePasses plans the runs: the specs that may share the cluster
// with ginkgo in procs processes, then (unless serial is false) the Serial
// and Disruptive ones alone.
func conformancePasses(focus, skip string, procs int, serial bool) ([]ConformancePass, error) {
	if procs < 1 {
		return nil, fmt.Errorf("conformance: --procs %d: want at least 1", procs)
	}
	if focus == "" {
		return nil, errors.New("conformance: empty --focus")
	}
	passes := []ConformancePass{{Name: "parallel", Procs: procs, Focus: focus, Skip: skip, LabelFilter: "!Serial && !Disruptive && !Flaky"}}
	if serial {
		passes = append(passes, ConformancePass{Name: "serial", Procs: 1, Focus: focus, Skip: skip, LabelFilter: "(Serial || Disruptive) && !Flaky"})
	}
	return passes, nil
}

// ginkgoArgs are the ginkgo CLI arguments that run the precompiled e2e.test
// for one pass against kubeconfig, writing its JUnit report into out.
func ginkgoArgs(p ConformancePass, e2eTest, kubeconfig, out, timeout string) []string {
	args := []string{"run", "--procs", fmt.Sprint(p.Procs), "--focus", p.Focus}
	if p.Skip != "" {
		args = append(args, "--skip", p.Skip)
	}
	return append(args,
		"--label-filter", p.LabelFilter,
		"--junit-report", p.JUnitFile(), "--output-dir", out,
		"--timeout", timeout, "--no-color", "-v", "--keep-going", "--silence-skips",
		e2eTest, "--",
		"--kubeconfig", kubeconfig, "--provider", "skeleton",
	)
}

func runConformance(args []string) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	upstream := fs.Bool("upstream", false, "run the upstream suite (e2e.test of the k8s.io/kubernetes module pinned in hack/tools)")
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster under test (default $KUBECONFIG)")
	e2eTest := fs.String("e2e-test", "", "the upstream e2e.test (default: e2e.test in the bin directory; make conformance-upstream builds it)")
	ginkgo := fs.String("ginkgo", "", "the ginkgo CLI of e2e.test's ginkgo version (default: ginkgo in the bin directory; make tools builds it)")
	binDir := fs.String("bin-dir", "", "directory of e2e.test and ginkgo (default: <repo>/bin or $KUBEMESOS_BIN_DIR)")
	focus := fs.String("focus", DefaultConformanceFocus, "ginkgo focus regexp")
	skip := fs.String("skip", DefaultConformanceSkip, "ginkgo skip regexp")
	procs := fs.Int("procs", DefaultConformanceProcs, "ginkgo processes of the parallel pass")
	serial := fs.Bool("serial", true, "run the Serial and Disruptive specs in a second pass, one at a time")
	out := fs.String("out", "_output/conformance", "directory of the JUnit reports, logs and summary")
	timeout := fs.String("timeout", "3h", "ginkgo suite timeout of each pass")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*upstream {
		return errors.New("conformance: say --upstream (kubemesos' own scenarios run with `make conformance`)")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("conformance: unexpected arguments %q", fs.Args())
	}
	if *kubeconfig == "" {
		return errors.New("conformance: no --kubeconfig (nor $KUBECONFIG)")
	}
	if _, err := os.Stat(*kubeconfig); err != nil {
		return fmt.Errorf("conformance: kubeconfig: %w", err)
	}
	passes, err := conformancePasses(*focus, *skip, *procs, *serial)
	if err != nil {
		return err
	}
	bins := *binDir
	if bins == "" && (*e2eTest == "" || *ginkgo == "") {
		if bins, err = bindir.Default(); err != nil {
			return fmt.Errorf("conformance: %w", err)
		}
	}
	for _, p := range []*string{e2eTest, ginkgo} {
		if *p == "" {
			name := "e2e.test"
			if p == ginkgo {
				name = "ginkgo"
			}
			*p = filepath.Join(bins, name)
		}
		if fi, err := os.Stat(*p); err != nil || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("conformance: %s is not an executable (make tools; make conformance-upstream builds e2e.test)", *p)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	absOut, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	var results []PassResult
	var runErr error
	for _, p := range passes {
		fmt.Printf("conformance: pass %s: %d processes, focus '%s', skip '%s', labels '%s'\n", p.Name, p.Procs, p.Focus, p.Skip, p.LabelFilter)
		log, err := os.Create(filepath.Join(absOut, p.Name+".log"))
		if err != nil {
			return fmt.Errorf("conformance: %w", err)
		}
		cmd := exec.CommandContext(ctx, *ginkgo, ginkgoArgs(p, *e2eTest, *kubeconfig, absOut, *timeout)...)
		cmd.Stdout = io.MultiWriter(os.Stdout, log)
		cmd.Stderr = cmd.Stdout
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		err = cmd.Run()
		log.Close()
		report := filepath.Join(absOut, p.JUnitFile())
		r, rerr := readJUnit(report)
		if rerr != nil {
			// No report: ginkgo did not get to run the suite.
			return fmt.Errorf("conformance: pass %s: %v; %w (log %s)", p.Name, err, rerr, log.Name())
		}
		r.Pass = p.Name
		results = append(results, r)
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("conformance: pass %s: %w", p.Name, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Print(formatSummary(results, false))
	if err := os.WriteFile(filepath.Join(absOut, "summary.txt"), []byte(formatSummary(results, true)), 0o644); err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	for _, r := range results {
		if r.Failed > 0 {
			return fmt.Errorf("conformance: %d failed (%s)", totalFailed(results), filepath.Join(*out, "summary.txt"))
		}
	}
	return runErr
}

func totalFailed(rs []PassResult) int {
	n := 0
	for _, r := range rs {
		n += r.Failed
	}
	return n
}

// formatSummary gives the counts of each pass and of both, then every
// failed spec, and with passed (summary.txt) every passed one too.
func formatSummary(rs []PassResult, passed bool) string {
	var b strings.Builder
	var all PassResult
	for _, r := range rs {
		fmt.Fprintf(&b, "%-8s %4d passed  %4d failed  %5d skipped  %7.0fs\n", r.Pass, r.Passed, r.Failed, r.Skipped, r.Seconds)
		all.Passed += r.Passed
		all.Failed += r.Failed
		all.Skipped += r.Skipped
		all.Seconds += r.Seconds
	}
	if len(rs) > 1 {
		// Each pass skips the specs of the other: a total of skipped means nothing.
		fmt.Fprintf(&b, "%-8s %4d passed  %4d failed  %7.0fs\n", "total", all.Passed, all.Failed, all.Seconds)
	}
	for _, r := range rs {
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "FAIL [%s] %s\n", r.Pass, f)
		}
	}
	for _, r := range rs {
		if !passed {
			break
		}
		for _, p := range r.Passes {
			fmt.Fprintf(&b, "PASS [%s] %s\n", r.Pass, p)
		}
	}
	return b.String()
}
