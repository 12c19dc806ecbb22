package podtask

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// StatusData is the JSON in TaskStatus.data. The executor sends it in a
// pod task's status once the pod has IPs (the same IPs are in
// TaskStatus.container_status.network_infos, where Mesos tools look), and
// in every status of a node task with the agent's work_dir, which the
// bridge needs for the host path of the persistent volumes it creates there
// (VolumeHostPath) and which Mesos tells a framework nowhere else. Like the
// task data it never carries anything secret.
type StatusData struct {
	PodIP  string   `json:"podIP,omitempty"`  // the pod's primary IP
	PodIPs []string `json:"podIPs,omitempty"` // every IP of the pod, primary first
	// WorkDir is the agent's --work_dir (WorkDirOfEnv), in node task statuses.
	WorkDir string `json:"workDir,omitempty"`
}

// StatusDataOf is the status data of a pod with these IPs (primary first).
func StatusDataOf(podIPs []string) StatusData {
	if len(podIPs) == 0 {
		return StatusData{}
	}
	return StatusData{PodIP: podIPs[0], PodIPs: podIPs}
}

// Encode returns the TaskStatus data.
func (d StatusData) Encode() []byte {
	b, _ := json.Marshal(d) // strings only: cannot fail
	return b
}

// DecodeStatusData parses TaskStatus data; empty data is an empty
// StatusData. A work_dir that is not an absolute path is an error: the
// host paths of volumes are built from it.
func DecodeStatusData(data []byte) (StatusData, error) {
	var d StatusData
	if len(data) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return StatusData{}, fmt.Errorf("task status data: %w", err)
	}
	if d.WorkDir != "" && !filepath.IsAbs(d.WorkDir) {
		return StatusData{}, fmt.Errorf("task status data: work_dir %q is not absolute", d.WorkDir)
	}
	return d, nil
}
