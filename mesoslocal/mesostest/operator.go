package mesostest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
)

// OperatorCall makes a call of the Mesos operator API (protobuf, as Apache
// Mesos serves it) on the masters (host:port or URLs, comma-separated),
// each in turn until one answers 200 (a non-leading master redirects, 307,
// and the client follows), and returns the answer. The error names every
// master's failure (HTTP status and body).
func OperatorCall(ctx context.Context, masters string, call *opv1.Call) (*opv1.Response, error) {
	body, err := call.Marshal()
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, m := range strings.Split(masters, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if !strings.Contains(m, "://") {
			m = "http://" + m
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(m, "/")+"/api/v1", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Accept", "application/x-protobuf")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
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
		if len(b) > 0 {
			if err := r.Unmarshal(b); err != nil {
				return nil, fmt.Errorf("%s answer: %w", call.Type, err)
			}
		}
		return &r, nil
	}
	return nil, fmt.Errorf("%s: %v", call.Type, errs)
}

// MustOperatorCall is OperatorCall for a test: it fails the test when no
// master answers.
func MustOperatorCall(t testing.TB, masters string, call *opv1.Call) *opv1.Response {
	t.Helper()
	r, err := OperatorCall(t.Context(), masters, call)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
