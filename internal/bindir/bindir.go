package bindir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Module is the path of the repository's Go module.
const Module = "github.com/kubemesos/kubemesos"

// Env overrides where the Kubernetes binaries are looked up.
const Env = "KUBEMESOS_BIN_DIR"

// RequireEnv, when "1", tells tests to fail instead of skipping when a
// binary is missing.
const RequireEnv = "KUBEMESOS_REQUIRE_BINARIES"

// ErrMissing is wrapped by errors about a Kubernetes binary that is not
// built (run hack/build-tools.sh).
var ErrMissing = errors.New("binary not found")

// FindRepoRoot walks up from the working directory to the directory whose
// go.mod declares this module (hack/tools has a go.mod of its own, which is
// skipped).
func FindRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return findRepoRootFrom(wd)
}

func findRepoRootFrom(dir string) (string, error) {
	for d := dir; ; {
		if moduleOf(filepath.Join(d, "go.mod")) == Module {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of %s above %s", Module, dir)
		}
		d = parent
	}
}

func moduleOf(goMod string) string {
	f, err := os.Open(goMod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	return ""
}

// Default says where the Kubernetes binaries are: $KUBEMESOS_BIN_DIR
// when set; else <repo>/bin when the working directory is inside the
// repository; else the directory of the running executable when it holds
// kube-apiserver (an installed kubemesos next to its binaries).
func Default() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return d, nil
	}
	if root, err := FindRepoRoot(); err == nil {
		return filepath.Join(root, "bin"), nil
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: set %s or run inside the repository", ErrMissing, Env)
}

// Check returns an error wrapping ErrMissing, naming every
// missing one, unless binDir holds all the named executables.
func Check(binDir string, names ...string) error {
	var missing []string
	for _, n := range names {
		st, err := os.Stat(filepath.Join(binDir, n))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w in %s: %s (build them with hack/build-tools.sh)", ErrMissing, binDir, strings.Join(missing, ", "))
	}
	return nil
}
