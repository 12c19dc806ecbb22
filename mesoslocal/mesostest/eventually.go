package mesostest

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually asks again.
const PollInterval = 50 * time.Millisecond

// Eventually calls cond every PollInterval until it returns true, and fails
// the test if that does not happen within timeout. cond's second result says
// what it saw; the failure message ends with the last one:
// "timed out after <timeout> waiting for <what>; last: <detail>".
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(PollInterval)
	}
	if last == "" {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
}
