package migrate

import "encoding/json"

// ChronosJob is a Chronos job (POST /scheduler/iso8601, GET
// /scheduler/jobs), as Chronos 3 documents it.
type ChronosJob struct {
	Name                  string            `json:"name"`
	Description           string            `json:"description,omitempty"`
	Command               string            `json:"command,omitempty"`
	Arguments             []string          `json:"arguments,omitempty"`
	Shell                 *bool             `json:"shell,omitempty"`
	Schedule              string            `json:"schedule,omitempty"` // R[n]/start/period
	ScheduleTimeZone      string            `json:"scheduleTimeZone,omitempty"`
	Parents               []string          `json:"parents,omitempty"`
	Epsilon               string            `json:"epsilon,omitempty"`
	Retries               *int32            `json:"retries,omitempty"`
	Cpus                  *float64          `json:"cpus,omitempty"`
	Mem                   *float64          `json:"mem,omitempty"`
	Disk                  *float64          `json:"disk,omitempty"`
	Disabled              bool              `json:"disabled,omitempty"`
	Concurrent            *bool             `json:"concurrent,omitempty"`
	Container             *ChronosContainer `json:"container,omitempty"`
	EnvironmentVariables  []ChronosEnv      `json:"environmentVariables,omitempty"`
	URIs                  []string          `json:"uris,omitempty"`
	Fetch                 []Fetch           `json:"fetch,omitempty"`
	Constraints           []Constraint      `json:"constraints,omitempty"`
	RunAsUser             string            `json:"runAsUser,omitempty"`
	Owner                 string            `json:"owner,omitempty"`
	OwnerName             string            `json:"ownerName,omitempty"`
	Executor              string            `json:"executor,omitempty"`
	ExecutorFlags         string            `json:"executorFlags,omitempty"`
	Async                 bool              `json:"async,omitempty"`
	HighPriority          bool              `json:"highPriority,omitempty"`
	SoftError             bool              `json:"softError,omitempty"`
	DataProcessingJobType bool              `json:"dataProcessingJobType,omitempty"`
	TaskInfoData          string            `json:"taskInfoData,omitempty"`

	// Read-only fields of GET /scheduler/jobs.
	SuccessCount           json.RawMessage `json:"successCount,omitempty"`
	ErrorCount             json.RawMessage `json:"errorCount,omitempty"`
	LastSuccess            json.RawMessage `json:"lastSuccess,omitempty"`
	LastError              json.RawMessage `json:"lastError,omitempty"`
	ErrorsSinceLastSuccess json.RawMessage `json:"errorsSinceLastSuccess,omitempty"`
}

// ChronosContainer is a job's Docker container.
type ChronosContainer struct {
	Type           string          `json:"type,omitempty"`
	Image          string          `json:"image"`
	Network        string          `json:"network,omitempty"`
	ForcePullImage bool            `json:"forcePullImage,omitempty"`
	Volumes        []ChronosVolume `json:"volumes,omitempty"`
	Parameters     []DockerParam   `json:"parameters,omitempty"`
}

// ChronosVolume is a host path in the container.
type ChronosVolume struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath,omitempty"`
	Mode          string `json:"mode,omitempty"`
}

// ChronosEnv is one environment variable.
type ChronosEnv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
