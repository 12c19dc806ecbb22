package bench

import (
	"fmt"
	"io"
	"strings"
)

// NullContender is the name of the null binder, the baseline of every
// ratio.
const NullContender = "null"

// Ratio is v over the baseline's value, false when there is no baseline or
// its value is 0.
func Ratio(v, base float64, haveBase bool) (float64, bool) {
	if !haveBase || base == 0 {
		return 0, false
	}
	return v / base, true
}

// Row is one contender's line of the table: each figure with its ratio to
// the null binder's.
type Row struct {
	Contender string
	Load      string
	Cells     []Cell
	Measured  string
}

// Cell is a figure and its ratio to the null binder's (HasRatio false
// without a null binder in the run).
type Cell struct {
	Value    float64
	Ratio    float64
	HasRatio bool
}

// AgentColumns follow Columns when kubemesos' simulated agents ran in
// processes of their own: what those processes used, apart from the row's
// figures.
var AgentColumns = []string{"agents CPU s / 1k pods", "agents peak RSS MB", "agent processes"}

// Columns of the table, in order.
var Columns = []string{"pods/s", "p50 ms", "p90 ms", "p99 ms", "CPU s / 1k pods", "peak RSS MB"}

func figures(r Result) []float64 {
	return []float64{r.PodsPerS, r.P50Ms, r.P90Ms, r.P99Ms, r.CPUSPer1k, r.RSSMB}
}

// Rows puts each result beside the null binder's under the same load
// (arrival rate).
func Rows(rs []Result) []Row {
	base := map[float64]Result{}
	for _, r := range rs {
		if _, ok := base[r.ArrivalPerS]; !ok && r.Contender == NullContender {
			base[r.ArrivalPerS] = r
		}
	}
	var rows []Row
	for _, r := range rs {
		b, haveBase := base[r.ArrivalPerS]
		bf := figures(b)
		row := Row{Contender: r.Contender, Load: LoadName(r.ArrivalPerS), Measured: r.Measured}
		for i, v := range figures(r) {
			ratio, ok := Ratio(v, bf[i], haveBase)
			row.Cells = append(row.Cells, Cell{Value: v, Ratio: ratio, HasRatio: ok})
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteTable writes rs as a Markdown table, each figure followed by its
// ratio to the null binder's under the same load ("812 (0.41×)"); a load
// column only when some result is an open loop; the agent processes' CPU
// and RSS (no ratio: only kubemesos has agents) only when some result's
// simulated agents ran in processes of their own.
func WriteTable(w io.Writer, rs []Result) error {
	withLoad, withAgents := false, false
	for _, r := range rs {
		withLoad = withLoad || r.ArrivalPerS > 0
		withAgents = withAgents || r.AgentProcesses > 0
	}
	var b strings.Builder
	head, sep := "| contender | ", "|---"
	if withLoad {
		head, sep = "| contender | load | ", "|---|---"
	}
	b.WriteString(head + strings.Join(Columns, " | ") + " | CPU, RSS from |")
	if withAgents {
		b.WriteString(" " + strings.Join(AgentColumns, " | ") + " |")
	}
	b.WriteString("\n" + sep + strings.Repeat("|---:", len(Columns)) + "|---|")
	if withAgents {
		b.WriteString(strings.Repeat("---:|", len(AgentColumns)))
	}
	b.WriteString("\n")
	for i, row := range Rows(rs) {
		b.WriteString("| " + row.Contender)
		if withLoad {
			b.WriteString(" | " + row.Load)
		}
		for _, c := range row.Cells {
			b.WriteString(" | " + c.String())
		}
		b.WriteString(" | " + row.Measured + " |")
		if withAgents {
			if r := rs[i]; r.AgentProcesses > 0 {
				fmt.Fprintf(&b, " %s | %s | %d |", formatValue(r.AgentsCPUSPer1k), formatValue(r.AgentsRSSMB), r.AgentProcesses)
			} else {
				b.WriteString(" – | – | – |")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String is the value with three significant-ish digits and its ratio.
func (c Cell) String() string {
	v := formatValue(c.Value)
	if !c.HasRatio {
		return v
	}
	return fmt.Sprintf("%s (%.2f×)", v, c.Ratio)
}

func formatValue(v float64) string {
	switch {
	case v >= 99.95: // what %.1f would print as 100.0
		return fmt.Sprintf("%.0f", v)
	case v >= 9.995:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
