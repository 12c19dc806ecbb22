package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	passing := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":1}
`
	for name, tc := range map[string]struct {
		args  []string
		stdin string
		want  int
		out   string
	}{
		"all pass on stdin": {nil, passing, 0, "1 passed, 0 failed"},
		"a failed scenario": {[]string{"../../testdata/run.json"}, "", 1, "TestFault"},
		"setup failed":      {[]string{"../../testdata/setup-failed.json"}, "", 1, "(setup)"},
		"missing file":      {[]string{"no-such.json"}, "", 2, ""},
		"no scenarios":      {nil, "", 2, ""},
		"not test2json":     {nil, "PASS\n", 2, ""},
		"two files":         {[]string{"a", "b"}, "", 2, ""},
	} {
		var stdout, stderr bytes.Buffer
		got := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
		if got != tc.want || !strings.Contains(stdout.String(), tc.out) {
			t.Errorf("%s: exit %d, want %d; stdout:\n%s\nstderr: %s", name, got, tc.want, stdout.String(), stderr.String())
		}
		if got == 2 && stderr.Len() == 0 {
			t.Errorf("%s: exit 2 without a message", name)
		}
	}
}
