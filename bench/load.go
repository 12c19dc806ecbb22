package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// NodeShape is the allocatable of every node, in Mesos agent terms.
type NodeShape struct {
	MilliCPU, MemoryMB, DiskMB int64
	// MaxPods is the Node objects' allocatable pods.
	MaxPods int64
}

// DefaultNodeShape is a simulated agent's default resources
// (mesoslocal's agent.DefaultResources: cpus 2, mem 4096, disk 20000).
var DefaultNodeShape = NodeShape{MilliCPU: 2000, MemoryMB: 4096, DiskMB: 20000, MaxPods: 110}

// MesosResources is s in Mesos flag syntax.
func (s NodeShape) MesosResources() string {
	return fmt.Sprintf("cpus:%g;mem:%d;disk:%d;ports:[31000-32000]", float64(s.MilliCPU)/1000, s.MemoryMB, s.DiskMB)
}

// PodTemplate is the pod every contender schedules; only the name,
// namespace and schedulerName differ. Its requests fit 20 on a node of
// DefaultNodeShape by cpu.
func PodTemplate(namespace, name, schedulerName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			SchedulerName:                 schedulerName,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name:  "pause",
				Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("100m"),
					corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}},
		},
	}
}

// prepareNamespace creates ns and its default ServiceAccount (there is no
// controller-manager to create it, and admission wants it).
func prepareNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service account %s/default: %w", ns, err)
	}
	return nil
}

// deletePods removes every pod of ns at once (grace 0: no kubelet runs
// them).
func deletePods(ctx context.Context, c kubernetes.Interface, ns string) error {
	err := c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("delete pods of %s: %w", ns, err)
	}
	return nil
}

// NodeName is the name of the i-th Node object.
func NodeName(i int) string { return fmt.Sprintf("bench-node-%d", i) }

// createNodes creates n Ready Node objects of shape s (labels
// kubernetes.io/hostname, os, arch), with workers requests in flight. No
// kubelet heartbeats them: without a controller-manager nothing marks them
// NotReady.
func createNodes(ctx context.Context, c kubernetes.Interface, n int, s NodeShape, workers int) ([]string, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = NodeName(i)
	}
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		name := names[i]
		alloc := corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewMilliQuantity(s.MilliCPU, resource.DecimalSI),
			corev1.ResourceMemory:           *resource.NewQuantity(s.MemoryMB<<20, resource.BinarySI),
			corev1.ResourceEphemeralStorage: *resource.NewQuantity(s.DiskMB<<20, resource.BinarySI),
			corev1.ResourcePods:             *resource.NewQuantity(s.MaxPods, resource.DecimalSI),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			}},
		}
		created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		now := metav1.Now()
		created.Status = corev1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubemesosBench",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64"},
		}
		updated, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("node %s status: %w", name, err)
		}
		// The API server's TaintNodesByCondition admission gives a new Node
		// the not-ready taint; the node lifecycle controller would lift it
		// once the node is Ready, and none runs.
		if len(updated.Spec.Taints) > 0 {
			updated.Spec.Taints = nil
			if _, err := c.CoreV1().Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("node %s taints: %w", name, err)
			}
		}
		return nil
	})
	return names, err
}

// parallel runs f(0..n-1) with at most workers at a time and returns the
// first error (the others stop taking work then).
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}

// createPods creates pods 0..n-1 of the template in ns (closed loop:
// workers requests in flight, each sent as soon as the previous one of its
// worker was answered), telling watch when each create was sent.
func createPods(ctx context.Context, c kubernetes.Interface, ns, schedulerName string, n, workers int, watch *BindWatch) error {
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		pod := PodTemplate(ns, podName(i), schedulerName)
		watch.Created(pod.Name, time.Now())
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		return nil
	})
}

// openLoopInFlight bounds the creates in flight of an open loop: one that
// the API server does not answer in time must not pile up goroutines.
const openLoopInFlight = 256

// createPodsAtRate creates pods 0..n-1 of the template in ns at rate pods
// per second (open loop: pod i is sent at i/rate after the first, whether
// or not earlier creates were answered, at most openLoopInFlight at once).
func createPodsAtRate(ctx context.Context, c kubernetes.Interface, ns, schedulerName string, n int, rate float64, watch *BindWatch) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, openLoopInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(at)):
		}
		select {
		case <-ctx.Done():
			continue
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pod := PodTemplate(ns, podName(i), schedulerName)
			watch.Created(pod.Name, time.Now())
			if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				cancel(fmt.Errorf("create pod %s: %w", pod.Name, err))
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}

func podName(i int) string { return fmt.Sprintf("pod-%d", i) }
