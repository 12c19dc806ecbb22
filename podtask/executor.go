package podtask

// ExecutorID is the Mesos executor ID of the kubelet-executor. There is one
// executor per agent per framework, so every agent's executor carries the
// same ID, and an offer that lists it comes from an agent whose executor
// (and node) already runs.
const ExecutorID = "kubelet-executor"
