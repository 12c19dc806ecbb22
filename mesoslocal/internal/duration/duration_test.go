package duration

import (
	"testing"
	"time"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"1secs", time.Second, "1secs"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"15mins", 15 * time.Minute, "15mins"},
		{"2.5secs", 2500 * time.Millisecond, "2.5secs"},
		{"1hrs", time.Hour, "1hrs"},
		{"3s", 3 * time.Second, "3secs"},
	}
	for _, tc := range tests {
		d, err := Parse(tc.in)
		if err != nil || d != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, d, err, tc.want)
		}
		if got := Format(d); got != tc.out {
			t.Errorf("Format(%v) = %q, want %q", d, got, tc.out)
		}
	}
	for _, bad := range []string{"", "secs", "1parsec", "-"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
