package conformance

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jobCondition is the status of the job's condition of type ct ("" if none).
func jobCondition(j *batchv1.Job, ct batchv1.JobConditionType) (corev1.ConditionStatus, string) {
	for _, c := range j.Status.Conditions {
		if c.Type == ct {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// waitJobPods waits until Job name has exactly n pods, all in phase with
// tasks in state.
func waitJobPods(t *testing.T, ns, name string, n int, phase corev1.PodPhase, state string) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d %s pods of %s, each %s", n, phase, name, state), func() (bool, string) {
		pods, states := jobPods(t, ns, name)
		ok := 0
		for _, p := range pods {
			if p.Status.Phase == phase && states[p.Name] == state {
				ok++
			}
		}
		return ok == n && len(pods) == n, fmt.Sprint(states)
	})
}

// jobPods are the pods of Job name, and their tasks' states.
func jobPods(t *testing.T, ns, name string) ([]corev1.Pod, map[string]string) {
	t.Helper()
	list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	tasks := frameworkTasks(t)
	states := map[string]string{}
	for _, p := range list.Items {
		states[p.Name] = tasks[p.UID]
	}
	return list.Items, states
}

// TestJobsRunToCompletionAndFailuresAreCounted: a Job of 4 completions, 2
// at a time, completes with 4 succeeded pods, each a TASK_FINISHED task; a
// Job whose pod exits 1 with backoffLimit 1 fails with
// BackoffLimitExceeded after 2 pods, each a TASK_FAILED task.
func TestJobsRunToCompletionAndFailuresAreCounted(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: work, namespace: %[1]s}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo done by $(hostname); sleep 2']
        resources: {requests: {cpu: 50m, memory: 16Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: broken, namespace: %[1]s}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: kubemesos.local/busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'echo failing; exit 1']
        resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	jobs := cluster.client.BatchV1().Jobs(ns)
	eventually(t, 3*time.Minute, "Job work Complete with 4 succeeded", func() (bool, string) {
		j, err := jobs.Get(t.Context(), "work", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st, _ := jobCondition(j, batchv1.JobComplete)
		return st == corev1.ConditionTrue && j.Status.Succeeded == 4, fmt.Sprintf("succeeded %d failed %d active %d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	})
	waitJobPods(t, ns, "work", 4, corev1.PodSucceeded, "TASK_FINISHED")
	eventually(t, 3*time.Minute, "Job broken Failed with BackoffLimitExceeded", func() (bool, string) {
		j, err := jobs.Get(t.Context(), "broken", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st, reason := jobCondition(j, batchv1.JobFailed)
		return st == corev1.ConditionTrue && reason == batchv1.JobReasonBackoffLimitExceeded && j.Status.Failed == 2,
			fmt.Sprintf("failed %d, Failed condition %q %q", j.Status.Failed, st, reason)
	})
	waitJobPods(t, ns, "broken", 2, corev1.PodFailed, "TASK_FAILED")
}

// TestCronJobStartsJobsOnSchedule: a CronJob every minute starts a Job
// whose pod succeeds as a TASK_FINISHED task.
func TestCronJobStartsJobsOnSchedule(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: %s}
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: kubemesos.local/busybox:latest
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'date']
            resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	var job string
	eventually(t, 150*time.Second, "a Job of the CronJob Complete", func() (bool, string) {
		list, err := cluster.client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, j := range list.Items {
			st, _ := jobCondition(&j, batchv1.JobComplete)
			seen = append(seen, fmt.Sprintf("%s:%s", j.Name, st))
			if st == corev1.ConditionTrue && len(j.OwnerReferences) == 1 && j.OwnerReferences[0].Name == "tick" {
				job = j.Name
				return true, ""
			}
		}
		return false, fmt.Sprint(seen)
	})
	pods, states := jobPods(t, ns, job)
	if len(pods) != 1 || pods[0].Status.Phase != corev1.PodSucceeded || states[pods[0].Name] != "TASK_FINISHED" {
		t.Fatalf("Job %s: pods %d, tasks %v; want one Succeeded pod with a TASK_FINISHED task", job, len(pods), states)
	}
}
