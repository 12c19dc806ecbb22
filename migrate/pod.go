package migrate

import "encoding/json"

// Pod is a Marathon pod (POST /v2/pods): containers sharing a network and
// volumes, scaled together, as Marathon 1.x documents it in its Pod schema.
type Pod struct {
	ID                string              `json:"id"`
	Labels            map[string]string   `json:"labels,omitempty"`
	User              string              `json:"user,omitempty"`
	Environment       map[string]EnvValue `json:"environment,omitempty"`
	Containers        []PodContainer      `json:"containers"`
	Secrets           map[string]Secret   `json:"secrets,omitempty"`
	Volumes           []PodVolume         `json:"volumes,omitempty"`
	Networks          []Network           `json:"networks,omitempty"`
	Scaling           *PodScaling         `json:"scaling,omitempty"`
	Scheduling        *PodScheduling      `json:"scheduling,omitempty"`
	ExecutorResources json.RawMessage     `json:"executorResources,omitempty"`
	Role              string              `json:"role,omitempty"`
	Version           json.RawMessage     `json:"version,omitempty"`
}

// PodContainer is one of a pod's containers.
type PodContainer struct {
	Name         string              `json:"name"`
	Exec         *PodExec            `json:"exec,omitempty"`
	Resources    PodResources        `json:"resources"`
	Endpoints    []PodEndpoint       `json:"endpoints,omitempty"`
	Image        *PodImage           `json:"image,omitempty"`
	Environment  map[string]EnvValue `json:"environment,omitempty"`
	User         string              `json:"user,omitempty"`
	HealthCheck  *PodHealthCheck     `json:"healthCheck,omitempty"`
	VolumeMounts []PodVolumeMount    `json:"volumeMounts,omitempty"`
	Artifacts    []Fetch             `json:"artifacts,omitempty"`
	Labels       map[string]string   `json:"labels,omitempty"`
	Lifecycle    *PodLifecycle       `json:"lifecycle,omitempty"`
	Tty          *bool               `json:"tty,omitempty"`
}

// PodExec is a container's command: a shell string or an argv.
type PodExec struct {
	Command            PodCommand `json:"command"`
	OverrideEntrypoint *bool      `json:"overrideEntrypoint,omitempty"`
}

// PodCommand is exactly one of shell and argv.
type PodCommand struct {
	Shell *string  `json:"shell,omitempty"`
	Argv  []string `json:"argv,omitempty"`
}

// PodResources are a container's resources.
type PodResources struct {
	Cpus *float64 `json:"cpus,omitempty"`
	Mem  *float64 `json:"mem,omitempty"`
	Disk *float64 `json:"disk,omitempty"`
	Gpus *float64 `json:"gpus,omitempty"`
}

// PodEndpoint is a container's port.
type PodEndpoint struct {
	Name          string            `json:"name"`
	ContainerPort int               `json:"containerPort,omitempty"`
	HostPort      *int              `json:"hostPort,omitempty"`
	Protocol      []string          `json:"protocol,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// PodImage is a container's image; kind DOCKER or APPC.
type PodImage struct {
	Kind       string          `json:"kind,omitempty"`
	ID         string          `json:"id"`
	ForcePull  bool            `json:"forcePull,omitempty"`
	PullConfig json.RawMessage `json:"pullConfig,omitempty"`
}

// PodHealthCheck is a container's health check: exactly one of http, tcp
// and exec.
type PodHealthCheck struct {
	HTTP                   *PodHTTPCheck `json:"http,omitempty"`
	TCP                    *PodTCPCheck  `json:"tcp,omitempty"`
	Exec                   *PodExec      `json:"exec,omitempty"`
	GracePeriodSeconds     *int32        `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        *int32        `json:"intervalSeconds,omitempty"`
	MaxConsecutiveFailures *int32        `json:"maxConsecutiveFailures,omitempty"`
	TimeoutSeconds         *int32        `json:"timeoutSeconds,omitempty"`
	DelaySeconds           *int32        `json:"delaySeconds,omitempty"`
}

// PodHTTPCheck checks an endpoint over HTTP or HTTPS.
type PodHTTPCheck struct {
	Endpoint string `json:"endpoint"`
	Path     string `json:"path,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
}

// PodTCPCheck connects to an endpoint.
type PodTCPCheck struct {
	Endpoint string `json:"endpoint"`
}

// PodVolumeMount mounts one of the pod's volumes.
type PodVolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// PodLifecycle is a container's kill grace period.
type PodLifecycle struct {
	KillGracePeriodSeconds *float64 `json:"killGracePeriodSeconds,omitempty"`
}

// PodVolume is one of a pod's volumes: ephemeral (name only), a host path,
// a secret file or a persistent local volume.
type PodVolume struct {
	Name       string            `json:"name"`
	Host       string            `json:"host,omitempty"`
	Secret     string            `json:"secret,omitempty"`
	Persistent *PersistentVolume `json:"persistent,omitempty"`
}

// PodScaling is how many instances of the pod run.
type PodScaling struct {
	Kind         string `json:"kind,omitempty"`
	Instances    *int   `json:"instances,omitempty"`
	MaxInstances *int   `json:"maxInstances,omitempty"`
}

// PodScheduling is where and how a pod's instances are placed and replaced.
type PodScheduling struct {
	Backoff             json.RawMessage      `json:"backoff,omitempty"`
	Upgrade             *UpgradeStrategy     `json:"upgrade,omitempty"`
	Placement           *PodPlacement        `json:"placement,omitempty"`
	KillSelection       string               `json:"killSelection,omitempty"`
	UnreachableStrategy *UnreachableStrategy `json:"unreachableStrategy,omitempty"`
}

// PodPlacement are a pod's constraints and accepted roles.
type PodPlacement struct {
	Constraints           []Constraint `json:"constraints,omitempty"`
	AcceptedResourceRoles []string     `json:"acceptedResourceRoles,omitempty"`
}
