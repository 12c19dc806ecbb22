package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
)

// PassResult counts one pass's specs from its JUnit report.
type PassResult struct {
	Pass                    string
	Passed, Failed, Skipped int
	Seconds                 float64
	// Failures and Passes name the failed and the passed specs, in
	// report order.
	Failures, Passes []string
}

// junitSuites is the part of ginkgo's JUnit report (reporters.JUnitTestSuites)
// the summary reads.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Time  float64     `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string    `xml:"name,attr"`
	Status  string    `xml:"status,attr"`
	Skipped *struct{} `xml:"skipped"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
}

// readJUnit counts the specs of a ginkgo JUnit report. The suite's setup
// and teardown nodes ([SynchronizedBeforeSuite], [ReportAfterSuite], ...)
// count only when they fail.
func readJUnit(file string) (PassResult, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return PassResult{}, err
	}
	return parseJUnit(b)
}

func parseJUnit(b []byte) (PassResult, error) {
	var s junitSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		return PassResult{}, fmt.Errorf("JUnit report: %w", err)
	}
	if len(s.Suites) == 0 {
		return PassResult{}, fmt.Errorf("JUnit report: no testsuite")
	}
	var r PassResult
	for _, suite := range s.Suites {
		r.Seconds += suite.Time
		for _, c := range suite.Cases {
			failed := c.Failure != nil || c.Error != nil || c.Status == "failed" || c.Status == "panicked" || c.Status == "timedout" || c.Status == "interrupted" || c.Status == "aborted"
			skipped := c.Skipped != nil || c.Status == "skipped" || c.Status == "pending"
			switch {
			case failed:
				r.Failed++
				r.Failures = append(r.Failures, c.Name)
			case isSuiteNode(c.Name):
				// A suite node that did not fail is no spec.
			case skipped:
				r.Skipped++
			default:
				r.Passed++
				r.Passes = append(r.Passes, c.Name)
			}
		}
	}
	return r, nil
}

// isSuiteNode says whether a JUnit test case is one of ginkgo's suite-level
// nodes rather than a spec ("[SynchronizedBeforeSuite]", "[ReportAfterSuite]
// Kubernetes e2e suite report", ...).
func isSuiteNode(name string) bool {
	for _, n := range []string{"[BeforeSuite]", "[AfterSuite]", "[SynchronizedBeforeSuite]", "[SynchronizedAfterSuite]", "[ReportBeforeSuite]", "[ReportAfterSuite]", "[DeferCleanup (Suite)]"} {
		if strings.HasPrefix(name, n) {
			return true
		}
	}
	return false
}
