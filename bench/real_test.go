package bench

import (
	"strings"
	"testing"
)

func TestRunRealNeedsDir(t *testing.T) {
	if _, err := RunReal(t.Context(), RealOptions{}); err == nil || !strings.Contains(err.Error(), "Dir is required") {
		t.Errorf("err = %v, want Dir required", err)
	}
}
