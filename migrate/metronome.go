package migrate

import "encoding/json"

// MetronomeJob is a Metronome job (POST /v1/jobs), with its schedules as
// GET /v1/jobs/ID?embed=schedules answers them, as Metronome documents it
// in its job and schedule schemas.
type MetronomeJob struct {
	ID          string              `json:"id"`
	Description string              `json:"description,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	Run         MetronomeRun        `json:"run"`
	Schedules   []MetronomeSchedule `json:"schedules,omitempty"`

	// Read-only fields of GET answers.
	ActiveRuns json.RawMessage `json:"activeRuns,omitempty"`
	History    json.RawMessage `json:"history,omitempty"`
}

// MetronomeRun is what one run of the job executes.
type MetronomeRun struct {
	Cmd                        *string             `json:"cmd,omitempty"`
	Args                       []string            `json:"args,omitempty"`
	Cpus                       *float64            `json:"cpus,omitempty"`
	Mem                        *float64            `json:"mem,omitempty"`
	Disk                       *float64            `json:"disk,omitempty"`
	Gpus                       *float64            `json:"gpus,omitempty"`
	Docker                     *MetronomeDocker    `json:"docker,omitempty"`
	UCR                        *MetronomeUCR       `json:"ucr,omitempty"`
	Env                        map[string]EnvValue `json:"env,omitempty"`
	Secrets                    map[string]Secret   `json:"secrets,omitempty"`
	Artifacts                  []Fetch             `json:"artifacts,omitempty"`
	MaxLaunchDelay             *int64              `json:"maxLaunchDelay,omitempty"`
	Placement                  *MetronomePlacement `json:"placement,omitempty"`
	Restart                    *MetronomeRestart   `json:"restart,omitempty"`
	User                       string              `json:"user,omitempty"`
	Volumes                    []Volume            `json:"volumes,omitempty"`
	TaskKillGracePeriodSeconds *int64              `json:"taskKillGracePeriodSeconds,omitempty"`
	Networks                   []Network           `json:"networks,omitempty"`
	MaxRetries                 *int32              `json:"maxRetries,omitempty"`
}

// MetronomeDocker is run.docker.
type MetronomeDocker struct {
	Image          string          `json:"image"`
	ForcePullImage bool            `json:"forcePullImage,omitempty"`
	Privileged     bool            `json:"privileged,omitempty"`
	Parameters     []DockerParam   `json:"parameters,omitempty"`
	PullConfig     json.RawMessage `json:"pullConfig,omitempty"`
}

// MetronomeUCR is run.ucr: a Docker image under the Mesos containerizer.
type MetronomeUCR struct {
	Image struct {
		ID        string `json:"id"`
		Kind      string `json:"kind,omitempty"`
		ForcePull bool   `json:"forcePull,omitempty"`
	} `json:"image"`
	Privileged bool `json:"privileged,omitempty"`
}

// MetronomePlacement are a job's constraints.
type MetronomePlacement struct {
	Constraints []MetronomeConstraint `json:"constraints,omitempty"`
}

// MetronomeConstraint is {attribute, operator, value}; operators EQ
// (Metronome < 0.6), IS, LIKE, UNLIKE.
type MetronomeConstraint struct {
	Attribute string `json:"attribute"`
	Operator  string `json:"operator"`
	Value     string `json:"value,omitempty"`
}

// MetronomeRestart is whether a failed run is retried, and for how long.
type MetronomeRestart struct {
	Policy                string `json:"policy"` // NEVER, ON_FAILURE
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// MetronomeSchedule is one of a job's schedules.
type MetronomeSchedule struct {
	ID                      string `json:"id"`
	Cron                    string `json:"cron"`
	TimeZone                string `json:"timezone,omitempty"`
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	ConcurrencyPolicy       string `json:"concurrencyPolicy,omitempty"` // ALLOW (the only one Metronome implements), FORBID, REPLACE
	Enabled                 *bool  `json:"enabled,omitempty"`
	NextRunAt               string `json:"nextRunAt,omitempty"`
}
