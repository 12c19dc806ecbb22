// Package podtask is the contract between the bridge, which launches one
// Mesos task per pod, and the kubelet-executor, which runs it. Both import
// it, and so do the tests that check one against the other; it uses Mesos'
// protobuf types and Kubernetes' API types and validation, never a
// Kubernetes client.
//
// What each side may assume:
//
// Identity. Every launch of a pod has its own task ID, TaskID(pod UID,
// Attempt), "pod.<uid>.<epoch>.<seq>": Mesos requires task IDs to be unique
// for a framework's life. The bridge never builds one twice: the epoch is
// its term's (the etcd election revision, which grows from leader to
// leader, or the term's start time in nanoseconds without election) and seq
// counts within the term. ParseTaskID and UIDFromTaskID invert it, accept
// the older per-pod form "pod.<uid>" (the zero Attempt) so that tasks of an
// older bridge are adopted, and reject every other task ID. The task name is
// "<namespace>/<name>". Two tasks of one pod may both be known to Mesos (a
// relaunch while an ended one is listed); the bridge keeps at most one live.
//
// Task data. PodRef.TaskInfo fills in ID, name, data and labels; the data is
// PodRef.Encode (JSON namespace, name, uid) and nothing else: TaskInfo is
// public in Mesos' state endpoints, so the spec, and any secret in it, stays
// in the API server. DecodeTask is what an executor calls on LAUNCH: it
// accepts only a complete reference whose UID is the one of the task ID, and
// wraps ErrBadTaskData (ErrTaskIDMismatch for a task of another pod)
// otherwise. The bridge may assume an executor never runs a pod under a task
// ID that is not the pod's.
//
// Executor. Every agent's kubelet-executor has the executor ID ExecutorID,
// or ExecutorIDOf its configuration (IsExecutorID accepts both).
//
// Status data. A status of a pod with IPs carries StatusData (JSON podIP,
// podIPs); every status of a node task carries the agent's work_dir
// (workDir) when the executor could derive it. Readers must accept
// statuses without data.
//
// Terminal states. After a state for which IsTerminal holds, no further
// status of that task follows and the pod no longer runs under it.
// TASK_UNREACHABLE and TASK_UNKNOWN are not terminal.
//
// Node labels. NodeLabels is the one derivation of the labels an agent's
// Node will carry, from what offers and the executor's AgentInfo both hold
// (Agent: hostname, attributes, fault domain): valid attributes the kubelet
// may set, topology.kubernetes.io/region and zone, kubernetes.io/hostname =
// NodeName, kubernetes.io/os and arch (declared by attributes of those names,
// or DefaultOS and DefaultArch). The bridge matches pods against these
// before the Node exists (AgentOfOffer); the executor registers the Node
// with them (AgentOfInfo) and refuses to bring up a node whose host is
// another platform than the labels say (CheckPlatform). So the bridge may
// assume that a pod it places on an offer's agent will find exactly these
// labels on the Node, and the executor may assume the pods it is given were
// matched against them. Labels added to the Node later by others (kubectl
// label, controllers) are not part of the contract.
//
// Maintenance. MaintenanceTaint (kubemesos.io/maintenance:NoSchedule) is
// on the Node of an agent the bridge drains because Mesos takes its machine
// back; pods that must not go there need not say anything, and a pod that
// tolerates it may still be evicted by the drain.
//
// Persistent volumes. A PVC of StorageClassName is one Mesos persistent
// volume: persistence ID = PV name = PVName(PVC UID); its disk is reserved
// for the framework's role with labels naming the PVC (Volume.ReserveResource,
// ClaimOfResource); the volume and the pod task's resource is
// Volume.CreateResource. On the agent it is the directory VolumeHostPath
// (Mesos' own layout), which the executor finds from the work_dir
// WorkDirOfEnv derives from MESOS_DIRECTORY. The PV the bridge creates is
// PersistentVolume: a local volume there, node affinity to the agent's node,
// pre-bound to the PVC, held by the finalizer
// FinalizerVolume until the volume is destroyed.
//
// See README.md beside this file for the pipeline and a glossary.
package podtask
