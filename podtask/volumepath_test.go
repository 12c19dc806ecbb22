package podtask

import (
	"errors"
	"testing"
)

func TestVolumeHostPath(t *testing.T) {
	for _, tc := range []struct {
		workDir, role, id, want string
		bad                     bool
	}{
		{"/var/lib/mesos", "kubemesos", "pvc-1", "/var/lib/mesos/volumes/roles/kubemesos/pvc-1", false},
		{"/var/lib/mesos/", "eng/kubemesos", "pvc-1", "/var/lib/mesos/volumes/roles/eng kubemesos/pvc-1", false},
		{"var/lib/mesos", "kubemesos", "pvc-1", "", true},
		{"/var/lib/mesos", "*", "pvc-1", "", true},
		{"/var/lib/mesos", "a b", "pvc-1", "", true},
		{"/var/lib/mesos", "kubemesos", "../etc", "", true},
	} {
		got, err := VolumeHostPath(tc.workDir, tc.role, tc.id)
		if tc.bad {
			if err == nil {
				t.Errorf("VolumeHostPath(%q, %q, %q) = %q, want an error", tc.workDir, tc.role, tc.id, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("VolumeHostPath(%q, %q, %q) = %q, %v; want %q", tc.workDir, tc.role, tc.id, got, err, tc.want)
		}
	}
}

func TestWorkDirOfSandbox(t *testing.T) {
	const run = "/slaves/S0/frameworks/F0/executors/kubelet-executor/runs/c1"
	for _, tc := range []struct{ dir, want string }{
		{"/var/lib/mesos" + run, "/var/lib/mesos"},
		{"/var/lib/mesos" + run + "/", "/var/lib/mesos"},
		{"/tmp/slaves/x/slaves" + run, "/tmp/slaves/x/slaves"}, // a work_dir may itself hold "slaves"
		{run, "/"},
		{"/var/lib/mesos/slaves/S0/frameworks/F0/executors/e/runs/latest", "/var/lib/mesos"},
		// MESOS_DIRECTORY of a kubelet-executor under Apache Mesos 1.12
		// (shared/reference/mesos-1.12/custom-executor-env.txt).
		{"/var/lib/mesos/agent/slaves/0691dd49-4aa6-4288-afb9-8a8ce6ddfb94-S0/frameworks/0691dd49-4aa6-4288-afb9-8a8ce6ddfb94-0000/executors/kubelet-executor.ref/runs/406d8c68-9182-40c8-b0e3-2fceccbbfbd1", "/var/lib/mesos/agent"},
	} {
		got, err := WorkDirOfSandbox(tc.dir)
		if err != nil || got != tc.want {
			t.Errorf("WorkDirOfSandbox(%q) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"", "relative" + run, "/var/lib/mesos", "/var/lib/mesos/slaves/S0/frameworks/F0/executors/e/runs",
		"/var/lib/mesos/slaves/S0/frameworks/F0/executors/e/tasks/t", "/mnt/mesos/sandbox",
	} {
		if got, err := WorkDirOfSandbox(bad); !errors.Is(err, ErrNotASandbox) {
			t.Errorf("WorkDirOfSandbox(%q) = %q, %v; want ErrNotASandbox", bad, got, err)
		}
	}
	env := map[string]string{"MESOS_DIRECTORY": "/var/lib/mesos" + run, "MESOS_SANDBOX": "/mnt/mesos/sandbox"}
	if got, err := WorkDirOfEnv(func(k string) string { return env[k] }); err != nil || got != "/var/lib/mesos" {
		t.Errorf("WorkDirOfEnv = %q, %v", got, err)
	}
	if _, err := WorkDirOfEnv(func(string) string { return "" }); !errors.Is(err, ErrNotASandbox) {
		t.Errorf("WorkDirOfEnv without MESOS_DIRECTORY: %v", err)
	}
}
