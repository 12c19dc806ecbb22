package podtask

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestCheckPlatform(t *testing.T) {
	labels, _ := NodeLabels(Agent{Hostname: "a"})
	if err := CheckPlatform(labels, "linux", "amd64"); err != nil {
		t.Fatalf("default platform on linux/amd64: %v", err)
	}
	if err := CheckPlatform(labels, "linux", "arm64"); err == nil {
		t.Fatal("an arm64 host accepted for an agent declaring no platform")
	}
	arm, _ := NodeLabels(Agent{Hostname: "a", Attributes: []mesos.Attribute{text("kubernetes.io/arch", "arm64")}})
	if err := CheckPlatform(arm, "linux", "arm64"); err != nil {
		t.Fatalf("declared arm64 on arm64: %v", err)
	}
}
