package controlplane_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubemesos/kubemesos/devcluster/controlplane"
	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
	"github.com/kubemesos/kubemesos/devcluster/proc"
	"github.com/kubemesos/kubemesos/internal/bindir"
	"github.com/kubemesos/kubemesos/manifests/rbac"
)

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestControlPlane(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	began := time.Now()
	c := cptest.Start(t, cptest.WithControllerManager(), cptest.WithOptions(func(o *controlplane.Options) { o.Dir = dir }))
	t.Logf("control plane with controller-manager ready in %v", time.Since(began).Round(time.Millisecond))

	pids := c.PIDs()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if !proc.Alive(pids[name]) {
			t.Fatalf("%s (pid %d) not running; pids %v", name, pids[name], pids)
		}
	}

	admin := c.Client()
	t.Run("admin lists namespaces", func(t *testing.T) {
		nss, err := admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ns := range nss.Items {
			seen[ns.Name] = true
		}
		for _, want := range []string{"default", "kube-system", rbac.Namespace} {
			if !seen[want] {
				t.Errorf("namespace %s missing; have %v", want, seen)
			}
		}
	})

	t.Run("admin kubeconfig file works", func(t *testing.T) {
		v, err := clientFor(t, c.AdminKubeconfig).Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.Major != "1" || v.Minor != "36" {
			t.Errorf("server version %s.%s, want 1.36", v.Major, v.Minor)
		}
	})

	t.Run("controller-manager created the default ServiceAccount", func(t *testing.T) {
		if _, err := admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		// It keeps working for namespaces made later.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := admin.CoreV1().ServiceAccounts("later").Get(ctx, "default", metav1.GetOptions{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no default ServiceAccount in a new namespace after 30s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("executor RBAC", func(t *testing.T) {
		kc, err := c.Kubeconfig("x", rbac.ExecutorUser, rbac.ExecutorGroup)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(kc) != filepath.Join(dir, "kubeconfigs") {
			t.Errorf("kubeconfig written to %s", kc)
		}
		exec := clientFor(t, kc)
		if _, err := admin.CoreV1().Pods("default").Create(ctx, testPod("bind-me"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: "bind-me", Namespace: "default"},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "agent-1"},
		}
		if err := exec.CoreV1().Pods("default").Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatalf("executor cannot bind a pod: %v", err)
		}
		p, err := exec.CoreV1().Pods("default").Get(ctx, "bind-me", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "agent-1" {
			t.Errorf("pod bound to %q, want agent-1", p.Spec.NodeName)
		}
		if _, err := exec.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("executor cannot list nodes: %v", err)
		}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "nope", Namespace: "default"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: testPod("").Spec},
			},
		}
		if _, err := exec.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("executor creating a Deployment: err = %v, want Forbidden", err)
		}
		if _, err := exec.CoreV1().Pods("default").Create(ctx, testPod("sneaky"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("executor creating a pod: err = %v, want Forbidden", err)
		}
		if _, err := exec.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("executor listing secrets: err = %v, want Forbidden", err)
		}
		if err := exec.CoreV1().Pods("default").Delete(ctx, "bind-me", metav1.DeleteOptions{}); err != nil {
			t.Errorf("executor cannot delete a pod: %v", err)
		}
	})

	t.Run("bridge RBAC", func(t *testing.T) {
		kc, err := c.Kubeconfig("bridge", rbac.BridgeUser, rbac.BridgeGroup)
		if err != nil {
			t.Fatal(err)
		}
		bridge := clientFor(t, kc)
		if _, err := admin.CoreV1().Pods("default").Create(ctx, testPod("pending"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := bridge.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("bridge cannot list pods: %v", err)
		}
		patch := []byte(`{"status":{"conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/0 offers"}]}}`)
		if _, err := bridge.CoreV1().Pods("default").Patch(ctx, "pending", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			t.Errorf("bridge cannot patch pod status: %v", err)
		}
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "pending.", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "pending"},
			Reason:         "FailedScheduling", Message: "0/0 offers", Type: corev1.EventTypeWarning,
		}
		if _, err := bridge.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Errorf("bridge cannot create events: %v", err)
		}
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "bridge-leader"}}
		if _, err := bridge.CoordinationV1().Leases(rbac.Namespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			t.Errorf("bridge cannot create a lease in %s: %v", rbac.Namespace, err)
		}
		if _, err := bridge.CoordinationV1().Leases("default").Create(ctx, lease, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("bridge creating a lease in default: err = %v, want Forbidden", err)
		}
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "agent-1"},
		}
		if err := bridge.CoreV1().Pods("default").Bind(ctx, binding, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("bridge binding a pod: err = %v, want Forbidden (the executor binds)", err)
		}
	})

	t.Run("node identity is restricted to its node", func(t *testing.T) {
		kc, err := c.NodeKubeconfig("agent-1")
		if err != nil {
			t.Fatal(err)
		}
		node := clientFor(t, kc)
		own := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1"}}
		if _, err := node.CoreV1().Nodes().Create(ctx, own, metav1.CreateOptions{}); err != nil {
			t.Errorf("kubelet identity cannot register its node: %v", err)
		}
		other := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-2"}}
		if _, err := node.CoreV1().Nodes().Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("kubelet of agent-1 creating node agent-2: err = %v, want Forbidden (NodeRestriction)", err)
		}
	})

	// Stop leaves no process behind and keeps the state.
	stopBegan := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane stopped in %v", time.Since(stopBegan).Round(time.Millisecond))
	for name, pid := range pids {
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group of %s (%d) still has members: %v", name, pid, err)
		}
	}
	for _, f := range []string{c.AdminKubeconfig, c.CAFile, filepath.Join(dir, "logs", "kube-apiserver.log"), filepath.Join(dir, "etcd")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("Stop removed %s: %v", f, err)
		}
	}

	// Starting again on the same directory keeps the CA and the data:
	// kubeconfigs handed out before still work against the new API server.
	restartBegan := time.Now()
	c2 := cptest.Start(t, cptest.WithOptions(func(o *controlplane.Options) { o.Dir = dir }))
	t.Logf("control plane restarted on existing state (no controller-manager) in %v", time.Since(restartBegan).Round(time.Millisecond))
	if c2.CAFile != c.CAFile {
		t.Errorf("CA file moved: %s -> %s", c.CAFile, c2.CAFile)
	}
	old, err := clientcmd.LoadFromFile(filepath.Join(dir, "kubeconfigs", "x.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range old.Clusters {
		cl.Server = c2.URL // the API server moved to a new port
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*old, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	exec := kubernetes.NewForConfigOrDie(cfg)
	if _, err := exec.CoreV1().Pods("default").Get(ctx, "pending", metav1.GetOptions{}); err != nil {
		t.Errorf("after restart, with the old executor certificate: %v", err)
	}
}

func TestStopOnContextEnd(t *testing.T) {
	if err := bindir.Check(binDir(t), controlplane.EtcdBinary, controlplane.APIServerBinary); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	began := time.Now()
	c, err := controlplane.Start(ctx, controlplane.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane without controller-manager ready in %v", time.Since(began).Round(time.Millisecond))
	pids := c.PIDs()
	if len(pids) != 2 {
		t.Fatalf("pids = %v, want etcd and kube-apiserver", pids)
	}
	cancel()
	select {
	case <-c.Stopped():
	case <-time.After(2 * controlplane.StopGrace):
		t.Fatal("control plane outlived its context")
	}
	for name, pid := range pids {
		if proc.Alive(pid) {
			t.Errorf("%s (pid %d) still running", name, pid)
		}
	}
}

func binDir(t *testing.T) string {
	d, err := bindir.Default()
	if err != nil {
		t.Skip(err)
	}
	return d
}

func TestComponentRestart(t *testing.T) {
	ctx := t.Context()
	c := cptest.Start(t, cptest.WithOptions(func(o *controlplane.Options) {
		o.APIServerArgs = []string{"--service-node-port-range=30000-30099"}
	}))
	admin := c.Client()
	nodePort := func(port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "np-", Namespace: "default"},
			Spec: corev1.ServiceSpec{
				Type:  corev1.ServiceTypeNodePort,
				Ports: []corev1.ServicePort{{Port: 80, NodePort: port}},
			},
		}
	}
	if _, err := admin.CoreV1().Services("default").Create(ctx, nodePort(30050), metav1.CreateOptions{}); err != nil {
		t.Errorf("NodePort inside the configured range: %v", err)
	}
	if _, err := admin.CoreV1().Services("default").Create(ctx, nodePort(31000), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("NodePort outside --service-node-port-range from APIServerArgs: err = %v, want Invalid", err)
	}
	mkns := func(name string) error {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	if err := mkns("before"); err != nil {
		t.Fatal(err)
	}

	// API server crash: clients fail, then work again at the same URL.
	oldPID := c.PIDs()[controlplane.APIServerBinary]
	if err := c.StopComponent(controlplane.APIServerBinary, true); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(oldPID) {
		t.Fatalf("kube-apiserver %d alive after crash", oldPID)
	}
	if _, ok := c.PIDs()[controlplane.APIServerBinary]; ok {
		t.Error("PIDs() lists a crashed API server")
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "before", metav1.GetOptions{}); err == nil {
		t.Fatal("API server answered while down")
	}
	if err := c.StartComponent(ctx, controlplane.EtcdBinary); err == nil {
		t.Error("StartComponent of a running etcd succeeded")
	}
	began := time.Now()
	if err := c.StartComponent(ctx, controlplane.APIServerBinary); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted in %v", time.Since(began).Round(time.Millisecond))
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Fatalf("after API server restart: %v", err)
	}

	// etcd crashes under a running API server: writes fail, then recover,
	// and nothing written before is lost. (A graceful etcd stop under a
	// connected API server takes about 7s: etcd waits for its watch streams.)
	if err := c.StopComponent(controlplane.EtcdBinary, true); err != nil {
		t.Fatal(err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := admin.CoreV1().Namespaces().Create(shortCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "during"}}, metav1.CreateOptions{})
	cancel()
	if err == nil {
		t.Error("a write succeeded with etcd down")
	}
	began = time.Now()
	if err := c.StartComponent(ctx, controlplane.EtcdBinary); err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd restarted in %v", time.Since(began).Round(time.Millisecond))
	defer func(began time.Time) {
		t.Logf("writes recovered %v after etcd restart began", time.Since(began).Round(time.Millisecond))
	}(began)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := mkns("after")
		if err == nil || apierrors.IsAlreadyExists(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not recover after etcd came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("data written before the etcd restart: %v", err)
	}
	if err := c.StartComponent(ctx, "kube-scheduler"); err == nil {
		t.Error("StartComponent of an unknown component succeeded")
	}
}
