// Package duration formats and parses durations in Mesos' stout syntax
// ("1secs", "500ms", "15mins").
package duration

import (
	"fmt"
	mesostime "github.com/mesos/mesos-go/api/v1/lib/time"
	"strconv"
	"time"
)

// Format renders d the way Mesos' stout prints durations ("1secs",
// "500ms", "15mins").
func Format(d time.Duration) string {
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'f', -1, 64) + unit }
	switch {
	case d >= 7*24*time.Hour && d%(7*24*time.Hour) == 0:
		return f(float64(d/(7*24*time.Hour)), "weeks")
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return f(float64(d/(24*time.Hour)), "days")
	case d >= time.Hour && d%time.Hour == 0:
		return f(float64(d/time.Hour), "hrs")
	case d >= time.Minute && d%time.Minute == 0:
		return f(float64(d/time.Minute), "mins")
	case d >= time.Second:
		return f(d.Seconds(), "secs")
	case d >= time.Millisecond:
		return f(float64(d)/float64(time.Millisecond), "ms")
	case d >= time.Microsecond:
		return f(float64(d)/float64(time.Microsecond), "us")
	}
	return f(float64(d), "ns")
}

// Parse reads a Mesos duration such as "1secs", "500ms" or "15mins"; a plain
// Go duration ("1s") is accepted too.
func Parse(s string) (time.Duration, error) {
	if d, err := mesostime.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number and one of ns, us, ms, secs, mins, hrs, days, weeks", s)
	}
	return d, nil
}
