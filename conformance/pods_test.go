package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/podtask"
)

// What a kubectl user does with a pod, through the API server to the
// kubelet (both sides verify each other's certificates): logs (-f, --since,
// --previous), exec with stdin, cp both ways, port-forward, attach and an
// ephemeral debug container.

// kubectlOut runs kubectl and returns its stdout and error (stderr in the
// error's text).
func kubectlOut(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cluster.kubectl, append([]string{"--kubeconfig", cluster.kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %v: %w: %s", args, err, stderr.String())
	}
	return string(out), nil
}

// waitRunning waits until pod name in ns is Running and Ready.
func waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 2*time.Minute, name+" Running and Ready", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return p.Status.Phase == corev1.PodRunning && podReady(p), fmt.Sprintf("%s on %q", p.Status.Phase, p.Spec.NodeName)
	})
	return pod
}

func TestKubectlReachesPods(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: talk, namespace: %s}
spec:
  containers:
  - name: web
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "mkdir -p /www && echo served-by-talk > /www/index.html && httpd -p 8080 -h /www && i=0; while true; do i=$((i+1)); echo line-$i; sleep 1; done"]
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	waitRunning(t, ns, "talk")
	ctx := t.Context()

	t.Run("logs", func(t *testing.T) {
		eventually(t, 30*time.Second, "logs with line-2", func() (bool, string) {
			out, err := kubectlOut(ctx, "logs", "-n", ns, "talk", "--since=1h")
			return err == nil && strings.Contains(out, "line-2"), fmt.Sprint(out, err)
		})
		// -f streams lines written after it started.
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(fctx, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "logs", "-f", "--tail=1", "-n", ns, "talk")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var seen []string
		for len(seen) < 3 && sc.Scan() {
			seen = append(seen, sc.Text())
		}
		cancel()
		_ = cmd.Wait()
		if len(seen) < 3 {
			t.Fatalf("logs -f gave %v before the timeout", seen)
		}
		a, _ := strconv.Atoi(strings.TrimPrefix(seen[0], "line-"))
		b, _ := strconv.Atoi(strings.TrimPrefix(seen[2], "line-"))
		if a == 0 || b <= a {
			t.Errorf("logs -f lines %v: want increasing line-N", seen)
		}
	})

	t.Run("exec and cp", func(t *testing.T) {
		out, err := kubectlOut(ctx, "exec", "-n", ns, "talk", "--", "cat", "/etc/hostname")
		if err != nil || strings.TrimSpace(out) != "talk" {
			t.Fatalf("exec cat /etc/hostname: %q, %v", out, err)
		}
		// Upstream drops stdin now and then when it ends at once
		// (kubernetes/kubernetes#112834): three tries.
		for attempt := 1; ; attempt++ {
			cmd := exec.CommandContext(ctx, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "exec", "-i", "-n", ns, "talk", "--", "sh", "-c", "cat > /tmp/from-stdin")
			cmd.Stdin = strings.NewReader("through stdin\n")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("exec -i: %v: %s", err, b)
			}
			got, err := kubectlOut(ctx, "exec", "-n", ns, "talk", "--", "cat", "/tmp/from-stdin")
			if err == nil && got == "through stdin\n" {
				break
			}
			if attempt == 3 {
				t.Fatalf("exec -i wrote %q (%v) in 3 tries", got, err)
			}
			t.Logf("exec -i attempt %d: the pod got %q", attempt, got)
		}
		dir := t.TempDir()
		local := filepath.Join(dir, "copied")
		if _, err := kubectlOut(ctx, "cp", ns+"/talk:/tmp/from-stdin", local); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(local); string(b) != "through stdin\n" {
			t.Fatalf("cp from the pod: %q (%v)", b, err)
		}
		up := filepath.Join(dir, "up")
		if err := os.WriteFile(up, []byte("to the pod\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := kubectlOut(ctx, "cp", up, ns+"/talk:/tmp/up"); err != nil {
			t.Fatal(err)
		}
		if out, err := kubectlOut(ctx, "exec", "-n", ns, "talk", "--", "cat", "/tmp/up"); err != nil || out != "to the pod\n" {
			t.Fatalf("cp to the pod: %q, %v", out, err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		cmd := exec.CommandContext(pctx, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "port-forward", "-n", ns, "pod/talk", fmt.Sprintf("%d:8080", port))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		eventually(t, 30*time.Second, "HTTP through port-forward", func() (bool, string) {
			resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(b), "served-by-talk"), string(b)
		})
	})

	t.Run("attach", func(t *testing.T) {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(actx, cluster.kubectl, "--kubeconfig", cluster.kubeconfig, "attach", "-n", ns, "talk", "-c", "web")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		got := ""
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "line-") {
				got = sc.Text()
				break
			}
		}
		cancel()
		_ = cmd.Wait()
		if got == "" {
			t.Fatal("attach showed no output of the running container")
		}
	})

	t.Run("debug", func(t *testing.T) {
		if _, err := kubectlOut(ctx, "debug", "-n", ns, "talk", "--image=kubemesos.local/busybox:latest", "--image-pull-policy=IfNotPresent",
			"--container=dbg", "--target=web", "--", "sh", "-c", "echo debug-$(cat /etc/hostname); sleep 5"); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the ephemeral container's output", func() (bool, string) {
			out, err := kubectlOut(ctx, "logs", "-n", ns, "talk", "-c", "dbg")
			return err == nil && strings.Contains(out, "debug-talk"), fmt.Sprint(out, err)
		})
	})
}

// TestLivenessProbeRestartsContainer: a container whose liveness probe
// starts failing is restarted by its kubelet, and `kubectl logs --previous`
// shows the instance before.
func TestLivenessProbeRestartsContainer(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: sick, namespace: %s}
spec:
  containers:
  - name: c
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "echo started-$(date +%%s%%N); touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: [test, -f, /tmp/healthy]}
      periodSeconds: 1
      failureThreshold: 1
    resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns))
	var restarted *corev1.Pod
	eventually(t, 2*time.Minute, "a restart by the liveness probe", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "sick", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, fmt.Sprint(err)
		}
		restarted = p
		return p.Status.ContainerStatuses[0].RestartCount >= 1, fmt.Sprintf("restarts %d", p.Status.ContainerStatuses[0].RestartCount)
	})
	if restarted.Status.Phase != corev1.PodRunning && restarted.Status.Phase != corev1.PodPending {
		t.Fatalf("pod %s after a liveness restart", restarted.Status.Phase)
	}
	prev, err := kubectlOut(t.Context(), "logs", "-n", ns, "sick", "--previous")
	if err != nil || !strings.Contains(prev, "started-") {
		t.Fatalf("logs --previous: %q, %v", prev, err)
	}
	// The pod's task stays RUNNING: a container restart is not a task end.
	tasks := frameworkTasks(t)
	if st := tasks[restarted.UID]; st != "TASK_RUNNING" {
		t.Errorf("task of the restarted pod is %q, want TASK_RUNNING", st)
	}
}

// masterTaskMessages returns the state of a pod's task (its live one, else an ended one) as
// the master's operator API (GET_TASKS) has it, and the state and message of
// each of its statuses; /master/state carries no status messages.
func masterTaskMessages(t *testing.T, uid types.UID) (state string, messages []string) {
	t.Helper()
	tasks := operatorCall(t, &opv1.Call{Type: opv1.Call_GET_TASKS}).GetGetTasks()
	for _, tk := range append(append([]mesos.Task(nil), tasks.GetTasks()...), tasks.GetCompletedTasks()...) {
		if u, ok := podtask.UIDFromTaskID(tk.TaskID.Value); !ok || u != uid {
			continue
		}
		for _, s := range tk.GetStatuses() {
			messages = append(messages, s.GetState().String()+": "+s.GetMessage())
		}
		return tk.GetState().String(), messages
	}
	return "", nil
}

// TestOOMKilledIsReportedInPodAndTask: a container over its memory limit is
// killed by the kernel (cgroup limit enforced); the pod says OOMKilled and
// so does its task's terminal status in Mesos.
func TestOOMKilledIsReportedInPodAndTask(t *testing.T) {
	ns := namespace(t)
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hog, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    # tail keeps the whole "line" of an endless stream without newlines.
    command: [tail, /dev/zero]
    resources:
      requests: {cpu: 50m, memory: 32Mi}
      limits: {memory: 32Mi}
`, ns))
	var pod *corev1.Pod
	eventually(t, 2*time.Minute, "the pod to fail", func() (bool, string) {
		p, err := cluster.client.CoreV1().Pods(ns).Get(t.Context(), "hog", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return p.Status.Phase == corev1.PodFailed, string(p.Status.Phase)
	})
	cs := pod.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.Reason != "OOMKilled" {
		t.Fatalf("container status %+v: want terminated OOMKilled", cs)
	}
	var state string
	var msgs []string
	eventually(t, 30*time.Second, "the task to end TASK_FAILED", func() (bool, string) {
		state, msgs = masterTaskMessages(t, pod.UID)
		return state == "TASK_FAILED", fmt.Sprint(state, msgs)
	})
	if last := msgs[len(msgs)-1]; !strings.Contains(last, "OOMKilled") {
		t.Errorf("task's last status %q does not say OOMKilled (all: %v)", last, msgs)
	}
}

// TestKubeletKilledIsRestartedContainersKept: kill -9 of a node's kubelet;
// the executor starts it again, the node stays a Ready node, and the pods'
// containers are the same ones (IDs and restart counts unchanged).
func TestKubeletKilledIsRestartedContainersKept(t *testing.T) {
	if !cluster.local {
		t.Skip("kills a process of the local cluster")
	}
	ns := namespace(t)
	node := cluster.hosts[0].Name
	kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: steady, namespace: %s, labels: {app: steady}}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers:
  - name: c
    image: kubemesos.local/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    resources: {requests: {cpu: 50m, memory: 16Mi}}
`, ns, node))
	before := waitRunning(t, ns, "steady")
	kubelet := kubeletPID(t, node)
	if err := syscall.Kill(kubelet, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, time.Minute, "a new kubelet for "+node, func() (bool, string) {
		pid := kubeletPIDOrZero(node)
		return pid != 0 && pid != kubelet, fmt.Sprintf("pid %d (killed %d)", pid, kubelet)
	})
	// The new kubelet has synced the pod once its status is written again
	// with the node Ready.
	eventually(t, time.Minute, node+" Ready again", func() (bool, string) {
		n, err := cluster.client.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue && c.LastHeartbeatTime.After(time.Now().Add(-20*time.Second)), fmt.Sprint(c)
			}
		}
		return false, "no Ready condition"
	})
	after := waitRunning(t, ns, "steady")
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || a.RestartCount != b.RestartCount || after.UID != before.UID {
		t.Errorf("container %s (restarts %d) became %s (restarts %d): want the same container", b.ContainerID, b.RestartCount, a.ContainerID, a.RestartCount)
	}
	if st := frameworkTasks(t)[after.UID]; st != "TASK_RUNNING" {
		t.Errorf("task is %q after the kubelet restart, want TASK_RUNNING", st)
	}
	w := watchedPods{}
	w.add(*before)
	faultOutcome(t, outcome{ns: ns, selector: "app=steady", want: 1, start: start, timeout: time.Minute, watched: w, originals: []corev1.Pod{*before}})
}

// kubeletPIDOrZero finds the kubelet of node among this machine's processes.
func kubeletPIDOrZero(node string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "kubelet" && strings.Contains(string(b), "--hostname-override="+node+"\x00") {
			return pid
		}
	}
	return 0
}

func kubeletPID(t *testing.T, node string) int {
	t.Helper()
	pid := kubeletPIDOrZero(node)
	if pid == 0 {
		t.Fatalf("no kubelet process for %s", node)
	}
	return pid
}
