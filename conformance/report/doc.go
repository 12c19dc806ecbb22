// Package report turns a run of the conformance suite into its summary: the
// test2json event stream (`go test -json`, or gotestsum's --jsonfile) is read
// into one Result per scenario, fault scenarios carry the counts they logged
// as a Fault line, and Table renders scenario → pass/fail/skip, duration,
// pods lost, pods run twice and recovery time.
//
// The JUnit XML of the same run is gotestsum's (--junitfile); this package
// adds what JUnit has no place for.
package report
