package bridge_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTaskWithoutPodIsKilled: a pod is deleted while no bridge runs, so its
// task keeps running at Mesos with no pod behind it. The next bridge hears of
// the task only from Mesos (reconciliation after it subscribes) and kills it;
// the other pod's task is left alone.
func TestTaskWithoutPodIsKilled(t *testing.T) {
	c := startCluster(t, "cpus:2;mem:2048")
	ctx := t.Context()
	var uids []string
	for _, name := range []string{"gone", "kept"} {
		p, err := c.client.CoreV1().Pods("default").Create(ctx, pod(name, "250m", "64Mi"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(p.UID))
	}
	eventually(t, 20*time.Second, "2 tasks RUNNING", c.allRunning(t, &uids))

	c.stopBridge()
	if err := c.client.CoreV1().Pods("default").Delete(ctx, "gone", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the pod gone from the API server", func() (bool, string) {
		_, err := c.client.CoreV1().Pods("default").Get(ctx, "gone", metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
	time.Sleep(2 * time.Second)
	if tasks := c.tasks(t); tasks[uids[0]] != "TASK_RUNNING" {
		t.Fatalf("without a bridge the deleted pod's task is %s, want still TASK_RUNNING (nothing else kills it)", tasks[uids[0]])
	}

	c.startBridge()
	eventually(t, 20*time.Second, "the task without a pod KILLED by the new bridge", func() (bool, string) {
		tasks := c.tasks(t)
		return tasks[uids[0]] == "TASK_KILLED", fmt.Sprint(tasks)
	})
	if tasks := c.tasks(t); tasks[uids[1]] != "TASK_RUNNING" {
		t.Fatalf("the other pod's task is %s, want TASK_RUNNING", tasks[uids[1]])
	}
	c.oncePerPod(t)
}
