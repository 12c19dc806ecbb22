// Package migrate turns Marathon apps, groups and pods and Metronome and
// Chronos jobs into Kubernetes manifests (Deployments, StatefulSets,
// Services, CronJobs), with a report of what became of every field:
// converted, converted approximately (and what differs), not convertible
// (and why), or ignored (read-only status in a GET answer).
//
// The pipeline is pure: Decode* read the JSON strictly (a *FieldError names
// the app and the field of any unknown field or impossible value),
// Convert*/Migrate* build typed Kubernetes objects and the Report, and
// Migration writes them as YAML. Nothing here talks to a cluster; `kubemesos
// migrate --apply` sends the YAML through manifests/apply.
//
// docs/migrate.md is the field-by-field mapping.
package migrate
