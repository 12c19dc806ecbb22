package cptest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/internal/bindir"
)

func TestSkipsWhenBinariesMissing(t *testing.T) {
	t.Setenv(bindir.Env, t.TempDir())
	t.Setenv(bindir.RequireEnv, "")
	var sub *testing.T
	t.Run("start", func(t *testing.T) {
		sub = t
		Start(t)
		t.Error("Start returned without binaries")
	})
	if !sub.Skipped() {
		t.Error("test was not skipped")
	}
}

// TestHelperRequired is run as a child process by TestFailsWhenBinariesRequired.
func TestHelperRequired(t *testing.T) {
	if os.Getenv("CPTEST_HELPER") != "1" {
		t.Skip("helper process only")
	}
	Start(t)
}

func TestFailsWhenBinariesRequired(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRequired$", "-test.v")
	cmd.Env = append(os.Environ(), "CPTEST_HELPER=1", bindir.RequireEnv+"=1", bindir.Env+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("helper passed with binaries required and missing:\n%s", out)
	}
	if !strings.Contains(string(out), "--- FAIL: TestHelperRequired") || !strings.Contains(string(out), "binary not found") {
		t.Errorf("unexpected helper output:\n%s", out)
	}
}
