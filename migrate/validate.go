package migrate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Constraint operators Marathon knows.
const (
	OpUnique  = "UNIQUE"
	OpCluster = "CLUSTER"
	OpGroupBy = "GROUP_BY"
	OpLike    = "LIKE"
	OpUnlike  = "UNLIKE"
	OpMaxPer  = "MAX_PER"
	OpIs      = "IS"
)

// Health check protocols Marathon knows.
var healthProtocols = map[string]bool{
	"HTTP": true, "HTTPS": true, "TCP": true, "COMMAND": true,
	"MESOS_HTTP": true, "MESOS_HTTPS": true, "MESOS_TCP": true,
}

// validateApp checks the values Marathon would reject.
func validateApp(a *App) error {
	id := a.ID
	if a.Cmd != nil && len(a.Args) > 0 {
		return impossible(id, "args", "cmd and args are exclusive")
	}
	if a.Instances != nil && *a.Instances < 0 {
		return impossible(id, "instances", "%d is negative", *a.Instances)
	}
	for _, r := range []struct {
		name string
		v    *float64
	}{{"cpus", a.Cpus}, {"mem", a.Mem}, {"disk", a.Disk}, {"gpus", a.Gpus}} {
		if r.v != nil && *r.v < 0 {
			return impossible(id, r.name, "%v is negative", *r.v)
		}
	}
	if a.Gpus != nil && *a.Gpus != float64(int64(*a.Gpus)) {
		return impossible(id, "gpus", "%v is not a whole number", *a.Gpus)
	}
	if err := validateConstraints(id, "constraints", a.Constraints); err != nil {
		return err
	}
	if c := a.Container; c != nil {
		switch c.Type {
		case "", "DOCKER", "MESOS":
		default:
			return impossible(id, "container.type", "%q, want DOCKER or MESOS", c.Type)
		}
		if c.Docker != nil && c.Docker.Image == "" {
			return impossible(id, "container.docker.image", "empty")
		}
		if c.Type == "DOCKER" && c.Docker == nil {
			return impossible(id, "container.docker", "a DOCKER container needs docker.image")
		}
		for i, m := range portMappings(a) {
			f := fmt.Sprintf("container.portMappings[%d]", i)
			if err := validatePort(id, f+".containerPort", m.ContainerPort); err != nil {
				return err
			}
			if m.HostPort != nil {
				if err := validatePort(id, f+".hostPort", *m.HostPort); err != nil {
					return err
				}
			}
			if err := validatePort(id, f+".servicePort", m.ServicePort); err != nil {
				return err
			}
			if err := validateProtocol(id, f+".protocol", m.Protocol); err != nil {
				return err
			}
		}
		for i, v := range c.Volumes {
			f := fmt.Sprintf("container.volumes[%d]", i)
			if v.ContainerPath == "" {
				return impossible(id, f+".containerPath", "empty")
			}
			if v.Persistent != nil && v.Persistent.Size <= 0 {
				return impossible(id, f+".persistent.size", "%v, want a size in MiB above 0", v.Persistent.Size)
			}
			switch v.Mode {
			case "", "RW", "RO":
			default:
				return impossible(id, f+".mode", "%q, want RW or RO", v.Mode)
			}
			if v.Secret != "" {
				if _, ok := a.Secrets[v.Secret]; !ok {
					return impossible(id, f+".secret", "%q is not one of secrets", v.Secret)
				}
			}
		}
	}
	for i, p := range a.PortDefinitions {
		f := fmt.Sprintf("portDefinitions[%d]", i)
		if err := validatePort(id, f+".port", p.Port); err != nil {
			return err
		}
		if err := validateProtocol(id, f+".protocol", p.Protocol); err != nil {
			return err
		}
	}
	if len(a.URIs) > 0 && len(a.Fetch) > 0 {
		return impossible(id, "uris", "uris and fetch are exclusive")
	}
	if len(a.Ports) > 0 && len(a.PortDefinitions) > 0 {
		return impossible(id, "ports", "ports and portDefinitions are exclusive")
	}
	nports := len(appPorts(a))
	for i, h := range a.HealthChecks {
		f := fmt.Sprintf("healthChecks[%d]", i)
		p := h.Protocol
		if p == "" {
			p = "HTTP"
		}
		if !healthProtocols[p] {
			return impossible(id, f+".protocol", "%q, want HTTP, HTTPS, TCP, COMMAND or MESOS_HTTP, MESOS_HTTPS, MESOS_TCP", h.Protocol)
		}
		if p == "COMMAND" {
			if h.Command == nil || h.Command.Value == "" {
				return impossible(id, f+".command", "a COMMAND health check needs command.value")
			}
		} else if h.Port == nil {
			idx := 0
			if h.PortIndex != nil {
				idx = *h.PortIndex
			}
			if idx < 0 || idx >= nports {
				return impossible(id, f+".portIndex", "%d, the app has %d ports", idx, nports)
			}
		} else if err := validatePort(id, f+".port", *h.Port); err != nil {
			return err
		}
		for _, t := range []struct {
			name string
			v    *int32
		}{{"gracePeriodSeconds", h.GracePeriodSeconds}, {"intervalSeconds", h.IntervalSeconds}, {"timeoutSeconds", h.TimeoutSeconds}, {"maxConsecutiveFailures", h.MaxConsecutiveFailures}, {"delaySeconds", h.DelaySeconds}} {
			if t.v != nil && *t.v < 0 {
				return impossible(id, f+"."+t.name, "%d is negative", *t.v)
			}
		}
		if h.IntervalSeconds != nil && *h.IntervalSeconds == 0 {
			return impossible(id, f+".intervalSeconds", "0, want at least 1")
		}
		if h.TimeoutSeconds != nil && *h.TimeoutSeconds >= or32(h.IntervalSeconds, 60) {
			return impossible(id, f+".timeoutSeconds", "%d is not below intervalSeconds %d", *h.TimeoutSeconds, or32(h.IntervalSeconds, 60))
		}
	}
	for i, r := range a.ReadinessChecks {
		f := fmt.Sprintf("readinessChecks[%d]", i)
		switch r.Protocol {
		case "", "HTTP", "HTTPS":
		default:
			return impossible(id, f+".protocol", "%q, want HTTP or HTTPS", r.Protocol)
		}
		if _, ok := portIndexByName(a, r.PortName); !ok {
			return impossible(id, f+".portName", "%q is not the name of one of the app's ports", r.PortName)
		}
	}
	if u := a.UpgradeStrategy; u != nil {
		if err := validateUpgrade(id, "upgradeStrategy", u); err != nil {
			return err
		}
	}
	for name, e := range a.Env {
		if e.Secret != "" {
			if _, ok := a.Secrets[e.Secret]; !ok {
				return impossible(id, "env."+name, "secret %q is not one of secrets", e.Secret)
			}
		}
	}
	for name, s := range a.Secrets {
		if s.Source == "" {
			return impossible(id, "secrets."+name+".source", "empty")
		}
	}
	if err := validateKillSelection(id, "killSelection", a.KillSelection); err != nil {
		return err
	}
	if err := validateNetworks(id, "networks", a.Networks); err != nil {
		return err
	}
	if a.Residency != nil && !hasPersistent(a) {
		return impossible(id, "residency", "a resident app needs a persistent volume in container.volumes")
	}
	for i, f := range a.Fetch {
		if f.URI == "" {
			return impossible(id, fmt.Sprintf("fetch[%d].uri", i), "empty")
		}
	}
	if a.TaskKillGracePeriodSeconds != nil && *a.TaskKillGracePeriodSeconds < 0 {
		return impossible(id, "taskKillGracePeriodSeconds", "%d is negative", *a.TaskKillGracePeriodSeconds)
	}
	if u := a.UnreachableStrategy; u != nil && !u.Disabled {
		if u.InactiveAfterSeconds != nil && *u.InactiveAfterSeconds < 0 {
			return impossible(id, "unreachableStrategy.inactiveAfterSeconds", "%d is negative", *u.InactiveAfterSeconds)
		}
		if u.ExpungeAfterSeconds != nil && u.InactiveAfterSeconds != nil && *u.ExpungeAfterSeconds < *u.InactiveAfterSeconds {
			return impossible(id, "unreachableStrategy.expungeAfterSeconds", "%d is below inactiveAfterSeconds %d", *u.ExpungeAfterSeconds, *u.InactiveAfterSeconds)
		}
	}
	return nil
}

func or32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func validatePort(app, field string, p int) error {
	if p < 0 || p > 65535 {
		return impossible(app, field, "%d is not a port (0-65535)", p)
	}
	return nil
}

func validateProtocol(app, field, p string) error {
	switch p {
	case "", "tcp", "udp", "udp,tcp", "tcp,udp", "sctp":
		return nil
	}
	return impossible(app, field, "%q, want tcp, udp, udp,tcp or sctp", p)
}

func validateUpgrade(app, field string, u *UpgradeStrategy) error {
	if v := u.MinimumHealthCapacity; v != nil && (*v < 0 || *v > 1) {
		return impossible(app, field+".minimumHealthCapacity", "%v is not between 0 and 1", *v)
	}
	if v := u.MaximumOverCapacity; v != nil && (*v < 0 || *v > 1) {
		return impossible(app, field+".maximumOverCapacity", "%v is not between 0 and 1", *v)
	}
	return nil
}

func validateKillSelection(app, field, k string) error {
	switch k {
	case "", "YOUNGEST_FIRST", "OLDEST_FIRST":
		return nil
	}
	return impossible(app, field, "%q, want YOUNGEST_FIRST or OLDEST_FIRST", k)
}

func validateNetworks(app, field string, ns []Network) error {
	for i, n := range ns {
		switch n.Mode {
		case "", "host", "container/bridge", "container":
		default:
			return impossible(app, fmt.Sprintf("%s[%d].mode", field, i), "%q, want host, container/bridge or container", n.Mode)
		}
	}
	return nil
}

func validateConstraints(app, field string, cs []Constraint) error {
	for i, c := range cs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if c.Field == "" {
			return impossible(app, f, "no field")
		}
		switch c.Operator {
		case OpUnique:
		case OpCluster:
		case OpGroupBy:
			if c.Value != "" {
				if n, err := strconv.Atoi(c.Value); err != nil || n < 1 {
					return impossible(app, f, "GROUP_BY %q: the value is a number of groups, at least 1", c.Value)
				}
			}
		case OpMaxPer:
			if n, err := strconv.Atoi(c.Value); err != nil || n < 1 {
				return impossible(app, f, "MAX_PER %q: the value is a number of instances, at least 1", c.Value)
			}
		case OpLike, OpUnlike:
			if c.Value == "" {
				return impossible(app, f, "%s needs a regular expression", c.Operator)
			}
			if _, err := regexp.Compile(c.Value); err != nil {
				return impossible(app, f, "%s %q: %v", c.Operator, c.Value, err)
			}
		case OpIs:
			if c.Value == "" {
				return impossible(app, f, "IS needs a value")
			}
		default:
			return impossible(app, f, "operator %q, want one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS", c.Operator)
		}
	}
	return nil
}

// validatePod checks the values Marathon would reject in a pod.
func validatePod(p *Pod) error {
	id := p.ID
	if len(p.Containers) == 0 {
		return impossible(id, "containers", "a pod needs at least one container")
	}
	names := map[string]bool{}
	for i, c := range p.Containers {
		f := fmt.Sprintf("containers[%d]", i)
		if c.Name == "" {
			return impossible(id, f+".name", "empty")
		}
		if names[c.Name] {
			return impossible(id, f+".name", "%q is used twice", c.Name)
		}
		names[c.Name] = true
		if c.Exec != nil && (c.Exec.Command.Shell == nil) == (len(c.Exec.Command.Argv) == 0) {
			return impossible(id, f+".exec.command", "exactly one of shell and argv")
		}
		for _, r := range []struct {
			name string
			v    *float64
		}{{"cpus", c.Resources.Cpus}, {"mem", c.Resources.Mem}, {"disk", c.Resources.Disk}, {"gpus", c.Resources.Gpus}} {
			if r.v != nil && *r.v < 0 {
				return impossible(id, f+".resources."+r.name, "%v is negative", *r.v)
			}
		}
		for j, e := range c.Endpoints {
			ef := fmt.Sprintf("%s.endpoints[%d]", f, j)
			if e.Name == "" {
				return impossible(id, ef+".name", "empty")
			}
			if err := validatePort(id, ef+".containerPort", e.ContainerPort); err != nil {
				return err
			}
			if e.HostPort != nil {
				if err := validatePort(id, ef+".hostPort", *e.HostPort); err != nil {
					return err
				}
			}
			for _, proto := range e.Protocol {
				if proto != "tcp" && proto != "udp" {
					return impossible(id, ef+".protocol", "%q, want tcp or udp", proto)
				}
			}
		}
		if c.Image != nil {
			if c.Image.ID == "" {
				return impossible(id, f+".image.id", "empty")
			}
			switch c.Image.Kind {
			case "", "DOCKER", "APPC":
			default:
				return impossible(id, f+".image.kind", "%q, want DOCKER or APPC", c.Image.Kind)
			}
		}
		for j, m := range c.VolumeMounts {
			if !podHasVolume(p, m.Name) {
				return impossible(id, fmt.Sprintf("%s.volumeMounts[%d].name", f, j), "%q is not one of volumes", m.Name)
			}
		}
	}
	for i, c := range p.Containers {
		// A health check probes an endpoint of its own container.
		endpoints := map[string]bool{}
		for _, e := range c.Endpoints {
			endpoints[e.Name] = true
		}
		if h := c.HealthCheck; h != nil {
			f := fmt.Sprintf("containers[%d].healthCheck", i)
			n := 0
			if h.HTTP != nil {
				n++
				if !endpoints[h.HTTP.Endpoint] {
					return impossible(id, f+".http.endpoint", "%q is not one of the container's endpoints", h.HTTP.Endpoint)
				}
			}
			if h.TCP != nil {
				n++
				if !endpoints[h.TCP.Endpoint] {
					return impossible(id, f+".tcp.endpoint", "%q is not one of the container's endpoints", h.TCP.Endpoint)
				}
			}
			if h.Exec != nil {
				n++
			}
			if n != 1 {
				return impossible(id, f, "exactly one of http, tcp and exec")
			}
		}
	}
	for i, v := range p.Volumes {
		if v.Name == "" {
			return impossible(id, fmt.Sprintf("volumes[%d].name", i), "empty")
		}
		if v.Persistent != nil && v.Persistent.Size <= 0 {
			return impossible(id, fmt.Sprintf("volumes[%d].persistent.size", i), "%v, want a size in MiB above 0", v.Persistent.Size)
		}
		if v.Secret != "" {
			if _, ok := p.Secrets[v.Secret]; !ok {
				return impossible(id, fmt.Sprintf("volumes[%d].secret", i), "%q is not one of secrets", v.Secret)
			}
		}
	}
	if s := p.Scaling; s != nil {
		if s.Kind != "" && s.Kind != "fixed" {
			return impossible(id, "scaling.kind", "%q, want fixed", s.Kind)
		}
		if s.Instances != nil && *s.Instances < 0 {
			return impossible(id, "scaling.instances", "%d is negative", *s.Instances)
		}
	}
	if s := p.Scheduling; s != nil {
		if s.Placement != nil {
			if err := validateConstraints(id, "scheduling.placement.constraints", s.Placement.Constraints); err != nil {
				return err
			}
		}
		if s.Upgrade != nil {
			if err := validateUpgrade(id, "scheduling.upgrade", s.Upgrade); err != nil {
				return err
			}
		}
		if err := validateKillSelection(id, "scheduling.killSelection", s.KillSelection); err != nil {
			return err
		}
	}
	for name, e := range p.Environment {
		if e.Secret != "" {
			if _, ok := p.Secrets[e.Secret]; !ok {
				return impossible(id, "environment."+name, "secret %q is not one of secrets", e.Secret)
			}
		}
	}
	return validateNetworks(id, "networks", p.Networks)
}

func podHasVolume(p *Pod, name string) bool {
	for _, v := range p.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

// validateMetronome checks the values Metronome would reject.
func validateMetronome(j *MetronomeJob) error {
	id := j.ID
	if id == "" {
		return impossible("", "id", "missing")
	}
	for _, seg := range strings.Split(id, ".") {
		if !validIDSegment(seg) || strings.Contains(seg, ".") {
			return impossible(id, "id", "segment %q: Metronome ids are dot-separated lowercase letters, digits and '-'", seg)
		}
	}
	r := j.Run
	if r.Cmd == nil && len(r.Args) == 0 && r.Docker == nil && r.UCR == nil {
		return impossible(id, "run", "a run needs cmd, args or an image")
	}
	for _, res := range []struct {
		name string
		v    *float64
	}{{"run.cpus", r.Cpus}, {"run.mem", r.Mem}, {"run.disk", r.Disk}, {"run.gpus", r.Gpus}} {
		if res.v != nil && *res.v < 0 {
			return impossible(id, res.name, "%v is negative", *res.v)
		}
	}
	if r.Docker != nil && r.Docker.Image == "" {
		return impossible(id, "run.docker.image", "empty")
	}
	if r.UCR != nil && r.UCR.Image.ID == "" {
		return impossible(id, "run.ucr.image.id", "empty")
	}
	if r.Restart != nil {
		switch r.Restart.Policy {
		case "NEVER", "ON_FAILURE":
		default:
			return impossible(id, "run.restart.policy", "%q, want NEVER or ON_FAILURE", r.Restart.Policy)
		}
	}
	if r.MaxRetries != nil && *r.MaxRetries < 0 {
		return impossible(id, "run.maxRetries", "%d is negative", *r.MaxRetries)
	}
	if r.Placement != nil {
		for i, c := range r.Placement.Constraints {
			f := fmt.Sprintf("run.placement.constraints[%d]", i)
			switch c.Operator {
			case "EQ", OpIs, OpLike, OpUnlike:
			default:
				return impossible(id, f+".operator", "%q, want IS, LIKE or UNLIKE", c.Operator)
			}
			if c.Attribute == "" {
				return impossible(id, f+".attribute", "empty")
			}
			if c.Operator == OpLike || c.Operator == OpUnlike {
				if _, err := regexp.Compile(c.Value); err != nil {
					return impossible(id, f+".value", "%q: %v", c.Value, err)
				}
			}
		}
	}
	for name, e := range r.Env {
		if e.Secret != "" {
			if _, ok := r.Secrets[e.Secret]; !ok {
				return impossible(id, "run.env."+name, "secret %q is not one of run.secrets", e.Secret)
			}
		}
	}
	for i, s := range j.Schedules {
		f := fmt.Sprintf("schedules[%d]", i)
		if _, err := parseCron(s.Cron); err != nil {
			return impossible(id, f+".cron", "%q: %v", s.Cron, err)
		}
		switch s.ConcurrencyPolicy {
		case "", "ALLOW", "FORBID", "REPLACE":
		default:
			return impossible(id, f+".concurrencyPolicy", "%q, want ALLOW, FORBID or REPLACE", s.ConcurrencyPolicy)
		}
		if s.StartingDeadlineSeconds != nil && *s.StartingDeadlineSeconds < 1 {
			return impossible(id, f+".startingDeadlineSeconds", "%d, want at least 1", *s.StartingDeadlineSeconds)
		}
		if err := validateTimeZone(s.TimeZone); err != nil {
			return impossible(id, f+".timezone", "%q: %v", s.TimeZone, err)
		}
	}
	return nil
}

// validateChronos checks the values Chronos would reject.
func validateChronos(j *ChronosJob) error {
	name := j.Name
	if name == "" {
		return impossible("", "name", "missing")
	}
	if j.Command == "" && j.Container == nil {
		return impossible(name, "command", "a job needs a command or a container")
	}
	if j.Schedule == "" && len(j.Parents) == 0 {
		return impossible(name, "schedule", "a job needs a schedule or parents")
	}
	if j.Schedule != "" {
		if _, err := parseISO8601Schedule(j.Schedule); err != nil {
			return impossible(name, "schedule", "%q: %v", j.Schedule, err)
		}
	}
	if err := validateTimeZone(j.ScheduleTimeZone); err != nil {
		return impossible(name, "scheduleTimeZone", "%q: %v", j.ScheduleTimeZone, err)
	}
	if j.Retries != nil && *j.Retries < 0 {
		return impossible(name, "retries", "%d is negative", *j.Retries)
	}
	for _, res := range []struct {
		name string
		v    *float64
	}{{"cpus", j.Cpus}, {"mem", j.Mem}, {"disk", j.Disk}} {
		if res.v != nil && *res.v < 0 {
			return impossible(name, res.name, "%v is negative", *res.v)
		}
	}
	if j.Container != nil && j.Container.Image == "" {
		return impossible(name, "container.image", "empty")
	}
	for i, c := range j.Constraints {
		switch c.Operator {
		case "EQUALS", OpLike, OpUnlike:
		default:
			return impossible(name, fmt.Sprintf("constraints[%d]", i), "operator %q, want EQUALS, LIKE or UNLIKE", c.Operator)
		}
	}
	return nil
}
