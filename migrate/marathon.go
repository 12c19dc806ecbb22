package migrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// The Marathon app definition (POST /v2/apps), as Marathon 1.x documents it
// in its AppDefinition schema. Pointers are fields whose absence means
// Marathon's default, which the mapping needs to tell from a zero.
type App struct {
	ID                         string               `json:"id"`
	Cmd                        *string              `json:"cmd,omitempty"`
	Args                       []string             `json:"args,omitempty"`
	User                       string               `json:"user,omitempty"`
	Instances                  *int                 `json:"instances,omitempty"`
	Cpus                       *float64             `json:"cpus,omitempty"`
	Mem                        *float64             `json:"mem,omitempty"`
	Disk                       *float64             `json:"disk,omitempty"`
	Gpus                       *float64             `json:"gpus,omitempty"`
	Executor                   string               `json:"executor,omitempty"`
	Constraints                []Constraint         `json:"constraints,omitempty"`
	Fetch                      []Fetch              `json:"fetch,omitempty"`
	URIs                       []string             `json:"uris,omitempty"`
	StoreURLs                  []string             `json:"storeUrls,omitempty"`
	BackoffSeconds             *float64             `json:"backoffSeconds,omitempty"`
	BackoffFactor              *float64             `json:"backoffFactor,omitempty"`
	MaxLaunchDelaySeconds      *float64             `json:"maxLaunchDelaySeconds,omitempty"`
	Container                  *Container           `json:"container,omitempty"`
	HealthChecks               []HealthCheck        `json:"healthChecks,omitempty"`
	ReadinessChecks            []ReadinessCheck     `json:"readinessChecks,omitempty"`
	Dependencies               []string             `json:"dependencies,omitempty"`
	UpgradeStrategy            *UpgradeStrategy     `json:"upgradeStrategy,omitempty"`
	Labels                     map[string]string    `json:"labels,omitempty"`
	AcceptedResourceRoles      []string             `json:"acceptedResourceRoles,omitempty"`
	Residency                  *Residency           `json:"residency,omitempty"`
	Secrets                    map[string]Secret    `json:"secrets,omitempty"`
	Env                        map[string]EnvValue  `json:"env,omitempty"`
	TaskKillGracePeriodSeconds *int64               `json:"taskKillGracePeriodSeconds,omitempty"`
	UnreachableStrategy        *UnreachableStrategy `json:"unreachableStrategy,omitempty"`
	KillSelection              string               `json:"killSelection,omitempty"`
	Networks                   []Network            `json:"networks,omitempty"`
	PortDefinitions            []PortDefinition     `json:"portDefinitions,omitempty"`
	Ports                      []int                `json:"ports,omitempty"`
	RequirePorts               *bool                `json:"requirePorts,omitempty"`
	IPAddress                  json.RawMessage      `json:"ipAddress,omitempty"`
	Role                       string               `json:"role,omitempty"`
	Tty                        *bool                `json:"tty,omitempty"`

	AppStatus // what GET /v2/apps adds
}

// AppStatus are the read-only fields Marathon's GET answers add to an app.
// They describe the running app, not its definition, and are not converted.
type AppStatus struct {
	Version               json.RawMessage `json:"version,omitempty"`
	VersionInfo           json.RawMessage `json:"versionInfo,omitempty"`
	Tasks                 json.RawMessage `json:"tasks,omitempty"`
	TasksStaged           json.RawMessage `json:"tasksStaged,omitempty"`
	TasksRunning          json.RawMessage `json:"tasksRunning,omitempty"`
	TasksHealthy          json.RawMessage `json:"tasksHealthy,omitempty"`
	TasksUnhealthy        json.RawMessage `json:"tasksUnhealthy,omitempty"`
	Deployments           json.RawMessage `json:"deployments,omitempty"`
	LastTaskFailure       json.RawMessage `json:"lastTaskFailure,omitempty"`
	ReadinessCheckResults json.RawMessage `json:"readinessCheckResults,omitempty"`
	TaskStats             json.RawMessage `json:"taskStats,omitempty"`
	Counts                json.RawMessage `json:"counts,omitempty"`
}

// Container is an app's container: DOCKER (the Docker containerizer) or
// MESOS (the Mesos containerizer, which runs Docker images too).
type Container struct {
	Type         string          `json:"type,omitempty"`
	Docker       *Docker         `json:"docker,omitempty"`
	Appc         json.RawMessage `json:"appc,omitempty"`
	Volumes      []Volume        `json:"volumes,omitempty"`
	PortMappings []PortMapping   `json:"portMappings,omitempty"`
	LinuxInfo    json.RawMessage `json:"linuxInfo,omitempty"`
}

// Docker is container.docker.
type Docker struct {
	Image          string          `json:"image"`
	ForcePullImage bool            `json:"forcePullImage,omitempty"`
	Privileged     bool            `json:"privileged,omitempty"`
	Parameters     []DockerParam   `json:"parameters,omitempty"`
	Network        string          `json:"network,omitempty"`      // Marathon < 1.5: BRIDGE, HOST, USER, NONE
	PortMappings   []PortMapping   `json:"portMappings,omitempty"` // Marathon < 1.5 kept them here
	PullConfig     json.RawMessage `json:"pullConfig,omitempty"`
}

// DockerParam is one `docker run --key=value`.
type DockerParam struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Volume is one of container.volumes: a host path, a persistent local
// volume, an external volume or a secret file.
type Volume struct {
	ContainerPath string            `json:"containerPath"`
	HostPath      string            `json:"hostPath,omitempty"`
	Mode          string            `json:"mode,omitempty"`
	Persistent    *PersistentVolume `json:"persistent,omitempty"`
	External      json.RawMessage   `json:"external,omitempty"`
	Secret        string            `json:"secret,omitempty"`
}

// PersistentVolume is a local persistent volume of a resident app.
type PersistentVolume struct {
	Size        float64         `json:"size"` // MiB
	MaxSize     *float64        `json:"maxSize,omitempty"`
	Type        string          `json:"type,omitempty"` // root, path, mount
	ProfileName string          `json:"profileName,omitempty"`
	Constraints json.RawMessage `json:"constraints,omitempty"`
}

// PortMapping is a container port of an app on a bridge or container network.
type PortMapping struct {
	ContainerPort int               `json:"containerPort"`
	HostPort      *int              `json:"hostPort,omitempty"`
	ServicePort   int               `json:"servicePort,omitempty"`
	Protocol      string            `json:"protocol,omitempty"`
	Name          string            `json:"name,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// PortDefinition is a host port of an app on the host network.
type PortDefinition struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol,omitempty"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Network is one of networks: host, container/bridge or container (named).
type Network struct {
	Mode   string            `json:"mode,omitempty"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// HealthCheck is one of healthChecks.
type HealthCheck struct {
	Protocol               string         `json:"protocol,omitempty"`
	Path                   string         `json:"path,omitempty"`
	PortIndex              *int           `json:"portIndex,omitempty"`
	Port                   *int           `json:"port,omitempty"`
	Command                *HealthCommand `json:"command,omitempty"`
	GracePeriodSeconds     *int32         `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        *int32         `json:"intervalSeconds,omitempty"`
	TimeoutSeconds         *int32         `json:"timeoutSeconds,omitempty"`
	MaxConsecutiveFailures *int32         `json:"maxConsecutiveFailures,omitempty"`
	DelaySeconds           *int32         `json:"delaySeconds,omitempty"`
	IgnoreHTTP1xx          *bool          `json:"ignoreHttp1xx,omitempty"`
	IPProtocol             string         `json:"ipProtocol,omitempty"`
}

// HealthCommand is a COMMAND health check's shell command.
type HealthCommand struct {
	Value string `json:"value"`
}

// ReadinessCheck is one of readinessChecks.
type ReadinessCheck struct {
	Name                    string `json:"name,omitempty"`
	Protocol                string `json:"protocol,omitempty"`
	Path                    string `json:"path,omitempty"`
	PortName                string `json:"portName,omitempty"`
	IntervalSeconds         *int32 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds          *int32 `json:"timeoutSeconds,omitempty"`
	HTTPStatusCodesForReady []int  `json:"httpStatusCodesForReady,omitempty"`
	PreserveLastResponse    bool   `json:"preserveLastResponse,omitempty"`
}

// UpgradeStrategy says how many instances may be down or extra while an app
// is replaced, as fractions of instances.
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimumHealthCapacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximumOverCapacity,omitempty"`
}

// Residency keeps an app's tasks on the agents with its persistent volumes.
type Residency struct {
	RelaunchEscalationTimeoutSeconds *int   `json:"relaunchEscalationTimeoutSeconds,omitempty"`
	TaskLostBehavior                 string `json:"taskLostBehavior,omitempty"`
}

// Secret is one of secrets: a reference into the secret store.
type Secret struct {
	Source string `json:"source"`
}

// Fetch is one of fetch: a URI the Mesos fetcher downloads into the sandbox.
type Fetch struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      bool   `json:"cache,omitempty"`
	OutputFile string `json:"outputFile,omitempty"`
	DestPath   string `json:"destPath,omitempty"`
}

// UnreachableStrategy says when tasks on an unreachable agent are replaced
// and expunged; the string "disabled" means never.
type UnreachableStrategy struct {
	Disabled             bool
	InactiveAfterSeconds *int64 `json:"inactiveAfterSeconds,omitempty"`
	ExpungeAfterSeconds  *int64 `json:"expungeAfterSeconds,omitempty"`
}

func (u *UnreachableStrategy) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "disabled" {
			return &FieldError{Field: "unreachableStrategy", Err: fmt.Errorf("%w: %q, want \"disabled\" or an object", ErrImpossibleValue, s)}
		}
		*u = UnreachableStrategy{Disabled: true}
		return nil
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	type plain UnreachableStrategy
	if err := knownFields("unreachableStrategy", raw, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return &FieldError{Field: "unreachableStrategy", Err: jsonError(err)}
	}
	*u = UnreachableStrategy(p)
	return nil
}

// EnvValue is a value of env: a string, or {"secret": NAME} naming one of
// the app's secrets.
type EnvValue struct {
	Value  string
	Secret string
}

func (e *EnvValue) UnmarshalJSON(b []byte) error {
	if json.Unmarshal(b, &e.Value) == nil {
		return nil
	}
	var ref struct {
		Secret *string `json:"secret"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&ref); err != nil || ref.Secret == nil {
		return &FieldError{Field: "env", Err: fmt.Errorf("%w: %s, want a string or {\"secret\": NAME}", ErrInvalidJSON, b)}
	}
	e.Secret = *ref.Secret
	return nil
}

// Constraint is a placement constraint: [field, operator] or
// [field, operator, value] in an app, an object in a pod.
type Constraint struct {
	Field    string `json:"fieldName"`
	Operator string `json:"operator"`
	Value    string `json:"value,omitempty"`
}

func (c *Constraint) UnmarshalJSON(b []byte) error {
	var arr []string
	if json.Unmarshal(b, &arr) == nil {
		if len(arr) < 2 || len(arr) > 3 {
			return &FieldError{Field: "constraints", Err: fmt.Errorf("%w: %q, want [field, operator] or [field, operator, value]", ErrImpossibleValue, arr)}
		}
		c.Field, c.Operator = arr[0], arr[1]
		if len(arr) == 3 {
			c.Value = arr[2]
		}
		return nil
	}
	type plain Constraint
	var p plain
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return &FieldError{Field: "constraints", Err: fmt.Errorf("%w: %s, want [field, operator, value] or {fieldName, operator, value}: %v", ErrInvalidJSON, b, err)}
	}
	*c = Constraint(p)
	return nil
}

// Group is a Marathon group (POST /v2/groups, GET /v2/groups): apps, pods
// and groups under one path. GET /v2/apps answers {"apps": [...]}, a group
// without an id.
type Group struct {
	ID           string            `json:"id,omitempty"`
	Apps         []json.RawMessage `json:"apps,omitempty"`
	Pods         []json.RawMessage `json:"pods,omitempty"`
	Groups       []json.RawMessage `json:"groups,omitempty"`
	Dependencies []string          `json:"dependencies,omitempty"`
	EnforceRole  *bool             `json:"enforceRole,omitempty"`
	Version      json.RawMessage   `json:"version,omitempty"`
	VersionInfo  json.RawMessage   `json:"versionInfo,omitempty"`
}
