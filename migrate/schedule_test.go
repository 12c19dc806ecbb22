package migrate

import (
	"testing"
	"time"
)

func TestChronosScheduleToCron(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schedule string
		loc      *time.Location
		cron     string // "" when not a cron schedule
		exact    bool
	}{
		{"R/2026-01-01T00:05:00Z/PT1H", time.UTC, "5 * * * *", true},
		{"R/2026-01-01T00:05:00Z/PT15M", time.UTC, "5,20,35,50 * * * *", true},
		{"R/2026-01-01T00:00:00Z/PT1M", time.UTC, "* * * * *", true},
		{"R/2026-01-01T00:00:00Z/PT120S", time.UTC, "0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58 * * * *", true},
		{"R/2026-01-01T01:30:00Z/PT6H", time.UTC, "30 1,7,13,19 * * *", true},
		{"R/2026-01-01T03:00:00Z/P1D", time.UTC, "0 3 * * *", true},
		{"R/2026-01-04T08:00:00Z/P1W", ny, "0 3 * * 0", true}, // 08:00Z is 03:00 in New York, a Sunday
		{"R/2026-01-15T00:00:00Z/P1M", time.UTC, "0 0 15 * *", true},
		{"R/2026-03-01T12:00:00Z/P1Y", time.UTC, "0 12 1 3 *", true},
		{"R5/2026-01-01T03:00:00Z/P1D", time.UTC, "0 3 * * *", false},
		{"R//P1D", time.UTC, "0 0 * * *", false},
		{"R/2026-01-01T00:00:30Z/PT1H", time.UTC, "0 * * * *", false},
		{"R/2026-01-01T00:00:00Z/P3D", time.UTC, "0 0 1,4,7,10,13,16,19,22,25,28,31 * *", false},
		{"R/2026-01-01T00:00:00Z/PT7M", time.UTC, "", false},
		{"R/2026-01-01T00:00:00Z/PT5H", time.UTC, "", false},
		{"R/2026-01-01T00:00:00Z/P1DT12H", time.UTC, "", false},
	} {
		s, err := parseISO8601Schedule(tc.schedule)
		if err != nil {
			t.Fatalf("%s: %v", tc.schedule, err)
		}
		cron, differs, err := s.cron(tc.loc)
		if tc.cron == "" {
			if err == nil {
				t.Errorf("%s: cron %q, want an error", tc.schedule, cron)
			}
			continue
		}
		if err != nil || cron != tc.cron || (len(differs) == 0) != tc.exact {
			t.Errorf("%s: %q %v %v, want %q exact=%v", tc.schedule, cron, differs, err, tc.cron, tc.exact)
		}
		if _, err := parseCron(cron); err != nil {
			t.Errorf("%s: %q is not a valid cron expression: %v", tc.schedule, cron, err)
		}
	}
}

func TestParseCron(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"30 2 * * *", "30 2 * * *"},
		{" */5  *   * * 1-5 ", "*/5 * * * 1-5"},
		{"0 0 * * 7", "0 0 * * 0"},
		{"0 0 * * 5-7", "0 0 * * 5-6,0"},
		{"0 0 * * mon,sun", "0 0 * * mon,sun"},
		{"0 0 1 jan ?", "0 0 1 jan ?"},
		{"@daily", "@daily"},
		{"0 0 * * 8", ""},
		{"0 24 * * *", ""},
		{"0 0 0 * *", ""},
		{"0 0 * * */0", ""},
		{"5-1 * * * *", ""},
	} {
		got, err := parseCron(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}
