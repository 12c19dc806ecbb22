// Package bench measures schedulers side by side on one real kube-apiserver
// and etcd: `kubemesos bench`.
//
// Every contender schedules the same pods (one template, its own namespace
// and spec.schedulerName) one after another on the same API server: a null
// binder that binds round-robin with no logic (the ceiling), kube-scheduler
// from bin/ with its client QPS and burst raised, and kubemesos (the bridge
// through an in-process mesoslocal master and simulated agents whose launch
// hook binds each pod as the kubelet-executor does). For each, the bench
// creates the pods as fast as the API server takes them (closed loop) and
// reports pods per second, creation→bound latency percentiles and the
// scheduler's CPU-seconds and peak RSS, each as a ratio to the null binder.
//
// kubemesos' simulated agents run in agent processes of their own
// (agents.go: `kubemesos bench agents`; agentprocs.go starts them and ends
// them by PID), so no process holds the links of thousands of agents.
// RunReal (real.go) measures real containers instead: a `kubemesos up`
// cluster beside a plain kubelet, creation→Running and launch→Ready.
//
// The pure parts (percentiles, the ratio table, the JSON shape, shares of
// agents, the startup summary and the bridge-log parser) are in
// percentile.go, table.go, result.go, agentprocs.go (Shares) and
// startup.go; everything that talks to the API server or starts processes
// is in run.go, load.go, bindwatch.go, podwatch.go, real.go and the
// contenders' files.
package bench
