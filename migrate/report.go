package migrate

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Outcome is what became of one input field.
type Outcome string

const (
	// Converted: the Kubernetes object does what the field did.
	Converted Outcome = "converted"
	// Approximate: converted, and Detail says what differs.
	Approximate Outcome = "approximate"
	// NotConvertible: nothing in the output does what the field did;
	// Detail says why. An app with such a field did not convert.
	NotConvertible Outcome = "not convertible"
	// Ignored: a read-only field of Marathon's GET answers (tasks,
	// version): it describes the running app, not its definition.
	Ignored Outcome = "ignored"
)

// Entry is one field of one app, pod or job.
type Entry struct {
	Field   string // JSON path in the input, e.g. constraints[0]
	Outcome Outcome
	Detail  string // what it became, what differs, or why not
}

// Report is every field of one app, pod or job, in the order converted.
type Report struct {
	Source  string // "marathon app", "marathon pod", "metronome job", "chronos job"
	ID      string // the input id
	Entries []Entry
	// NotesOnly: a group's report, about its members; it has no objects.
	NotesOnly bool
}

func (r *Report) add(field string, o Outcome, format string, a ...any) {
	r.Entries = append(r.Entries, Entry{Field: field, Outcome: o, Detail: fmt.Sprintf(format, a...)})
}

func (r *Report) converted(field, format string, a ...any) { r.add(field, Converted, format, a...) }
func (r *Report) approx(field, format string, a ...any)    { r.add(field, Approximate, format, a...) }
func (r *Report) not(field, format string, a ...any)       { r.add(field, NotConvertible, format, a...) }

// Complete reports whether every field converted, exactly or approximately.
func (r *Report) Complete() bool {
	for _, e := range r.Entries {
		if e.Outcome == NotConvertible {
			return false
		}
	}
	return true
}

// Count is how many entries have outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, e := range r.Entries {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// WriteText writes the report for people: a header per app, then one line
// per field, sorted by field within each outcome so reruns diff cleanly.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	status := "converted"
	switch {
	case r.NotesOnly:
		status = "notes for its members"
	case !r.Complete():
		status = "NOT CONVERTED"
	}
	fmt.Fprintf(&b, "%s %s: %s (%d converted, %d approximate, %d not convertible, %d ignored)\n", r.Source, r.ID, status,
		r.Count(Converted), r.Count(Approximate), r.Count(NotConvertible), r.Count(Ignored))
	entries := append([]Entry(nil), r.Entries...)
	rank := map[Outcome]int{NotConvertible: 0, Approximate: 1, Converted: 2, Ignored: 3}
	sort.SliceStable(entries, func(i, j int) bool {
		if rank[entries[i].Outcome] != rank[entries[j].Outcome] {
			return rank[entries[i].Outcome] < rank[entries[j].Outcome]
		}
		return entries[i].Field < entries[j].Field
	})
	for _, e := range entries {
		fmt.Fprintf(&b, "  %-16s %s: %s\n", e.Outcome, e.Field, e.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
