package mesostest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// PIDsWithEnv returns the processes on this machine whose environment holds
// every one of vars ("KEY=VALUE"): how fault tests find the executor Mesos
// started for an agent (e.g. "MESOS_SLAVE_ID=<agent>"), to kill it.
func PIDsWithEnv(t testing.TB, vars ...string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		have := strings.Split(string(env), "\x00")
		if !slices.ContainsFunc(vars, func(v string) bool { return !slices.Contains(have, v) }) {
			pids = append(pids, pid)
		}
	}
	return pids
}
