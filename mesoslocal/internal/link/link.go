// Package link is the mesoslocal master↔agent protocol, which stands in for
// Mesos' libprocess messages. It is plain HTTP and JSON, with Mesos protobuf
// messages carried as their protobuf bytes:
//
//   - The agent POSTs Register to PathRegister. The answer is a long-lived
//     stream of newline-delimited JSON Commands: first CmdRegistered with the
//     agent's ID, then launches, kills, acknowledgements, shutdowns, messages
//     and periodic pings. When the stream breaks the agent registers again
//     with its ID and everything it runs, so a restarted master rebuilds its
//     view of the agent's tasks.
//   - The agent POSTs StatusUpdate, ExecutorExited and Message to the other
//     paths; the master answers 202, 404 for an agent it does not know (the
//     agent re-registers) or 410 for a framework that no longer exists (the
//     agent drops what it holds for it).
//
// Nothing outside mesoslocal may depend on this protocol: real Mesos agents
// speak libprocess.
package link

import (
	"fmt"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
)

// Paths on the master.
const (
	PathRegister       = "/internal/mesoslocal/agent/register"
	PathStatus         = "/internal/mesoslocal/agent/status"
	PathExecutorExited = "/internal/mesoslocal/agent/executor_exited"
	PathMessage        = "/internal/mesoslocal/agent/message"
	// PathPong answers a CmdPing; an agent whose pongs stop arriving for
	// agent_ping_timeout × max_agent_ping_timeouts becomes unreachable.
	PathPong = "/internal/mesoslocal/agent/pong"
	// PathOversubscribed takes an agent's Oversubscribed resources (Mesos'
	// UpdateSlaveMessage.oversubscribed_resources).
	PathOversubscribed = "/internal/mesoslocal/agent/oversubscribed"
)

// Register is what an agent sends when it (re-)registers.
type Register struct {
	// AgentID is empty on first registration.
	AgentID string `json:"agent_id,omitempty"`
	// Info is a mesos.AgentInfo: hostname, port, resources, attributes.
	Info []byte `json:"info"`
	// Endpoint is the agent's ip:port.
	Endpoint string `json:"endpoint"`
	// Frameworks (mesos.FrameworkInfo) and Executors of what the agent runs.
	Frameworks [][]byte   `json:"frameworks,omitempty"`
	Executors  []Executor `json:"executors,omitempty"`
	// Tasks are mesos.Task records with their latest state.
	Tasks [][]byte `json:"tasks,omitempty"`
}

// Executor is one executor an agent runs.
type Executor struct {
	FrameworkID string `json:"framework_id"`
	Info        []byte `json:"info"` // mesos.ExecutorInfo
}

// Command types on the register stream.
const (
	CmdRegistered = "REGISTERED"
	CmdPing       = "PING"
	CmdLaunch     = "LAUNCH"
	// CmdLaunchGroup carries one task group (Tasks) for the executor of
	// type DEFAULT in Executor; the agent hands it to that executor as one
	// LAUNCH_GROUP event.
	CmdLaunchGroup       = "LAUNCH_GROUP"
	CmdKill              = "KILL"
	CmdAcknowledge       = "ACKNOWLEDGE"
	CmdShutdownExecutor  = "SHUTDOWN_EXECUTOR"
	CmdShutdownFramework = "SHUTDOWN_FRAMEWORK"
	CmdMessage           = "MESSAGE"
	// CmdCheckpointResources carries the agent's total resources after a
	// RESERVE/UNRESERVE/CREATE/DESTROY, which the agent keeps and reports.
	CmdCheckpointResources = "CHECKPOINT_RESOURCES"
	// CmdShutdown tells the agent it was removed (its machine went DOWN for
	// maintenance or an operator marked it gone): it kills every executor,
	// forgets its ID and checkpointed state and registers anew later.
	CmdShutdown = "SHUTDOWN"
)

// Command is one message from the master to an agent.
type Command struct {
	Type        string   `json:"type"`
	AgentID     string   `json:"agent_id,omitempty"`
	MasterID    string   `json:"master_id,omitempty"`
	FrameworkID string   `json:"framework_id,omitempty"`
	Framework   []byte   `json:"framework,omitempty"` // mesos.FrameworkInfo
	Executor    []byte   `json:"executor,omitempty"`  // mesos.ExecutorInfo
	Tasks       [][]byte `json:"tasks,omitempty"`     // mesos.TaskInfo
	TaskID      string   `json:"task_id,omitempty"`
	ExecutorID  string   `json:"executor_id,omitempty"`
	UUID        []byte   `json:"uuid,omitempty"`
	KillPolicy  []byte   `json:"kill_policy,omitempty"` // mesos.KillPolicy
	Data        []byte   `json:"data,omitempty"`
	// Resources are mesos.Resource messages (CmdCheckpointResources).
	Resources [][]byte `json:"resources,omitempty"`
}

// StatusUpdate carries a mesos.TaskStatus from an agent to the master.
type StatusUpdate struct {
	AgentID     string `json:"agent_id"`
	FrameworkID string `json:"framework_id"`
	Status      []byte `json:"status"`
}

// ExecutorExited tells the master an executor process ended.
type ExecutorExited struct {
	AgentID     string `json:"agent_id"`
	FrameworkID string `json:"framework_id"`
	ExecutorID  string `json:"executor_id"`
	Status      int32  `json:"status"`
	// StatusUnknown: the process was adopted after an agent restart and
	// its wait status is not known (FAILURE then has no status).
	StatusUnknown bool `json:"status_unknown,omitempty"`
}

// Oversubscribed is an agent's total of oversubscribed (revocable)
// resources: what its resource estimator reports is oversubscribable plus
// the revocable resources its tasks and executors use. The agent sends it
// when the total changed and after every (re-)registration; it replaces
// the previous total.
type Oversubscribed struct {
	AgentID string `json:"agent_id"`
	// Resources are mesos.Resource messages, each revocable.
	Resources [][]byte `json:"resources,omitempty"`
}

// Pong is an agent's answer to a ping.
type Pong struct {
	AgentID string `json:"agent_id"`
}

// Message carries executor → scheduler data.
type Message struct {
	AgentID     string `json:"agent_id"`
	FrameworkID string `json:"framework_id"`
	ExecutorID  string `json:"executor_id"`
	Data        []byte `json:"data"`
}

// Marshal encodes a protobuf message; the mesos-go types never fail on a
// well-formed value, so an error here is a programming error and panics.
func Marshal(m encoding.Marshaler) []byte {
	b, err := m.Marshal()
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return b
}

// Unmarshal decodes protobuf bytes into m.
func Unmarshal(b []byte, m encoding.Unmarshaler) error {
	if err := m.Unmarshal(b); err != nil {
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}
