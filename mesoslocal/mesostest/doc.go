// Package mesostest is the shared support of tests that run mesoslocal's
// master and agents in-process, on free loopback ports: StartMaster and
// StartAgent (each stopped when the test ends, or earlier by Stop), StartEtcd
// (the real etcd from bin/, for masters that elect a leader), Subscribe (a
// scheduler driven by mesos-go's HTTP client), OperatorCall (the operator
// API in protobuf, on any of several masters), Eventually (polling with a
// deadline), Listen and FreeAddr.
//
// It also carries a test executor built on mesos-go's executor library. An
// agent runs it by re-executing the test binary: a test package calls
// RunExecutorIfRequested first in its TestMain, and launches tasks with
// ExecutorCommand (or gives the agent ExecutorOptions.Environment) so that the
// binary acts as the executor instead of running tests. Its behaviour is
// selected by environment variables (ExecutorEnv, RecoverEnv), by the task's
// data (TaskDataCrash, TaskDataFinish, TaskDataStatusData) and by the LaunchFunc the test package
// passes to RunExecutorIfRequested:
//
//   - every LAUNCH is answered with TASK_RUNNING, every KILL with TASK_KILLED,
//     SHUTDOWN ends the process with exit status 0;
//   - with a LaunchFunc, every other launched task is first handed to it
//     (TASK_FAILED if it fails): the bridge's tests bind the task's pod there,
//     as the kubelet-executor does, so this package knows nothing of
//     Kubernetes;
//   - with RecoverEnv, a checkpointing executor that loses its agent
//     subscribes again, with its unacknowledged tasks and updates, until
//     MESOS_RECOVERY_TIMEOUT; without it, it exits with status 1;
//   - it writes its environment to ExecutorEnvFile, what SUBSCRIBED told it to
//     ExecutorSubscribedFile and the task ID of every ACKNOWLEDGED event to
//     ExecutorAcksFile, all in its sandbox.
package mesostest
