package offermatcher_test

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/offermatcher"
)

func ExampleMatch() {
	web := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("500m"),
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			}},
			Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 31080}},
		}}},
	}
	db := web.DeepCopy()
	db.Name, db.UID = "db", "u2"
	db.Spec.Containers[0].Ports = nil
	db.Spec.NodeSelector = map[string]string{"disk": "ssd"}

	min := offermatcher.Resources{MilliCPU: 10, MemoryMB: 16}
	pods := []offermatcher.PodRequest{offermatcher.FromPod(web, min), offermatcher.FromPod(db, min)}
	offers := []offermatcher.Offer{
		{ID: "o1", AgentID: "a1", NodeName: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1", "disk": "hdd"},
			Resources: offermatcher.Resources{MilliCPU: 4000, MemoryMB: 8192, Ports: []offermatcher.PortRange{{Begin: 31000, End: 32000}}}},
		{ID: "o2", AgentID: "a2", NodeName: "node-2", Labels: map[string]string{"kubernetes.io/hostname": "node-2", "disk": "ssd"},
			Resources: offermatcher.Resources{MilliCPU: 250, MemoryMB: 8192}},
	}

	plan := offermatcher.Match(pods, offers)
	for _, a := range plan.Assignments {
		fmt.Println(a.Pod.Key, "→", a.OfferID, a.Ports)
	}
	for _, u := range plan.Unplaced {
		fmt.Println(u.Pod.Key, "unplaced:", u.Reasons)
	}
	// Output:
	// default/web → o1 [31080]
	// default/db unplaced: 0/2 offers fit: 1 insufficient cpu, 1 node selector mismatch
}
