package migrate

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked the same on every machine
)

// cronField is one field of a five-field cron expression.
type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day of week", min: 0, max: 7, names: map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// cronDescriptors are the @ forms both Metronome and CronJob accept.
var cronDescriptors = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

// parseCron checks a five-field cron expression (minute hour day-of-month
// month day-of-week, with *, lists, ranges, steps and names) and returns it
// with single spaces.
func parseCron(expr string) (string, error) {
	if cronDescriptors[strings.TrimSpace(expr)] {
		return strings.TrimSpace(expr), nil
	}
	fields := strings.Fields(expr)
	if len(fields) != len(cronFields) {
		return "", fmt.Errorf("%d fields, want 5 (minute hour day-of-month month day-of-week)", len(fields))
	}
	for i, f := range fields {
		if err := checkCronField(f, cronFields[i]); err != nil {
			return "", fmt.Errorf("%s %q: %w", cronFields[i].name, f, err)
		}
	}
	fields[4] = sundayAsZero(fields[4])
	return strings.Join(fields, " "), nil
}

// sundayAsZero writes Sunday as 0 in a day-of-week field: Metronome takes
// 7 for Sunday too, a CronJob only 0 ("7" → "0", "5-7" → "5-6,0").
func sundayAsZero(dow string) string {
	parts := strings.Split(dow, ",")
	for i, p := range parts {
		rng, step, hasStep := strings.Cut(p, "/")
		switch {
		case rng == "7":
			rng = "0"
		case strings.HasSuffix(rng, "-7") && !hasStep:
			lo := strings.TrimSuffix(rng, "-7")
			if lo == "7" {
				rng = "0"
			} else {
				rng = lo + "-6,0"
			}
		}
		if hasStep {
			rng += "/" + step
		}
		parts[i] = rng
	}
	return strings.Join(parts, ",")
}

func checkCronField(s string, cf cronField) error {
	value := func(v string) (int, error) {
		if n, ok := cf.names[strings.ToLower(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", v)
		}
		if n < cf.min || n > cf.max {
			return 0, fmt.Errorf("%d is not in %d-%d", n, cf.min, cf.max)
		}
		return n, nil
	}
	for _, part := range strings.Split(s, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("step %q is not a positive number", step)
			}
		}
		if rng == "*" || rng == "?" && (cf.name == "day of month" || cf.name == "day of week") {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := value(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := value(hi)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("range %s ends before it starts", rng)
			}
		}
	}
	return nil
}

func validateTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	_, err := time.LoadLocation(tz)
	return err
}

// isoSchedule is a Chronos schedule R[n]/start/period.
type isoSchedule struct {
	repeats int // -1: for ever
	start   *time.Time
	period  isoPeriod
}

// isoPeriod is an ISO 8601 duration PnYnMnWnDTnHnMnS.
type isoPeriod struct {
	years, months, weeks, days, hours, minutes, seconds int
}

var isoPeriodRE = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

func parseISOPeriod(s string) (isoPeriod, error) {
	m := isoPeriodRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return isoPeriod{}, fmt.Errorf("period %q is not an ISO 8601 duration such as PT1H or P1D", s)
	}
	n := make([]int, 7)
	for i := range n {
		if m[i+1] != "" {
			n[i], _ = strconv.Atoi(m[i+1])
		}
	}
	p := isoPeriod{years: n[0], months: n[1], weeks: n[2], days: n[3], hours: n[4], minutes: n[5], seconds: n[6]}
	if p == (isoPeriod{}) {
		return p, errors.New("a period of 0")
	}
	return p, nil
}

// parseISO8601Schedule parses R[n]/[start]/period.
func parseISO8601Schedule(s string) (isoSchedule, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "R") {
		return isoSchedule{}, errors.New("want R[n]/start/period, e.g. R/2026-01-01T03:00:00Z/P1D")
	}
	out := isoSchedule{repeats: -1}
	if n := strings.TrimPrefix(parts[0], "R"); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return isoSchedule{}, fmt.Errorf("repetitions %q are not a number", n)
		}
		out.repeats = v
	}
	if parts[1] != "" {
		t, err := time.Parse(time.RFC3339, parts[1])
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05.000Z07:00", parts[1])
		}
		if err != nil {
			return isoSchedule{}, fmt.Errorf("start %q is not an ISO 8601 time", parts[1])
		}
		out.start = &t
	}
	p, err := parseISOPeriod(parts[2])
	if err != nil {
		return isoSchedule{}, err
	}
	out.period = p
	return out, nil
}

// cron is the five-field cron expression that runs at the schedule's
// start time and every period after, in loc; differs says how its times
// are not Chronos' (nothing when they are the same).
func (s isoSchedule) cron(loc *time.Location) (expr string, differs []string, err error) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, loc)
	if s.start != nil {
		start = s.start.In(loc)
	} else {
		differs = append(differs, "no start time (Chronos starts now): the runs are aligned to midnight")
	}
	if start.Second() != 0 {
		differs = append(differs, fmt.Sprintf("the start's %ds are dropped: cron has minutes", start.Second()))
	}
	if s.repeats >= 0 {
		differs = append(differs, fmt.Sprintf("Chronos stops after %d runs; a CronJob runs until it is deleted or suspended", s.repeats))
	}
	p := s.period
	// list is every value below limit that is first modulo step.
	list := func(first, step, limit int) string {
		if step == 1 {
			return "*"
		}
		var out []string
		for v := first % step; v < limit; v += step {
			out = append(out, strconv.Itoa(v))
		}
		return strings.Join(out, ",")
	}
	only := func(q isoPeriod) bool { return p == q }
	m, h := start.Minute(), start.Hour()
	switch {
	case p.seconds > 0 && p.seconds%60 == 0 && only(isoPeriod{seconds: p.seconds}):
		return isoSchedule{repeats: s.repeats, start: s.start, period: isoPeriod{minutes: p.seconds / 60}}.cron(loc)
	case p.minutes > 0 && only(isoPeriod{minutes: p.minutes}):
		if p.minutes == 1 {
			return "* * * * *", differs, nil
		}
		if 60%p.minutes == 0 {
			return fmt.Sprintf("%s * * * *", list(m, p.minutes, 60)), differs, nil
		}
		if p.minutes%60 == 0 && 24%(p.minutes/60) == 0 {
			return fmt.Sprintf("%d %s * * *", m, list(h, p.minutes/60, 24)), differs, nil
		}
	case p.hours > 0 && only(isoPeriod{hours: p.hours}):
		if 24%p.hours == 0 {
			return fmt.Sprintf("%d %s * * *", m, list(h, p.hours, 24)), differs, nil
		}
	case only(isoPeriod{days: 1}):
		return fmt.Sprintf("%d %d * * *", m, h), differs, nil
	case only(isoPeriod{weeks: 1}), only(isoPeriod{days: 7}):
		return fmt.Sprintf("%d %d * * %d", m, h, int(start.Weekday())), differs, nil
	case only(isoPeriod{months: 1}):
		if start.Day() > 28 {
			differs = append(differs, fmt.Sprintf("day %d: months without it are skipped", start.Day()))
		}
		return fmt.Sprintf("%d %d %d * *", m, h, start.Day()), differs, nil
	case only(isoPeriod{years: 1}):
		return fmt.Sprintf("%d %d %d %d *", m, h, start.Day(), int(start.Month())), differs, nil
	case p.days > 1 && only(isoPeriod{days: p.days}):
		differs = append(differs, fmt.Sprintf("every %d days counted from the 1st of each month, not from the start", p.days))
		var days []string
		for d := (start.Day()-1)%p.days + 1; d <= 31; d += p.days {
			days = append(days, strconv.Itoa(d))
		}
		return fmt.Sprintf("%d %d %s * *", m, h, strings.Join(days, ",")), differs, nil
	}
	return "", nil, fmt.Errorf("a period of %s is not a cron schedule: cron repeats within an hour, a day, a week, a month or a year", periodString(p))
}

func periodString(p isoPeriod) string {
	var b strings.Builder
	b.WriteString("P")
	for _, x := range []struct {
		n    int
		unit string
	}{{p.years, "Y"}, {p.months, "M"}, {p.weeks, "W"}, {p.days, "D"}} {
		if x.n > 0 {
			fmt.Fprintf(&b, "%d%s", x.n, x.unit)
		}
	}
	if p.hours+p.minutes+p.seconds > 0 {
		b.WriteString("T")
		for _, x := range []struct {
			n    int
			unit string
		}{{p.hours, "H"}, {p.minutes, "M"}, {p.seconds, "S"}} {
			if x.n > 0 {
				fmt.Fprintf(&b, "%d%s", x.n, x.unit)
			}
		}
	}
	return b.String()
}

// duration is the period's length when it has no months or years.
func (p isoPeriod) duration() (time.Duration, bool) {
	if p.years > 0 || p.months > 0 {
		return 0, false
	}
	d := time.Duration(p.weeks)*7*24*time.Hour + time.Duration(p.days)*24*time.Hour +
		time.Duration(p.hours)*time.Hour + time.Duration(p.minutes)*time.Minute + time.Duration(p.seconds)*time.Second
	return d, true
}
