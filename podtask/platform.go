package podtask

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// The platform of an agent that declares none (see NodeLabels).
const (
	// DefaultOS: the kubelet-executor runs only on Linux (containerd, cgroups,
	// CNI, network namespaces), so any node it brings up reports "linux".
	DefaultOS = "linux"
	// DefaultArch: Mesos does not report an agent's CPU architecture, and
	// amd64 is what Mesos agents overwhelmingly run. Agents of another
	// architecture declare it with the attribute kubernetes.io/arch.
	DefaultArch = "amd64"
)

// ErrPlatformMismatch: the host an executor runs on is not the platform the
// agent declares (or the default), so the bridge matched pods against
// labels this node would not have.
var ErrPlatformMismatch = errors.New("the agent's declared platform is not the executor host's")

// CheckPlatform returns ErrPlatformMismatch unless labels (NodeLabels of the
// executor's agent) name the platform goos/goarch, the one the kubelet will
// report (the executor passes runtime.GOOS and runtime.GOARCH: it runs on
// the kubelet's host, built for it).
func CheckPlatform(labels map[string]string, goos, goarch string) error {
	os, arch := labels[corev1.LabelOSStable], labels[corev1.LabelArchStable]
	if os == goos && arch == goarch {
		return nil
	}
	return fmt.Errorf("%w: agent %s/%s, host %s/%s; set the agent attributes %s:%s;%s:%s",
		ErrPlatformMismatch, os, arch, goos, goarch, corev1.LabelOSStable, goos, corev1.LabelArchStable, goarch)
}
