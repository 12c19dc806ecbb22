package report

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Summary counts the results by status; OK is false when any scenario
// failed or did not finish, or a fault scenario lost a pod or ran one twice.
type Summary struct {
	Passed, Failed, Skipped, Unfinished int
	OK                                  bool
}

// Summarize counts results.
func Summarize(results []Result) Summary {
	s := Summary{OK: true}
	for _, r := range results {
		switch r.Status {
		case Pass:
			s.Passed++
		case Fail:
			s.Failed++
		case Skip:
			s.Skipped++
		default:
			s.Unfinished++
		}
		if r.Status == Fail || r.Status == Running || (r.Fault != nil && !r.Fault.OK()) {
			s.OK = false
		}
	}
	return s
}

// maxDetail bounds the detail column so one long failure keeps the table
// readable; the whole message is in the JUnit XML and the test log.
const maxDetail = 100

// WriteTable writes one row per result — scenario, status, duration, pods
// lost, pods run twice, recovery (the last three only for fault scenarios)
// and the skip reason or failure — then the totals.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tDURATION\tPODS LOST\tRUN TWICE\tRECOVERY\tDETAIL")
	for _, r := range results {
		lost, twice, rec := "-", "-", "-"
		if r.Fault != nil {
			lost, twice = strconv.Itoa(r.Fault.PodsLost), strconv.Itoa(r.Fault.PodsRunTwice)
			rec = r.Fault.Recovery.Round(100 * time.Millisecond).String()
		}
		detail := r.Detail
		if len(detail) > maxDetail {
			detail = detail[:maxDetail-3] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Status, r.Duration.Round(100*time.Millisecond), lost, twice, rec, detail)
	}
	s := Summarize(results)
	fmt.Fprintf(tw, "\n%d passed, %d failed, %d skipped, %d unfinished\n", s.Passed, s.Failed, s.Skipped, s.Unfinished)
	return tw.Flush()
}
