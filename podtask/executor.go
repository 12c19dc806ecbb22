package podtask

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// ExecutorID is the Mesos executor ID of the kubelet-executor. There is one
// executor per agent per framework, so every agent's executor carries the
// same ID, and an offer that lists it comes from an agent whose executor
// (and node) already runs.
const ExecutorID = "kubelet-executor"

// ExecutorIDOf is the executor ID of a kubelet-executor configuration:
// ExecutorID, a dot and a hash of what the agent runs (the command, its
// arguments, URIs and environment, and the container). The same
// configuration always has the same ID on every agent; an upgrade (a new
// binary URI, another command line) gets a new one, so Mesos runs the new
// executor as a new executor and both sides can tell the tasks of the old
// from those of the new (docs/decisions.md, "Executor upgrades").
func ExecutorIDOf(cmd *mesos.CommandInfo, container *mesos.ContainerInfo) string {
	var parts [2][]byte
	// Generated protobuf Marshal fails only on a nil receiver.
	if cmd != nil {
		parts[0], _ = cmd.Marshal()
	}
	if container != nil {
		parts[1], _ = container.Marshal()
	}
	h := sha256.New()
	for _, b := range parts {
		_ = binary.Write(h, binary.BigEndian, uint32(len(b))) // length-prefixed: no two splits hash alike
		h.Write(b)
	}
	return ExecutorID + "." + hex.EncodeToString(h.Sum(nil))[:12]
}

// IsExecutorID reports whether id is a kubelet-executor's: ExecutorID, or
// one of ExecutorIDOf.
func IsExecutorID(id string) bool {
	return id == ExecutorID || strings.HasPrefix(id, ExecutorID+".")
}

// MessageRetire is the data of the framework message (Mesos MESSAGE) with
// which the bridge asks a kubelet-executor of an earlier configuration to
// exit at once without draining its node: its agent then ends its tasks
// (TASK_FAILED, REASON_EXECUTOR_TERMINATED), the pods' containers keep
// running, and the bridge launches the pods again onto the executor of the
// new configuration, which adopts them (docs/decisions.md, "Executor
// upgrades"). An executor never sends it.
const MessageRetire = "kubemesos.io/retire"
