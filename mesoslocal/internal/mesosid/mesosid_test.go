package mesosid

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"vol-1", true},
		{"default.data-web-0.0f3c", true},
		{strings.Repeat("a", 255), true},
		{"", false},
		{strings.Repeat("a", 256), false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{`a\b`, false},
		{"a\nb", false},
		{"a\x00b", false},
	} {
		if err := Validate(tc.id); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}
