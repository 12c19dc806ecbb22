// Package demobatch is a small Spark-like batch framework for Mesos: it
// registers in its own role, keeps a queue of short tasks (each a `sleep`
// with some CPU and memory, run by the agent's built-in command executor),
// packs them into the offers it gets, retries tasks that fail for reasons
// outside the task, reports progress and tears itself down when every task
// is done. It is written against the public Mesos v1 scheduler API with
// mesos-go's client, so it runs on Apache Mesos as well as on mesoslocal,
// and gives mixed workloads to show and test next to the Kubernetes
// framework.
package demobatch
