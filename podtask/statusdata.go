package podtask

import (
	"encoding/json"
	"fmt"
)

// StatusData is the JSON in TaskStatus.data of a pod task, sent by the
// executor once the pod has IPs (the same IPs are in
// TaskStatus.container_status.network_infos, where Mesos tools look). Like
// the task data it never carries anything secret.
type StatusData struct {
	PodIP  string   `json:"podIP,omitempty"`  // the pod's primary IP
	PodIPs []string `json:"podIPs,omitempty"` // every IP of the pod, primary first
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

// DecodeStatusData parses TaskStatus data; empty data is an empty StatusData.
func DecodeStatusData(data []byte) (StatusData, error) {
	var d StatusData
	if len(data) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return StatusData{}, fmt.Errorf("task status data: %w", err)
	}
	return d, nil
}
