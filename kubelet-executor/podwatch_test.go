package kubeletexecutor

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// TestPodReplacedUnderSameNameEndsTask: when the informer sees the pod's name
// now held by a pod with another UID (as a relist after a missed delete and
// re-create delivers it: one update), the task of the old UID ends KILLED.
func TestPodReplacedUnderSameNameEndsTask(t *testing.T) {
	a := newTestAgent(t)
	client := boundPodClient("node-a")
	// The start-up sweep of pods left on the node may run before the LAUNCH
	// is handled: it must not delete the pod then (it retries, and spares it
	// once the task is known). Nothing else here deletes a pod.
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("no deletes in this test")
	})
	runExecutor(t, a, New(a.mesosConfig(), client, &readyNode{}))
	a.events <- launch(podtask.TaskID(podU1.UID, podtask.Attempt{Epoch: 1, Seq: 1}), podU1.Encode())
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_STARTING {
		t.Fatalf("update = %v %q, want TASK_STARTING", u.GetState(), u.GetMessage())
	}
	replacement := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u2"},
		Spec: corev1.PodSpec{NodeName: "node-a"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), replacement, "ns"); err != nil {
		t.Fatal(err)
	}
	if u := a.nextUpdate(t); u.GetState() != mesos.TASK_KILLED || !strings.Contains(u.GetMessage(), "replaced") {
		t.Fatalf("update = %v %q, want TASK_KILLED (replaced)", u.GetState(), u.GetMessage())
	}
}
