package conformance

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/bridge"
	"github.com/kubemesos/kubemesos/k8sapi"
)

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), time.Now().Unix()%100000)
	kubectl(t, "create", "namespace", name)
	eventually(t, time.Minute, "the default ServiceAccount", func() (bool, string) {
		_, err := cluster.client.CoreV1().ServiceAccounts(name).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() {
		// t.Context() is done by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cluster.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// waitFailedScheduling waits for a FailedScheduling event of the pod whose
// message contains want.
func waitFailedScheduling(t *testing.T, ns, pod, want string) {
	t.Helper()
	eventually(t, time.Minute, "a FailedScheduling event of "+pod+" naming "+want, func() (bool, string) {
		evs, err := cluster.client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == pod && e.Reason == k8sapi.ReasonFailedScheduling {
				seen = append(seen, e.Message)
				if strings.Contains(e.Message, want) {
					return true, ""
				}
			}
		}
		return false, fmt.Sprint(seen)
	})
}

// frameworkTasks are the states of the bridge's pods' last Mesos tasks
// (running, else completed) by pod UID.
func frameworkTasks(t *testing.T) map[types.UID]string {
	t.Helper()
	out, err := taskStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// taskStates are the states of the bridge's pods' last Mesos tasks (every
// launch has its own task ID: the live one, else the last that ended) by
// pod UID.
func taskStates(ctx context.Context) (map[types.UID]string, error) {
	st, err := bridge.FetchMasterState(ctx, cluster.mesosMaster)
	if err != nil {
		return nil, fmt.Errorf("mesos state: %w", err)
	}
	out := map[types.UID]string{}
	if fw, ok := st.Framework("kubemesos"); ok {
		for uid, tasks := range fw.PodTasks() {
			out[uid] = tasks[len(tasks)-1].State // its last launch
		}
	}
	return out, nil
}

func TestDeploymentRunsAsMesosTasks(t *testing.T) {
	ns := namespace(t)
	start := time.Now()
	kubectl(t, "apply", "-n", ns, "-f", filepath.Join(cluster.repo, "manifests", "examples", "hello.yaml"))

	var pods []corev1.Pod
	eventually(t, 3*time.Minute, "3 Running pods with IPs", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		running := 0
		var states []string
		for _, p := range pods {
			states = append(states, fmt.Sprintf("%s:%s:%s:%q", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP))
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running++
			}
		}
		return running == 3 && len(pods) == 3, strings.Join(states, " ")
	})
	t.Logf("3 replicas Running %v after apply", time.Since(start).Round(time.Millisecond))

	uids := map[types.UID]bool{}
	for _, p := range pods {
		uids[p.UID] = true
		url := "http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/"
		eventually(t, time.Minute, "HTTP from "+p.Name, func() (bool, string) {
			resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.Contains(string(body), "hello from "+p.Name), fmt.Sprintf("%d %q", resp.StatusCode, body)
		})
	}
	eventually(t, 30*time.Second, "3 TASK_RUNNING tasks of the kubemesos framework", func() (bool, string) {
		tasks := frameworkTasks(t)
		n := 0
		for uid := range uids {
			if tasks[uid] == "TASK_RUNNING" {
				n++
			}
		}
		return n == 3, fmt.Sprint(tasks)
	})

	kubectl(t, "delete", "-n", ns, "deployment", "hello", "--wait=false")
	eventually(t, 2*time.Minute, "0 pods and the 3 tasks TASK_KILLED", func() (bool, string) {
		list, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err.Error()
		}
		tasks := frameworkTasks(t)
		killed := 0
		for uid := range uids {
			if tasks[uid] == "TASK_KILLED" {
				killed++
			}
		}
		return len(list.Items) == 0 && killed == 3, fmt.Sprintf("%d pods left, tasks %v", len(list.Items), tasks)
	})
}

func TestPodLargerThanAnyAgentStaysPending(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "too-big"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "kubemesos.local/busybox:latest", Command: []string{"sleep", "3600"},
			ImagePullPolicy: corev1.PullIfNotPresent,
			Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500")}},
		}}},
	}
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFailedScheduling(t, ns, "too-big", "insufficient cpu")
	p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "too-big", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Fatalf("want Pending and unbound, got %s on %q", p.Status.Phase, p.Spec.NodeName)
	}
	if _, launched := frameworkTasks(t)[p.UID]; launched {
		t.Fatal("a pod that fits no agent was launched")
	}
}

func TestImageThatCannotBePulledIsReportedAndDoesNotHangTheExecutor(t *testing.T) {
	ns := namespace(t)
	mk := func(name, image string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: image, Command: []string{"sleep", "3600"}, ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}},
			}}},
		}
	}
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), mk("no-image", "kubemesos.local/does-not-exist:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "ErrImagePull or ImagePullBackOff", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "no-image", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	// The executor still serves: a good pod starts next to the broken one.
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), mk("good", "kubemesos.local/busybox:latest"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the good pod Running", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "good", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
	})
}
