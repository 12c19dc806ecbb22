package kubeletexecutor

import (
	"strings"
	"testing"
)

// TestSettingsFromEnvRuntime: the kubelet runtime (the default) needs the
// kubeconfig, client CA and pod CIDR; the simulated one only the kubeconfig;
// an unknown runtime is refused naming the valid ones.
func TestSettingsFromEnvRuntime(t *testing.T) {
	mesosEnv := map[string]string{
		"MESOS_FRAMEWORK_ID": "fw", "MESOS_EXECUTOR_ID": "kubelet-executor", "MESOS_DIRECTORY": "/tmp", "MESOS_SANDBOX": "/tmp",
		"MESOS_AGENT_ENDPOINT": "127.0.0.1:5051", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
		EnvBinDir: "/bin",
	}
	tests := []struct {
		name    string
		env     map[string]string
		runtime string
		err     string
	}{
		{"kubelet by default", map[string]string{EnvKubeconfig: "k", EnvClientCA: "ca", EnvPodCIDR: "10.0.0.0/24"}, RuntimeKubelet, ""},
		{"kubelet without CA and CIDR", map[string]string{EnvKubeconfig: "k"}, "", EnvClientCA},
		{"simulated with only a kubeconfig", map[string]string{EnvRuntime: RuntimeSimulated, EnvKubeconfig: "k"}, RuntimeSimulated, ""},
		{"simulated without a kubeconfig", map[string]string{EnvRuntime: RuntimeSimulated}, "", EnvKubeconfig},
		{"unknown runtime", map[string]string{EnvRuntime: "docker", EnvKubeconfig: "k"}, "", `"docker"`},
		{"bad adoption window", map[string]string{EnvRuntime: RuntimeSimulated, EnvKubeconfig: "k", EnvAdoptWindow: "soon"}, "", EnvAdoptWindow},
		{"negative adoption window", map[string]string{EnvRuntime: RuntimeSimulated, EnvKubeconfig: "k", EnvAdoptWindow: "-1s"}, "", EnvAdoptWindow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvRuntime, EnvKubeconfig, EnvClientCA, EnvPodCIDR, EnvAdoptWindow} {
				t.Setenv(k, "")
			}
			for k, v := range mesosEnv {
				t.Setenv(k, v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			s, err := SettingsFromEnv()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || s.Runtime != tc.runtime || s.AdoptWindow != DefaultAdoptWindow {
				t.Fatalf("runtime %q window %v err %v, want %q and %v", s.Runtime, s.AdoptWindow, err, tc.runtime, DefaultAdoptWindow)
			}
		})
	}
}
