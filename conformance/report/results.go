package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is how a scenario ended.
type Status string

// The statuses of go test, plus Running for a scenario the stream ends in
// (the binary crashed or timed out during it).
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skip    Status = "skip"
	Running Status = "unfinished"
)

// Result is one scenario (a top-level test or a subtest) of the run.
type Result struct {
	Package  string
	Name     string
	Status   Status
	Duration time.Duration
	// Fault is set when the scenario logged a Fault line.
	Fault *Fault
	// Detail is the skip reason or the last failure message the scenario
	// logged.
	Detail string
	// Setup marks the package's own result when it failed outside any
	// scenario (TestMain could not bring the cluster up).
	Setup bool
}

// event is one line of test2json (cmd/test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// Read parses a test2json stream into the scenarios' results, in the order
// they started. A line that is not JSON is an error naming its number.
func Read(r io.Reader) ([]Result, error) {
	type key struct{ pkg, test string }
	var order []key
	byKey := map[key]*Result{}
	logs := map[key][]string{}
	pkgFailed := map[string]bool{}
	pkgLogs := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("report: line %d is not a test2json event: %w", n, err)
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				pkgLogs[e.Package] = append(pkgLogs[e.Package], strings.TrimRight(e.Output, "\n"))
			case "fail":
				pkgFailed[e.Package] = true
			}
			continue
		}
		k := key{e.Package, e.Test}
		res := byKey[k]
		if res == nil {
			res = &Result{Package: e.Package, Name: e.Test, Status: Running}
			byKey[k] = res
			order = append(order, k)
		}
		switch e.Action {
		case "output":
			out := strings.TrimRight(e.Output, "\n")
			f, ok, err := ParseFault(out)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if ok {
				res.Fault = &f
				continue
			}
			if msg, ok := logMessage(out); ok {
				logs[k] = append(logs[k], msg)
			}
		case "pass", "fail", "skip":
			res.Status = Status(e.Action)
			res.Duration = time.Duration(e.Elapsed * float64(time.Second))
			if res.Status != Pass && len(logs[k]) > 0 {
				res.Detail = logs[k][len(logs[k])-1]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	out := make([]Result, 0, len(order)+len(pkgFailed))
	perPkg := map[string]bool{}
	for _, k := range order {
		out = append(out, *byKey[k])
		if byKey[k].Status == Fail || byKey[k].Status == Running {
			perPkg[k.pkg] = true
		}
	}
	// A package that failed with no failing scenario failed in TestMain.
	for pkg := range pkgFailed {
		if !perPkg[pkg] {
			detail := ""
			for _, l := range pkgLogs[pkg] {
				if l = strings.TrimSpace(l); l != "" && l != "FAIL" && !strings.HasPrefix(l, "FAIL\t") && !strings.HasPrefix(l, "exit status") {
					detail = l
				}
			}
			out = append(out, Result{Package: pkg, Name: "(setup)", Status: Fail, Detail: detail, Setup: true})
		}
	}
	return out, nil
}

// logMessage returns the message of a t.Log/t.Error line ("    file.go:12: msg"),
// the only output kept as a scenario's detail.
func logMessage(line string) (string, bool) {
	s := strings.TrimSpace(line)
	file, msg, ok := strings.Cut(s, ": ")
	if !ok || !strings.Contains(file, ".go:") || strings.ContainsAny(file, " \t") {
		return "", false
	}
	return msg, true
}
