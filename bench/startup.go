package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// PodTimes is when the bench saw one pod pass each step of its start, on
// its own clock (wall and monotonic: time.Now): the create sent, the pod
// first seen bound, with phase Running, and with condition Ready=True.
// Launch is when its Mesos task was launched (kubemesos only; zero
// otherwise).
type PodTimes struct {
	Sent, Bound, Running, Ready, Launch time.Time
}

// StartupSummary reduces the PodTimes of one contender's pods: the
// percentiles of creation→Running and of start→Ready, where start is the
// task's launch for kubemesos' pods and the binding for a plain kubelet's
// (the moment each node could begin to start the pod). Missing counts the
// pods without every step seen.
type StartupSummary struct {
	Pods            int
	CreateToRunning Latencies
	StartToReady    Latencies
	Missing         int
}

// SummarizeStartup summarizes times; withLaunch measures start→Ready from
// Launch (kubemesos) instead of Bound. A pod Ready before its start (clocks
// of different processes) is counted as 0.
func SummarizeStartup(times map[string]PodTimes, withLaunch bool) StartupSummary {
	var running, ready []time.Duration
	missing := 0
	for _, t := range times {
		start := t.Bound
		if withLaunch {
			start = t.Launch
		}
		if t.Sent.IsZero() || t.Running.IsZero() || t.Ready.IsZero() || start.IsZero() {
			missing++
			continue
		}
		running = append(running, t.Running.Sub(t.Sent))
		ready = append(ready, max(0, t.Ready.Round(0).Sub(start.Round(0))))
	}
	return StartupSummary{Pods: len(times), CreateToRunning: Summarize(running), StartToReady: Summarize(ready), Missing: missing}
}

// launchedPod matches the bridge's log line for a launched pod task
// (bridge/scheduler.go: "Launched pod", written once the master accepted
// the ACCEPT that carried the LAUNCH), in klog's text format:
//
//	I1202 00:26:49.241315    5115 scheduler.go:808] "Launched pod" logger="bridge" pod="ns/name" task="..." ...
var launchedPod = regexp.MustCompile(`^I(\d{4} \d{2}:\d{2}:\d{2}\.\d{6})\s+\d+ \S+\] "Launched pod"(?: [a-z]+="[^"]*")*? pod="([^"]+)"`)

// ParseLaunches reads a bridge log and returns, per pod "namespace/name",
// when its last task was launched. klog's header has no year and is in
// the local time zone: year and loc supply them.
func ParseLaunches(r io.Reader, year int, loc *time.Location) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		m := launchedPod.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		t, err := time.ParseInLocation("0102 15:04:05.000000", m[1], loc)
		if err != nil {
			return nil, fmt.Errorf("bridge log: %q: %w", m[1], err)
		}
		out[m[2]] = t.AddDate(year-t.Year(), 0, 0)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("bridge log: %w", err)
	}
	return out, nil
}

// StartupRow is one contender's line of the real-container table.
type StartupRow struct {
	// Contender: "kubemesos" or "kubelet" (a plain kubelet, no Mesos).
	Contender string
	// Start names where start→Ready begins ("task LAUNCH" or "bound").
	Start   string
	Summary StartupSummary
}

// WriteStartupTable writes rows as a Markdown table, each figure with its
// ratio to the plain kubelet's (the row named PlainKubeletContender).
func WriteStartupTable(w io.Writer, rows []StartupRow) error {
	var base *StartupSummary
	for i := range rows {
		if rows[i].Contender == PlainKubeletContender {
			base = &rows[i].Summary
		}
	}
	var b strings.Builder
	b.WriteString("| contender | pods | creation→Running p50 ms | p90 ms | p99 ms | start→Ready from | p50 ms | p99 ms |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---:|\n")
	for _, r := range rows {
		s := r.Summary
		cell := func(v, ref time.Duration) string {
			c := Cell{Value: ms(v)}
			if base != nil {
				c.Ratio, c.HasRatio = Ratio(ms(v), ms(ref), true)
			}
			return c.String()
		}
		var bs StartupSummary
		if base != nil {
			bs = *base
		}
		fmt.Fprintf(&b, "| %s | %d", r.Contender, s.Pods-s.Missing)
		if s.Missing > 0 {
			fmt.Fprintf(&b, " (%d incomplete)", s.Missing)
		}
		fmt.Fprintf(&b, " | %s | %s | %s | %s | %s | %s |\n",
			cell(s.CreateToRunning.P50, bs.CreateToRunning.P50), cell(s.CreateToRunning.P90, bs.CreateToRunning.P90),
			cell(s.CreateToRunning.P99, bs.CreateToRunning.P99), r.Start,
			cell(s.StartToReady.P50, bs.StartToReady.P50), cell(s.StartToReady.P99, bs.StartToReady.P99))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
