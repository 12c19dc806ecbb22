package master

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

// SchedulerRealm is the HTTP authentication realm of the scheduler API, as
// named by Mesos.
const SchedulerRealm = "mesos-master-scheduler"

// Credential is a principal and its secret.
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret"`
}

// AuthConfig configures framework authentication (Mesos'
// --authenticate_http_frameworks with the basic HTTP authenticator).
type AuthConfig struct {
	// AuthenticateFrameworks requires every scheduler call to carry HTTP
	// basic credentials matching one of Credentials.
	AuthenticateFrameworks bool
	Credentials            []Credential
}

// LoadCredentials reads a Mesos credentials file: JSON
// {"credentials":[{"principal":..,"secret":..}]}, or the text format of one
// "principal secret" pair per line.
func LoadCredentials(path string) ([]Credential, error) {
	path = strings.TrimPrefix(path, "file://")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var f struct {
			Credentials []Credential `json:"credentials"`
		}
		if err := json.Unmarshal(t, &f); err != nil {
			return nil, fmt.Errorf("parse credentials %s: %w", path, err)
		}
		return f.Credentials, nil
	}
	var creds []Credential
	for i, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("parse credentials %s line %d: want 'principal secret'", path, i+1)
		}
		creds = append(creds, Credential{Principal: fields[0], Secret: fields[1]})
	}
	return creds, nil
}

// authenticate checks r's basic credentials; it returns the principal.
func (c *AuthConfig) authenticate(r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	for _, cr := range c.Credentials {
		if cr.Principal == user && subtle.ConstantTimeCompare([]byte(cr.Secret), []byte(pass)) == 1 {
			return user, true
		}
	}
	return "", false
}

// peekSchedulerCall decodes the scheduler call in r's body and puts the
// body back for the handler. ok is false when the body does not decode;
// the handler then answers as usual.
func peekSchedulerCall(r *http.Request) (*scheduler.Call, bool) {
	n, err := wire.Negotiate(r)
	if err != nil {
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBody+1))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	call := &scheduler.Call{}
	peek := r.Clone(r.Context())
	peek.Body = io.NopCloser(bytes.NewReader(body))
	if wire.DecodeCall(peek, n, call) != nil {
		return nil, false
	}
	return call, true
}

// checkSchedulerAuth enforces framework authentication on a scheduler call:
// 401 with a WWW-Authenticate challenge without valid credentials, and, as
// Mesos' call validation, 400 when a SUBSCRIBE's FrameworkInfo.principal
// differs from the authenticated principal. It reports whether the call may
// proceed.
func (m *Master) checkSchedulerAuth(w http.ResponseWriter, r *http.Request, call *scheduler.Call) bool {
	if !m.cfg.Auth.AuthenticateFrameworks {
		return true
	}
	principal, ok := m.cfg.Auth.authenticate(r)
	if !ok {
		m.metrics.inc("master/messages_authenticate_failed")
		w.Header().Set("WWW-Authenticate", `Basic realm="`+SchedulerRealm+`"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return false
	}
	if call != nil && call.GetType() == scheduler.Call_SUBSCRIBE && call.Subscribe != nil {
		if p := call.Subscribe.FrameworkInfo.GetPrincipal(); p != principal {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest,
				"Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`", principal, p))
			return false
		}
	}
	return true
}
