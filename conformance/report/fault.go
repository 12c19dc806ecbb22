package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Fault is what a fault scenario measured: of the pods it watched, how many
// never ran again (lost) and how many ran as more than one Mesos task
// (run twice), and how long after the fault the workload was whole again.
// Both counts must be 0 for the scenario to pass.
type Fault struct {
	PodsLost     int
	PodsRunTwice int
	Recovery     time.Duration
}

// faultPrefix starts the line a fault scenario logs; Line and ParseFault
// agree on the rest.
const faultPrefix = "fault result:"

// Line is the log line a fault scenario writes (t.Log) for the report.
func (f Fault) Line() string {
	return fmt.Sprintf("%s pods_lost=%d pods_run_twice=%d recovery=%s", faultPrefix, f.PodsLost, f.PodsRunTwice, f.Recovery.Round(time.Millisecond))
}

// OK reports whether no pod was lost or run twice.
func (f Fault) OK() bool { return f.PodsLost == 0 && f.PodsRunTwice == 0 }

var faultLine = regexp.MustCompile(regexp.QuoteMeta(faultPrefix) + ` pods_lost=(\d+) pods_run_twice=(\d+) recovery=(\S+)`)

// ParseFault finds a Fault line in one line of test output (as t.Log
// prints it, after the file:line prefix). ok is false when the line holds
// none; a line that has the prefix but not the fields is an error.
func ParseFault(line string) (f Fault, ok bool, err error) {
	m := faultLine.FindStringSubmatch(line)
	if m == nil {
		if strings.Contains(line, faultPrefix) {
			return Fault{}, false, fmt.Errorf("report: malformed fault line %q", line)
		}
		return Fault{}, false, nil
	}
	lost, err1 := strconv.Atoi(m[1])
	twice, err2 := strconv.Atoi(m[2])
	rec, err3 := time.ParseDuration(m[3])
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return Fault{}, false, fmt.Errorf("report: fault line %q: %w", line, e)
		}
	}
	return Fault{PodsLost: lost, PodsRunTwice: twice, Recovery: rec}, true, nil
}
