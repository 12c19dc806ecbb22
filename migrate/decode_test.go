package migrate

import (
	"errors"
	"testing"
)

// TestDecodeMarathonErrors: each kind of bad input is an error of its kind
// naming the app and the field.
func TestDecodeMarathonErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		kind       error
		app, field string
	}{
		{"not JSON", `{"id": "/web", `, ErrInvalidJSON, "", ""},
		{"not an object", `42`, ErrInvalidJSON, "", ""},
		{"unknown top-level field", `{"id": "/web", "cmd": "x", "instance": 2}`, ErrUnknownField, "/web", "instance"},
		{"unknown nested field", `{"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx", "imag": "x"}}}`, ErrUnknownField, "/web", "container.docker.imag"},
		{"unknown field in a list", `{"id": "/web", "healthChecks": [{"protocol": "HTTP", "paht": "/"}], "portDefinitions": [{"port": 0}]}`, ErrUnknownField, "/web", "healthChecks[0].paht"},
		{"unknown field in a group's app", `{"id": "/shop", "apps": [{"id": "web", "cmd": "x", "cpu": 1}]}`, ErrUnknownField, "/shop/web", "cpu"},
		{"unknown field in a nested group", `{"id": "/shop", "groups": [{"id": "/shop/db", "apps": [], "enforce": true}]}`, ErrUnknownField, "/shop/db", "enforce"},
		{"wrong type", `{"id": "/web", "instances": "two"}`, ErrInvalidJSON, "/web", "instances"},
		{"negative instances", `{"id": "/web", "cmd": "x", "instances": -1}`, ErrImpossibleValue, "/web", "instances"},
		{"negative mem", `{"id": "/web", "cmd": "x", "mem": -5}`, ErrImpossibleValue, "/web", "mem"},
		{"fractional gpus", `{"id": "/web", "cmd": "x", "gpus": 0.5}`, ErrImpossibleValue, "/web", "gpus"},
		{"cmd and args", `{"id": "/web", "cmd": "x", "args": ["y"]}`, ErrImpossibleValue, "/web", "args"},
		{"bad id", `{"id": "/Web_1", "cmd": "x"}`, ErrImpossibleValue, "/Web_1", "id"},
		{"no id", `{"cmd": "x"}`, ErrImpossibleValue, "", "id"},
		{"port out of range", `{"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx"}, "portMappings": [{"containerPort": 70000}]}}`, ErrImpossibleValue, "/web", "container.portMappings[0].containerPort"},
		{"bad protocol", `{"id": "/web", "cmd": "x", "portDefinitions": [{"port": 80, "protocol": "http"}]}`, ErrImpossibleValue, "/web", "portDefinitions[0].protocol"},
		{"unknown operator", `{"id": "/web", "cmd": "x", "constraints": [["hostname", "UNIQUEE"]]}`, ErrImpossibleValue, "/web", "constraints[0]"},
		{"constraint of 4", `{"id": "/web", "cmd": "x", "constraints": [["a", "b", "c", "d"]]}`, ErrImpossibleValue, "/web", "constraints"},
		{"MAX_PER without a number", `{"id": "/web", "cmd": "x", "constraints": [["rack", "MAX_PER", "many"]]}`, ErrImpossibleValue, "/web", "constraints[0]"},
		{"LIKE bad regexp", `{"id": "/web", "cmd": "x", "constraints": [["rack", "LIKE", "rack-(1"]]}`, ErrImpossibleValue, "/web", "constraints[0]"},
		{"health check protocol", `{"id": "/web", "cmd": "x", "portDefinitions": [{"port": 0}], "healthChecks": [{"protocol": "GRPC"}]}`, ErrImpossibleValue, "/web", "healthChecks[0].protocol"},
		{"health check port index", `{"id": "/web", "cmd": "x", "portDefinitions": [{"port": 0}], "healthChecks": [{"protocol": "HTTP", "portIndex": 1}]}`, ErrImpossibleValue, "/web", "healthChecks[0].portIndex"},
		{"health check timeout", `{"id": "/web", "cmd": "x", "portDefinitions": [{"port": 0}], "healthChecks": [{"intervalSeconds": 10, "timeoutSeconds": 10}]}`, ErrImpossibleValue, "/web", "healthChecks[0].timeoutSeconds"},
		{"COMMAND without command", `{"id": "/web", "cmd": "x", "healthChecks": [{"protocol": "COMMAND"}]}`, ErrImpossibleValue, "/web", "healthChecks[0].command"},
		{"readiness port name", `{"id": "/web", "cmd": "x", "portDefinitions": [{"port": 0, "name": "http"}], "readinessChecks": [{"portName": "web"}]}`, ErrImpossibleValue, "/web", "readinessChecks[0].portName"},
		{"upgrade capacity", `{"id": "/web", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.5}}`, ErrImpossibleValue, "/web", "upgradeStrategy.minimumHealthCapacity"},
		{"undeclared secret", `{"id": "/web", "cmd": "x", "env": {"DB": {"secret": "db"}}}`, ErrImpossibleValue, "/web", "env.DB"},
		{"env value not a string", `{"id": "/web", "cmd": "x", "env": {"N": 3}}`, ErrInvalidJSON, "/web", "env"},
		{"env secret unknown key", `{"id": "/web", "cmd": "x", "env": {"N": {"secret": "s", "key": "k"}}, "secrets": {"s": {"source": "a"}}}`, ErrInvalidJSON, "/web", "env"},
		{"kill selection", `{"id": "/web", "cmd": "x", "killSelection": "RANDOM"}`, ErrImpossibleValue, "/web", "killSelection"},
		{"network mode", `{"id": "/web", "cmd": "x", "networks": [{"mode": "overlay"}]}`, ErrImpossibleValue, "/web", "networks[0].mode"},
		{"residency without volume", `{"id": "/db", "cmd": "x", "residency": {}}`, ErrImpossibleValue, "/db", "residency"},
		{"persistent size", `{"id": "/db", "cmd": "x", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 0}}]}}`, ErrImpossibleValue, "/db", "container.volumes[0].persistent.size"},
		{"unreachable string", `{"id": "/web", "cmd": "x", "unreachableStrategy": "never"}`, ErrImpossibleValue, "/web", "unreachableStrategy"},
		{"unreachable unknown field", `{"id": "/web", "cmd": "x", "unreachableStrategy": {"inactiveAfter": 3}}`, ErrUnknownField, "/web", "unreachableStrategy.inactiveAfter"},
		{"unreachable order", `{"id": "/web", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 30}}`, ErrImpossibleValue, "/web", "unreachableStrategy.expungeAfterSeconds"},
		{"container type", `{"id": "/web", "container": {"type": "RKT"}}`, ErrImpossibleValue, "/web", "container.type"},
		{"uris and fetch", `{"id": "/web", "cmd": "x", "uris": ["http://a/b"], "fetch": [{"uri": "http://a/c"}]}`, ErrImpossibleValue, "/web", "uris"},
		{"control character", `{"id": "/web", "cmd": "echo \u0007"}`, ErrImpossibleValue, "/web", "cmd"},
		{"pod without containers", `{"id": "/p", "containers": []}`, ErrImpossibleValue, "/p", "containers"},
		{"pod unknown field", `{"id": "/p", "containers": [{"name": "a", "resources": {"cpus": 1, "memory": 2}}]}`, ErrUnknownField, "/p", "containers[0].resources.memory"},
		{"pod health endpoint", `{"id": "/p", "containers": [{"name": "a", "resources": {}, "healthCheck": {"http": {"endpoint": "web"}}}]}`, ErrImpossibleValue, "/p", "containers[0].healthCheck.http.endpoint"},
		{"pod mount of no volume", `{"id": "/p", "containers": [{"name": "a", "resources": {}, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}`, ErrImpossibleValue, "/p", "containers[0].volumeMounts[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMarathon([]byte(tc.json))
			checkFieldError(t, err, tc.kind, tc.app, tc.field)
		})
	}
}

func checkFieldError(t *testing.T, err error, kind error, app, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if fe.App != app || fe.Field != field {
		t.Fatalf("error names app %q field %q, want %q %q (%v)", fe.App, fe.Field, app, field, err)
	}
}

func TestDecodeJobErrors(t *testing.T) {
	for _, tc := range []struct {
		name, kindOf, json string
		kind               error
		app, field         string
	}{
		{"metronome unknown field", "metronome", `{"id": "backup", "run": {"cmd": "x", "cpu": 1}}`, ErrUnknownField, "backup", "run.cpu"},
		{"metronome bad cron", "metronome", `{"id": "backup", "run": {"cmd": "x"}, "schedules": [{"id": "s", "cron": "61 * * * *"}]}`, ErrImpossibleValue, "backup", "schedules[0].cron"},
		{"metronome cron fields", "metronome", `{"id": "backup", "run": {"cmd": "x"}, "schedules": [{"id": "s", "cron": "* * * *"}]}`, ErrImpossibleValue, "backup", "schedules[0].cron"},
		{"metronome time zone", "metronome", `{"id": "backup", "run": {"cmd": "x"}, "schedules": [{"id": "s", "cron": "0 * * * *", "timezone": "Mars/Olympus"}]}`, ErrImpossibleValue, "backup", "schedules[0].timezone"},
		{"metronome concurrency", "metronome", `{"id": "backup", "run": {"cmd": "x"}, "schedules": [{"id": "s", "cron": "0 * * * *", "concurrencyPolicy": "SOMETIMES"}]}`, ErrImpossibleValue, "backup", "schedules[0].concurrencyPolicy"},
		{"metronome restart", "metronome", `{"id": "backup", "run": {"cmd": "x", "restart": {"policy": "ALWAYS"}}}`, ErrImpossibleValue, "backup", "run.restart.policy"},
		{"metronome empty run", "metronome", `{"id": "backup", "run": {}}`, ErrImpossibleValue, "backup", "run"},
		{"metronome id", "metronome", `{"id": "Backup", "run": {"cmd": "x"}}`, ErrImpossibleValue, "Backup", "id"},
		{"metronome not JSON", "metronome", `{"id": "backup"`, ErrInvalidJSON, "", ""},
		{"chronos unknown field", "chronos", `{"name": "etl", "command": "x", "schedule": "R/2026-01-01T00:00:00Z/PT1H", "retry": 2}`, ErrUnknownField, "etl", "retry"},
		{"chronos schedule", "chronos", `{"name": "etl", "command": "x", "schedule": "every hour"}`, ErrImpossibleValue, "etl", "schedule"},
		{"chronos period", "chronos", `{"name": "etl", "command": "x", "schedule": "R/2026-01-01T00:00:00Z/PT"}`, ErrImpossibleValue, "etl", "schedule"},
		{"chronos retries", "chronos", `{"name": "etl", "command": "x", "schedule": "R//P1D", "retries": -1}`, ErrImpossibleValue, "etl", "retries"},
		{"chronos neither schedule nor parents", "chronos", `{"name": "etl", "command": "x"}`, ErrImpossibleValue, "etl", "schedule"},
		{"chronos constraint", "chronos", `{"name": "etl", "command": "x", "schedule": "R//P1D", "constraints": [["rack", "UNIQUE"]]}`, ErrImpossibleValue, "etl", "constraints[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.kindOf == "metronome" {
				_, err = DecodeMetronome([]byte(tc.json))
			} else {
				_, err = DecodeChronos([]byte(tc.json))
			}
			checkFieldError(t, err, tc.kind, tc.app, tc.field)
		})
	}
}

// TestDecodeMarathonShapes: every Marathon document shape decodes to its
// apps and pods with absolute ids.
func TestDecodeMarathonShapes(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		apps, pods []string
	}{
		{"one app", `{"id": "/web", "cmd": "x"}`, []string{"/web"}, nil},
		{"an array of apps", `[{"id": "/a", "cmd": "x"}, {"id": "b", "cmd": "x"}]`, []string{"/a", "/b"}, nil},
		{"GET /v2/apps", `{"apps": [{"id": "/a/b", "cmd": "x", "tasksRunning": 2, "version": "2026-01-01T00:00:00Z"}]}`, []string{"/a/b"}, nil},
		{"group, nested, relative ids", `{"id": "/shop", "apps": [{"id": "web", "cmd": "x"}], "groups": [{"id": "db", "apps": [{"id": "/shop/db/pg", "cmd": "x"}], "pods": [{"id": "cache", "containers": [{"name": "c", "resources": {}}]}]}]}`,
			[]string{"/shop/web", "/shop/db/pg"}, []string{"/shop/db/cache"}},
		{"GET /v2/pods", `[{"id": "/p", "containers": [{"name": "c", "resources": {}}]}]`, nil, []string{"/p"}},
		{"root group", `{"id": "/", "groups": [{"id": "/x", "apps": [{"id": "/x/y", "cmd": "x"}]}]}`, []string{"/x/y"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeMarathon([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			var apps, pods []string
			for _, a := range d.Apps {
				apps = append(apps, a.ID)
			}
			for _, p := range d.Pods {
				pods = append(pods, p.ID)
			}
			if !equal(apps, tc.apps) || !equal(pods, tc.pods) {
				t.Fatalf("apps %v pods %v, want %v %v", apps, pods, tc.apps, tc.pods)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
