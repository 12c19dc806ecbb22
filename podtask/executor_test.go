package podtask

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// TestExecutorIDOf: the ID is stable for one configuration and changes with
// anything the agent would run differently (binary URI, arguments,
// environment, container); every such ID is a kubelet-executor's.
func TestExecutorIDOf(t *testing.T) {
	str := func(s string) *string { return &s }
	base := func() *mesos.CommandInfo {
		return &mesos.CommandInfo{Value: str("./kubemesos executor"), URIs: []mesos.CommandInfo_URI{{Value: "http://repo/kubemesos-v1"}},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{{Name: "A", Value: str("1")}}}}
	}
	id := ExecutorIDOf(base(), nil)
	if again := ExecutorIDOf(base(), nil); again != id {
		t.Errorf("same configuration: %s then %s", id, again)
	}
	if !IsExecutorID(id) || !IsExecutorID(ExecutorID) || IsExecutorID("kubelet-executorx") || IsExecutorID("other") {
		t.Errorf("IsExecutorID misjudges %s, %s, kubelet-executorx or other", id, ExecutorID)
	}
	changes := map[string]func(c *mesos.CommandInfo) *mesos.ContainerInfo{
		"new binary URI": func(c *mesos.CommandInfo) *mesos.ContainerInfo {
			c.URIs[0].Value = "http://repo/kubemesos-v2"
			return nil
		},
		"new arguments": func(c *mesos.CommandInfo) *mesos.ContainerInfo {
			c.Value = str("./kubemesos executor --v=4")
			return nil
		},
		"new env value": func(c *mesos.CommandInfo) *mesos.ContainerInfo {
			c.Environment.Variables[0].Value = str("2")
			return nil
		},
		"a container": func(*mesos.CommandInfo) *mesos.ContainerInfo {
			return &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum()}
		},
	}
	for name, change := range changes {
		c := base()
		container := change(c)
		if got := ExecutorIDOf(c, container); got == id {
			t.Errorf("%s: ID unchanged (%s)", name, got)
		}
	}
	if ExecutorIDOf(nil, nil) == id {
		t.Error("no command has the ID of a command")
	}
}
