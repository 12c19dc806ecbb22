package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A ginkgo JUnit report as ginkgo v2.28 writes it for e2e.test: suite
// nodes, a passed, a failed and a skipped spec.
const junitReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" disabled="1" errors="0" failures="1" time="12.5">
  <testsuite name="Kubernetes e2e suite" tests="6" skipped="1" failures="1" time="12.5">
    <properties><property name="SuiteSucceeded" value="false"></property></properties>
    <testcase name="[ReportBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.0001"></testcase>
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.3"></testcase>
    <testcase name="[It] [sig-node] Sysctls should support sysctls [Conformance]" classname="Kubernetes e2e suite" status="passed" time="4"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for services [Conformance]" classname="Kubernetes e2e suite" status="failed" time="8">
      <failure message="timed out" type="failed">timed out</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Deployment should not run [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[ReportAfterSuite] Kubernetes e2e suite report" classname="Kubernetes e2e suite" status="passed" time="0.01"></testcase>
  </testsuite>
</testsuites>`

func TestParseJUnit(t *testing.T) {
	r, err := parseJUnit([]byte(junitReport))
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed != 1 || r.Failed != 1 || r.Skipped != 1 || r.Seconds != 12.5 {
		t.Fatalf("result = %+v, want 1 passed, 1 failed, 1 skipped in 12.5 s", r)
	}
	if len(r.Passes) != 1 || !strings.Contains(r.Passes[0], "should support sysctls") {
		t.Fatalf("passes = %q", r.Passes)
	}
	if len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "DNS should provide DNS for services") {
		t.Fatalf("failures = %q", r.Failures)
	}
	// A suite node that fails (the cluster is unreachable) is a failure.
	broken := strings.Replace(junitReport, `<testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.3"></testcase>`,
		`<testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="failed" time="0.3"><failure message="x"></failure></testcase>`, 1)
	if r, err := parseJUnit([]byte(broken)); err != nil || r.Failed != 2 || r.Failures[0] != "[SynchronizedBeforeSuite]" {
		t.Fatalf("failed suite node: %+v, %v", r, err)
	}
	for _, bad := range []string{"", "<testsuites>", "<other></other>", `<testsuites tests="0"></testsuites>`} {
		if _, err := parseJUnit([]byte(bad)); err == nil {
			t.Errorf("parseJUnit(%q) accepted it", bad)
		}
	}
	if _, err := readJUnit(filepath.Join(t.TempDir(), "none.xml")); !os.IsNotExist(err) {
		t.Errorf("readJUnit of a missing file: %v", err)
	}
}

func TestConformancePasses(t *testing.T) {
	ps, err := conformancePasses(DefaultConformanceFocus, DefaultConformanceSkip, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Procs != 3 || ps[1].Procs != 1 {
		t.Fatalf("passes = %+v", ps)
	}
	if !strings.Contains(ps[0].LabelFilter, "!Serial") || !strings.Contains(ps[0].LabelFilter, "!Disruptive") ||
		!strings.Contains(ps[1].LabelFilter, "Serial || Disruptive") {
		t.Fatalf("label filters %q, %q", ps[0].LabelFilter, ps[1].LabelFilter)
	}
	if ps[0].JUnitFile() == ps[1].JUnitFile() {
		t.Fatal("both passes write the same report")
	}
	if ps, _ := conformancePasses("x", "", 2, false); len(ps) != 1 {
		t.Fatalf("without the serial pass: %+v", ps)
	}
	if _, err := conformancePasses("x", "", 0, true); err == nil {
		t.Error("no error for 0 processes")
	}
	if _, err := conformancePasses("", "", 1, true); err == nil {
		t.Error("no error for an empty focus")
	}
}

func TestGinkgoArgs(t *testing.T) {
	p := ConformancePass{Name: "parallel", Procs: 3, Focus: "F", Skip: "S", LabelFilter: "L"}
	args := strings.Join(ginkgoArgs(p, "/e2e.test", "/kc", "/out", "3h"), " ")
	for _, want := range []string{"run --procs 3 --focus F --skip S --label-filter L", "--junit-report junit_parallel.xml --output-dir /out", "/e2e.test -- --kubeconfig /kc --provider skeleton"} {
		if !strings.Contains(args, want) {
			t.Errorf("ginkgo args %q lack %q", args, want)
		}
	}
	p.Skip = ""
	if args := strings.Join(ginkgoArgs(p, "/e2e.test", "/kc", "/out", "3h"), " "); strings.Contains(args, "--skip") {
		t.Errorf("empty skip passed on: %q", args)
	}
}

func TestFormatSummary(t *testing.T) {
	rs := []PassResult{
		{Pass: "parallel", Passed: 10, Failed: 1, Skipped: 5, Seconds: 60, Failures: []string{"[It] a"}, Passes: []string{"[It] b"}},
		{Pass: "serial", Passed: 2, Skipped: 1, Seconds: 30},
	}
	if s := formatSummary(rs, false); strings.Contains(s, "[It] b") {
		t.Errorf("short summary lists passed specs:\n%s", s)
	}
	s := formatSummary(rs, true)
	if !strings.Contains(s, "PASS [parallel] [It] b") {
		t.Errorf("summary lacks the passed spec:\n%s", s)
	}
	for _, want := range []string{"parallel   10 passed     1 failed", "total      12 passed     1 failed       90s", "FAIL [parallel] [It] a"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestRunConformanceBadInput(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no --upstream":       {"--kubeconfig", kc},
		"no kubeconfig file":  {"--upstream", "--kubeconfig", filepath.Join(t.TempDir(), "none")},
		"no e2e.test":         {"--upstream", "--kubeconfig", kc, "--bin-dir", t.TempDir()},
		"zero processes":      {"--upstream", "--kubeconfig", kc, "--procs", "0"},
		"stray argument":      {"--upstream", "--kubeconfig", kc, "extra"},
		"ginkgo not runnable": {"--upstream", "--kubeconfig", kc, "--e2e-test", kc, "--ginkgo", kc},
	} {
		t.Run(name, func(t *testing.T) {
			if err := runConformance(args); err == nil {
				t.Fatal("runConformance accepted it")
			}
		})
	}
}

// TestRunConformanceWritesSummary drives runConformance with a stand-in for
// the ginkgo CLI that writes the report above for each pass: both passes
// run, summary.txt counts both and the failure makes the command fail.
func TestRunConformanceWritesSummary(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	report := filepath.Join(dir, "report.xml")
	for f, data := range map[string]string{kc: "apiVersion: v1\nkind: Config\n", report: junitReport} {
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ginkgo := filepath.Join(dir, "ginkgo")
	script := `#!/bin/sh
while [ $# -gt 0 ]; do
  case $1 in
    --output-dir) out=$2; shift ;;
    --junit-report) junit=$2; shift ;;
  esac
  shift
done
cp ` + report + ` "$out/$junit"
echo ran >> "$out/calls"
exit 1
`
	if err := os.WriteFile(ginkgo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	err := runConformance([]string{"--upstream", "--kubeconfig", kc, "--e2e-test", ginkgo, "--ginkgo", ginkgo, "--out", out})
	if err == nil || !strings.Contains(err.Error(), "2 failed") {
		t.Fatalf("runConformance = %v, want 2 failed", err)
	}
	calls, _ := os.ReadFile(filepath.Join(out, "calls"))
	if strings.Count(string(calls), "ran") != 2 {
		t.Fatalf("ginkgo ran %d times, want 2 (parallel, serial)", strings.Count(string(calls), "ran"))
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "total       2 passed     2 failed       25s") {
		t.Fatalf("summary:\n%s", summary)
	}
	// A pass that writes no report is an error naming its log.
	if err := os.WriteFile(report, []byte("not xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = runConformance([]string{"--upstream", "--kubeconfig", kc, "--e2e-test", ginkgo, "--ginkgo", ginkgo, "--out", out, "--serial=false"})
	if err == nil || !strings.Contains(err.Error(), "parallel.log") {
		t.Fatalf("runConformance with a broken report = %v", err)
	}
}
