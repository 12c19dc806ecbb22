package migrate

import (
	"slices"
	"testing"
)

func TestLiteralAlternatives(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string // nil: not a finite set of values
	}{
		{"rack-1", []string{"rack-1"}},
		{"rack-1|rack-2", []string{"rack-1", "rack-2"}},
		{"(a|b)", []string{"a", "b"}},
		{"rack-[12]", []string{"rack-1", "rack-2"}},
		{"[a-c]x", []string{"ax", "bx", "cx"}},
		{`agent-(1|2)\.example\.com`, []string{"agent-1.example.com", "agent-2.example.com"}},
		{"(?:eu|us)-(1|2)", []string{"eu-1", "eu-2", "us-1", "us-2"}},
		{"10.0.0.1", []string{"10.0.0.1"}},
		{`t2\..*`, nil},
		{"agent-[0-9]+", nil},
		{"^rack", nil},
		{"[^a]", nil},
		{"a|", nil},
		{"[a-z][a-z]", nil}, // 676 values
	} {
		got, ok := literalAlternatives(tc.expr)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.expr, got, ok, tc.want)
		}
	}
}
