package mesostest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
)

// OperatorCall makes a call of the operator API (POST /api/v1, protobuf,
// as Apache Mesos serves it) of the leading master among masters (one or
// several, comma-separated, host:port or URL; a non-leading master
// redirects) and returns the answer, failing the test if no master gives
// one.
func OperatorCall(t testing.TB, masters string, call *opv1.Call) *opv1.Response {
	t.Helper()
	body, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, m := range strings.Split(masters, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if !strings.Contains(m, "://") {
			m = "http://" + m
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, strings.TrimSuffix(m, "/")+"/api/v1", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Accept", "application/x-protobuf")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req) // a non-leading master redirects (307)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Sprintf("%s: HTTP %d %q %v", m, resp.StatusCode, b, err))
			continue
		}
		var r opv1.Response
		if err := r.Unmarshal(b); err != nil {
			t.Fatalf("%s answer: %v", call.Type, err)
		}
		return &r
	}
	t.Fatalf("%s: %v", call.Type, errs)
	return nil
}
