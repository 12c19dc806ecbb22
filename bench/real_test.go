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

func TestRunRealContenders(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"kubemesos", "null"}, `unknown contender "null"`},
		{[]string{"kubelet", "kube-scheduler"}, `unknown contender "kube-scheduler"`},
	} {
		_, err := RunReal(t.Context(), RealOptions{Dir: t.TempDir(), Contenders: c.names})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("contenders %q: err = %v, want %q", c.names, err, c.want)
		}
	}
}
