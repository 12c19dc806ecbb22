package k8sapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/kubectl/pkg/drain"

	"github.com/kubemesos/kubemesos/podtask"
)

// Event reasons on the Node of an agent Mesos drains for maintenance.
const (
	// ReasonDrainBlocked: an eviction was refused (a PodDisruptionBudget);
	// the bridge declined Mesos' inverse offer for now.
	ReasonDrainBlocked = "MaintenanceDrainBlocked"
	// ReasonDrained: no pod of the bridge runs there any more; the bridge
	// accepted Mesos' inverse offer.
	ReasonDrained = "MaintenanceDrained"
	// ReasonDrainStarted: the Node is tainted and its pods are being evicted.
	ReasonDrainStarted = "MaintenanceDrainStarted"
	// ActionMaintenance is the action of those events.
	ActionMaintenance = "MesosMaintenance"
)

// DrainProgress is what the last pass of a drain found on its Node.
type DrainProgress struct {
	At time.Time
	// Tainted: the Node carries podtask.MaintenanceTaint (false while it
	// does not exist).
	Tainted bool
	// Pods are the pods still on the Node (terminating ones included;
	// mirror pods and finished pods are not counted).
	Pods int
	// Evicted counts the evictions the pass made.
	Evicted int
	// Blocked says, per pod whose eviction was refused (429: a
	// PodDisruptionBudget allows no disruption now), why.
	Blocked []string
	// Err is a failure of the pass (listing, tainting, an eviction refused
	// for another reason); the next pass tries again.
	Err string
}

// NodeDrainer drains Nodes off the bridge's loop, the way `kubectl drain`
// does it: it taints the Node with podtask.MaintenanceTaint (cordoning the
// user's way is left to users), then evicts its pods through the Eviction
// API (PodDisruptionBudgets respected: a refused eviction is retried at the
// next pass), with kubectl's own filters (k8s.io/kubectl/pkg/drain: mirror
// pods skipped, unmanaged pods and pods with emptyDir evicted too, as with
// --force --delete-emptydir-data), DaemonSet pods last, once every other
// pod is gone. Drain and Release only record what is wanted; Run does the
// API calls, every Every and at once after a change, each pass bounded by
// Timeout: a slow API server never delays the caller.
type NodeDrainer struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	stop     func()
	// Every is the time between two passes over a draining Node.
	Every time.Duration
	// Timeout bounds one pass (its list, taint and evictions).
	Timeout time.Duration

	mu    sync.Mutex
	nodes map[string]*nodeDrain
	wake  chan struct{}
}

// nodeDrain is what is wanted of one Node and what the last pass found.
type nodeDrain struct {
	drain    bool // false: release (untaint), then forget
	progress DrainProgress
	passed   bool
}

// NewNodeDrainer starts an event broadcaster for component (the
// scheduler name); Run performs the drains.
func NewNodeDrainer(ctx context.Context, client kubernetes.Interface, component string) *NodeDrainer {
	recorder, stop := newRecorder(ctx, client, component)
	return &NodeDrainer{
		client: client, recorder: recorder, stop: stop,
		Every: 2 * time.Second, Timeout: 10 * time.Second,
		nodes: map[string]*nodeDrain{}, wake: make(chan struct{}, 1),
	}
}

// Shutdown flushes and stops the event broadcaster.
func (d *NodeDrainer) Shutdown() { d.stop() }

// Drain makes Run taint and drain node until Release.
func (d *NodeDrainer) Drain(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.nodes[node]; ok && n.drain {
		return
	}
	d.nodes[node] = &nodeDrain{drain: true}
	d.poke()
}

// Release makes Run stop draining node and remove its taint.
func (d *NodeDrainer) Release(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes[node] = &nodeDrain{drain: false}
	d.poke()
}

func (d *NodeDrainer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Progress is what the last pass over node found; false before the first
// pass of its drain, or when it is not drained.
func (d *NodeDrainer) Progress(node string) (DrainProgress, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nodes[node]
	if !ok || !n.drain || !n.passed {
		return DrainProgress{}, false
	}
	p := n.progress
	p.Blocked = slices.Clone(p.Blocked)
	return p, true
}

// NodeEvent records an event on the Node named node (none if it does not
// exist). It is asynchronous, as every event of the recorder.
func (d *NodeDrainer) NodeEvent(node, eventType, reason, msg string) {
	// The recorder only needs the object's reference: the Node's UID is its
	// name, as the kubelet reports it.
	ref := &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
	d.recorder.Eventf(ref, nil, eventType, reason, ActionMaintenance, "%s", msg)
}

// Run performs the drains and releases until ctx ends.
func (d *NodeDrainer) Run(ctx context.Context) {
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for {
		d.passAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// passAll makes one pass over every Node wanted drained or released.
func (d *NodeDrainer) passAll(ctx context.Context) {
	d.mu.Lock()
	want := make(map[string]bool, len(d.nodes))
	for name, n := range d.nodes {
		want[name] = n.drain
	}
	d.mu.Unlock()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, d.Timeout)
		if want[name] {
			p := d.pass(pctx, name)
			d.mu.Lock()
			if n := d.nodes[name]; n != nil && n.drain {
				n.progress, n.passed = p, true
			}
			d.mu.Unlock()
		} else {
			_, err := d.setTaint(pctx, name, false)
			d.mu.Lock()
			if n := d.nodes[name]; n != nil && !n.drain && err == nil {
				delete(d.nodes, name)
			}
			d.mu.Unlock()
			if err != nil {
				klog.FromContext(ctx).Error(err, "Remove the maintenance taint", "node", name)
			}
		}
		cancel()
	}
}

// pass taints node and evicts what may go now: every pod kubectl drain
// would evict, or, once none of those is left, the DaemonSet pods.
func (d *NodeDrainer) pass(ctx context.Context, node string) DrainProgress {
	p := DrainProgress{At: time.Now()}
	var errs []string
	exists, err := d.setTaint(ctx, node, true)
	if err != nil {
		errs = append(errs, err.Error())
	}
	p.Tainted = exists && err == nil
	all, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		p.Err = fmt.Sprintf("list the pods of node %s: %v", node, err)
		return p
	}
	var others, daemons []corev1.Pod
	for _, pod := range all.Items {
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror || finished(&pod) {
			continue
		}
		p.Pods++
		if isDaemonSetPod(&pod) {
			daemons = append(daemons, pod)
		} else {
			others = append(others, pod)
		}
	}
	h := d.helper(ctx)
	evict := daemons
	if len(others) > 0 {
		list, ferrs := h.GetPodsForDeletion(node)
		for _, e := range ferrs {
			errs = append(errs, e.Error())
		}
		evict = nil
		if list != nil {
			evict = list.Pods()
		}
	}
	for _, pod := range evict {
		if pod.DeletionTimestamp != nil {
			continue // evicted already: its grace period runs
		}
		err := d.evict(ctx, h, pod)
		switch {
		case err == nil:
			p.Evicted++
			klog.FromContext(ctx).Info("Evicted pod for Mesos maintenance", "pod", klog.KObj(&pod), "node", node)
		case apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			p.Blocked = append(p.Blocked, fmt.Sprintf("%s/%s: %s", pod.Namespace, pod.Name, EvictionRefusal(err)))
		default:
			errs = append(errs, fmt.Sprintf("evict %s/%s: %v", pod.Namespace, pod.Name, err))
		}
	}
	p.Err = strings.Join(errs, "; ")
	return p
}

// evict makes the eviction kubectl drain makes (Helper.EvictPod: policy/v1,
// its delete options), without client-go's retries of a 429: the API
// server asks to wait up to 10 s for a budget it has not processed yet,
// and the next pass asks again anyway.
func (d *NodeDrainer) evict(ctx context.Context, h *drain.Helper, pod corev1.Pod) error {
	opts := metav1.DeleteOptions{}
	if h.GracePeriodSeconds >= 0 {
		grace := int64(h.GracePeriodSeconds)
		opts.GracePeriodSeconds = &grace
	}
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}, DeleteOptions: &opts}
	return d.client.PolicyV1().RESTClient().Post().
		AbsPath("/api/v1").Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("eviction").
		MaxRetries(0).Body(eviction).Do(ctx).Error()
}

// helper is kubectl drain's, as `kubectl drain --force --ignore-daemonsets
// --delete-emptydir-data` sets it up: the Node goes away, so every pod must.
func (d *NodeDrainer) helper(ctx context.Context) *drain.Helper {
	return &drain.Helper{
		Ctx: ctx, Client: d.client,
		Force: true, IgnoreAllDaemonSets: true, DeleteEmptyDirData: true,
		GracePeriodSeconds: -1, // the pod's own
		Out:                io.Discard, ErrOut: io.Discard,
	}
}

// EvictionRefusal is why an eviction was refused: the causes the API
// server gave (the PodDisruptionBudget's "needs N healthy pods and has M
// currently"), else its message.
func EvictionRefusal(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return err.Error()
	}
	s := status.Status()
	var causes []string
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			if c.Message != "" {
				causes = append(causes, c.Message)
			}
		}
	}
	if len(causes) == 0 {
		return s.Message
	}
	return strings.Join(causes, "; ")
}

// setTaint adds (on) or removes podtask.MaintenanceTaint on node, and
// reports whether the Node exists. One that does not is no error: there is
// nothing to keep pods off.
func (d *NodeDrainer) setTaint(ctx context.Context, node string, on bool) (bool, error) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := d.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints, changed := withMaintenanceTaint(n.Spec.Taints, on)
		if !changed {
			return nil
		}
		n = n.DeepCopy()
		n.Spec.Taints = taints
		_, err = d.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		verb := "add"
		if !on {
			verb = "remove"
		}
		return true, fmt.Errorf("%s the maintenance taint of node %s: %w", verb, node, err)
	}
	return true, nil
}

// withMaintenanceTaint is taints with (on) or without podtask.MaintenanceTaint,
// and whether that changed them.
func withMaintenanceTaint(taints []corev1.Taint, on bool) ([]corev1.Taint, bool) {
	is := func(t corev1.Taint) bool { return t.MatchTaint(&podtask.MaintenanceTaint) }
	has := slices.ContainsFunc(taints, is)
	switch {
	case on && !has:
		return append(slices.Clone(taints), podtask.MaintenanceTaint), true
	case !on && has:
		return slices.DeleteFunc(slices.Clone(taints), is), true
	}
	return taints, false
}

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// isDaemonSetPod reports whether a DaemonSet controls pod (kubectl drain's test).
func isDaemonSetPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.Kind == "DaemonSet" && ref.APIVersion == "apps/v1"
}
