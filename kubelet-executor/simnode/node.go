package simnode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/kubelet-executor/node"
	"github.com/kubemesos/kubemesos/podtask"
)

// Lease timing, as the kubelet's defaults: a lease of 40 s renewed every
// 10 s (a quarter of its duration); the Node status is re-sent every
// StatusInterval even when nothing changed.
const (
	LeaseDurationSeconds = 40
	LeaseRenewInterval   = 10 * time.Second
	StatusInterval       = time.Minute
	// RegisterTimeout is how long Start tries to register the Node.
	RegisterTimeout = time.Minute
)

// Config is what a simulated Node needs besides the agent's info.
type Config struct {
	// Client is the node's identity (system:node:<name>): it registers the
	// Node, renews its Lease and writes its pods' status.
	Client kubernetes.Interface
	// NodeIP is the Node's InternalIP; empty registers none.
	NodeIP string
	// PodCIDR is where pod IPs come from; empty reports pods without an IP.
	PodCIDR string
}

// Node is a simulated node (package doc). Create it with New; the executor
// calls Start, WaitReady and Stop as it does a kubelet node's.
type Node struct {
	cfg Config
	// registerTimeout is RegisterTimeout (shorter in tests).
	registerTimeout time.Duration

	mu     sync.Mutex
	name   string
	ips    *podIPs
	loops  *node.Group // nil until started
	synced chan struct{}
	lister cache.Indexer
}

// New returns a simulated node; it touches nothing until Start.
func New(cfg Config) (*Node, error) {
	if cfg.Client == nil {
		return nil, errors.New("simulated node: no API client")
	}
	ips, err := newPodIPs(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("simulated node: %w", err)
	}
	return &Node{cfg: cfg, ips: ips, registerTimeout: RegisterTimeout}, nil
}

// Start registers (or takes over) the agent's Node as Ready with the agent's
// labels and res as capacity and allocatable, then keeps its Lease and status fresh and runs the
// pods bound to it, until Stop.
func (n *Node) Start(ctx context.Context, agent mesos.AgentInfo, res node.Resources) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.loops != nil {
		return n.name, nil
	}
	name := podtask.NodeName(agent.GetHostname())
	if name == "" {
		return "", errors.New("agent info has no hostname")
	}
	labels, skipped := podtask.NodeLabels(podtask.AgentOfInfo(&agent))
	for _, s := range skipped {
		klog.FromContext(ctx).Info("Agent attribute is not a node label; skipped",
			"attribute", s.Name, "value", s.Value, "reason", s.Reason, "detail", s.Detail)
	}
	nodeObj, err := n.register(ctx, name, labels, res)
	if err != nil {
		return "", fmt.Errorf("register simulated node %s: %w", name, err)
	}
	n.name, n.synced = name, make(chan struct{})
	n.loops = node.StartGroup(ctx,
		func(ctx context.Context) { n.renewLease(ctx, nodeObj) },
		func(ctx context.Context) { n.heartbeat(ctx, res) },
		n.runPods)
	klog.FromContext(ctx).Info("Simulated node registered", "node", name, "cpus", res.CPUs, "memMiB", res.MemMiB)
	return name, nil
}

// register creates the Node, or updates the one a previous executor left, and
// writes its status.
func (n *Node) register(ctx context.Context, name string, labels map[string]string, res node.Resources) (*corev1.Node, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	var out *corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, n.registerTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := nodes.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cur, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		case err == nil:
			changed := false
			for k, v := range labels {
				if cur.Labels[k] != v {
					if cur.Labels == nil {
						cur.Labels = map[string]string{}
					}
					cur.Labels[k], changed = v, true
				}
			}
			if changed {
				cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			klog.FromContext(ctx).Error(err, "Register simulated node; retrying", "node", name)
			return false, nil
		}
		st := NodeStatus(name, n.cfg.NodeIP, res, metav1.Now())
		keepTransitions(&st, cur.Status.Conditions)
		cur.Status = st
		if out, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			klog.FromContext(ctx).Error(err, "Write simulated node status; retrying", "node", name)
			return false, nil
		}
		return true, nil
	})
	return out, err
}

// renewLease keeps kube-node-lease/<node> renewed, owned by the Node, as the
// kubelet's lease controller does (the same controller).
func (n *Node) renewLease(ctx context.Context, nodeObj *corev1.Node) {
	owner := func(l *coordinationv1.Lease) error {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: nodeObj.Name, UID: nodeObj.UID}}
		return nil
	}
	lease.NewController(clock.RealClock{}, n.cfg.Client, nodeObj.Name, LeaseDurationSeconds, nil,
		LeaseRenewInterval, nodeObj.Name, corev1.NamespaceNodeLease, owner).Run(ctx)
}

// heartbeat re-sends the Node's status every StatusInterval, so its
// conditions' heartbeat times move and a Ready condition another component
// changed (the node lifecycle controller after a missed lease) comes back.
func (n *Node) heartbeat(ctx context.Context, res node.Resources) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		cur, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			klog.FromContext(ctx).Error(err, "Read simulated node", "node", n.name)
			return
		}
		st := NodeStatus(n.name, n.cfg.NodeIP, res, metav1.Now())
		keepTransitions(&st, cur.Status.Conditions)
		cur.Status = st
		if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Write simulated node status", "node", n.name)
		}
	}, StatusInterval)
}

// WaitReady returns once the pods of the node are watched (the Node was
// registered Ready by Start).
func (n *Node) WaitReady(ctx context.Context) error {
	n.mu.Lock()
	synced := n.synced
	n.mu.Unlock()
	if synced == nil {
		return errors.New("simulated node not started")
	}
	select {
	case <-synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops the lease, the heartbeat and the pods' simulation. The Node
// stays, as a stopped kubelet's does: its lease lapses and the node lifecycle
// controller marks it NotReady.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	loops := n.loops
	n.loops = nil
	n.mu.Unlock()
	if loops == nil {
		return nil
	}
	// Without the lock: the pod loop takes it while it finishes.
	if err := loops.Stop(ctx); err != nil {
		return fmt.Errorf("simulated node did not stop: %w", err)
	}
	return nil
}

// runPods plays the kubelet for the pods bound to the node: a level-based
// loop over a work queue fed by a pod informer (spec.nodeName=<node>).
func (n *Node) runPods(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(n.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.name).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				n.mu.Lock()
				n.ips.release(p.UID)
				n.mu.Unlock()
			}
		},
	})
	n.mu.Lock()
	n.lister = inf.GetIndexer()
	n.mu.Unlock()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer queue.ShutDown()
	go func() { <-ctx.Done(); queue.ShutDown() }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	close(n.synced)
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		if err := n.syncPod(ctx, key); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Sync simulated pod; retrying", "pod", key, "err", err)
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

// syncPod brings one pod to what a kubelet would have made of it: a pod
// being deleted is removed (its containers stop at once), a terminated one
// is left, any other is reported Running and Ready.
func (n *Node) syncPod(ctx context.Context, key string) error {
	obj, exists, err := n.lister.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	pods := n.cfg.Client.CoreV1().Pods(pod.Namespace)
	if pod.DeletionTimestamp != nil {
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0),
			Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	n.mu.Lock()
	if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		n.ips.keep(pod.UID, ip)
	}
	ip, hasIP, err := n.ips.get(pod.UID)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	podIP := ""
	if hasIP {
		podIP = ip.String()
	}
	want := RunningStatus(pod, podIP, n.cfg.NodeIP, metav1.Now())
	if equalStatus(pod.Status, want) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = want
	_, err = pods.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or a newer version is on its way to the informer
	}
	return err
}
