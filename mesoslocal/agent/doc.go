// Package agent is mesoslocal's Mesos agent. It registers with a mesoslocal
// master over the internal link (package internal/link) and re-registers
// with everything it runs when the master restarts; it launches custom
// executors (ExecutorInfo with a CommandInfo) and command tasks as real
// processes, each in its own process group, in Mesos' sandbox layout
//
//	<work_dir>/slaves/<agentID>/frameworks/<fwID>/executors/<execID>/runs/<containerID>
//
// with stdout and stderr files and the MESOS_* environment of a real agent;
// and it serves the public Mesos v1 executor API at POST /api/v1/executor.
//
// Status updates from executors (and the agent's own, e.g. TASK_FAILED when
// an executor exits) go through a per-task stream that forwards one update at
// a time to the master and retries it until the scheduler's ACKNOWLEDGE comes
// back, as Mesos' status update manager does; the executor then gets
// ACKNOWLEDGED.
//
// Oversubscription (oversubscription.go): with a resource estimator the
// agent reports oversubscribable resources to the master, which offers them
// as revocable resources; its QoS controller kills revocable containers the
// estimate no longer covers.
package agent
