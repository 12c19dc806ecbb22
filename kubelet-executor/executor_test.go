package kubeletexecutor

import (
	"context"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mesosexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubemesos/kubemesos/podtask"
)

// runExecutor runs ex until the test ends; the returned channel is closed
// when Run has returned, and *runErr holds its result then.
func runExecutor(t *testing.T, a *testAgent, ex *Executor) (done <-chan struct{}, runErr *error) {
	ctx, cancel := context.WithCancel(t.Context())
	finished := make(chan struct{})
	var err error
	go func() { defer close(finished); err = ex.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(15 * time.Second):
			t.Error("executor did not stop")
		}
	})
	select {
	case <-a.subscribes:
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not subscribe")
	}
	return finished, &err
}

func launch(id string, data []byte) mesosexec.Event {
	return mesosexec.Event{Type: mesosexec.Event_LAUNCH, Launch: &mesosexec.Event_Launch{Task: mesos.TaskInfo{
		Name: "t", TaskID: mesos.TaskID{Value: id}, AgentID: mesos.AgentID{Value: "S0"}, Data: data}}}
}

// boundPodClient is a fake API server holding pod ns/p (UID u1) bound to
// node-a, with pods/binding support.
func boundPodClient(node string) *fake.Clientset {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	return bindingClient(pod)
}

// bindingClient is a fake API server holding objs, with pods/binding support.
func bindingClient(objs ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset(objs...)
	client.PrependReactor("create", "pods", func(act k8stesting.Action) (bool, runtime.Object, error) {
		if act.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := act.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		p.Spec.NodeName = b.Target.Name
		return true, b, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p, b.Namespace)
	})
	return client
}

var podU1 = podtask.PodRef{Namespace: "ns", Name: "p", UID: "u1"}

// bindAfterBringUp binds pod ns/p of client (made by boundPodClient("")) to
// node-a once node has started. A pod bound to the node before then is one
// the bring-up deletes as left by an earlier executor, if its LAUNCH has not
// arrived yet: binding it afterwards lets a test launch an already bound pod
// without that race.
func bindAfterBringUp(t *testing.T, client *fake.Clientset, node *readyNode) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		node.mu.Lock()
		started := node.started
		node.mu.Unlock()
		if started > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node not started")
		}
	}
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	obj, err := client.Tracker().Get(pods, "ns", "p")
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*corev1.Pod).DeepCopy()
	p.Spec.NodeName = "node-a"
	if err := client.Tracker().Update(pods, p, "ns"); err != nil {
		t.Fatal(err)
	}
}
