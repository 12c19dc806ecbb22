package offermatcher

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"pgregory.net/rapid"
)

// The QoS classes the generator builds pods of, by how it sets requests and
// limits (the oracle: it does not ask the QoS code under test).
const (
	genGuaranteed = iota
	genBurstable
	genBestEffort
)

var revocMin = Resources{MilliCPU: 100, MemoryMB: 64, DiskMB: 10}

// genQoSPod is a pod of the given class, annotated for revocable resources
// or not.
func genQoSPod(t *rapid.T, i, class int, annotated bool) *corev1.Pod {
	c := corev1.Container{Name: "c"}
	cpu := resource.MustParse(fmt.Sprintf("%dm", rapid.IntRange(1, 1000).Draw(t, "cpu")))
	mem := resource.MustParse(fmt.Sprintf("%dMi", rapid.IntRange(1, 1024).Draw(t, "mem")))
	switch class {
	case genGuaranteed:
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}
		c.Resources.Limits = c.Resources.Requests
	case genBurstable:
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: cpu}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprint("p", i), UID: types.UID(fmt.Sprint("u", i))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
	if annotated {
		pod.Annotations = map[string]string{RevocableAnnotation: "true"}
	}
	return pod
}

func genRevocableOffers(t *rapid.T) []Offer {
	offers := make([]Offer, rapid.IntRange(0, 4).Draw(t, "offers"))
	for i := range offers {
		offers[i] = Offer{
			ID: fmt.Sprint("o", i), AgentID: fmt.Sprint("agent", i), NodeName: fmt.Sprint("host", i),
			Labels: map[string]string{corev1.LabelHostname: fmt.Sprint("host", i)},
			Resources: Resources{
				MilliCPU: rapid.Int64Range(0, 3000).Draw(t, "cpu"),
				MemoryMB: rapid.Int64Range(0, 3000).Draw(t, "mem"),
				DiskMB:   rapid.Int64Range(0, 100).Draw(t, "disk"),
			},
			Revocable: RevocableResources{
				MilliCPU: rapid.Int64Range(-100, 3000).Draw(t, "rcpu"),
				MemoryMB: rapid.Int64Range(-100, 3000).Draw(t, "rmem"),
			},
		}
	}
	return offers
}

// TestRevocableProperties checks, on random pods of every QoS class and
// random offers with regular and revocable resources:
//   - only BestEffort pods annotated kubemesos.io/revocable: "true" are
//     ever placed on revocable resources; Guaranteed and Burstable pods
//     never are, annotated or not;
//   - neither the regular nor the revocable cpus and memory of an offer are
//     over-committed, and a pod's disk always comes from regular resources;
//   - a pod that may use revocable resources but was placed on regular ones
//     fits no offer's revocable cpus and memory even after the whole plan
//     (revocable resources are preferred);
//   - differential: when no pod may use revocable resources, the plan is
//     the one for the same offers without their revocable resources.
func TestRevocableProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		offers := genRevocableOffers(t)
		n := rapid.IntRange(0, 12).Draw(t, "pods")
		var pods []PodRequest
		eligible := map[string]bool{}
		for i := range n {
			class := rapid.IntRange(genGuaranteed, genBestEffort).Draw(t, "class")
			annotated := rapid.Bool().Draw(t, "annotated")
			req := FromPod(genQoSPod(t, i, class, annotated), revocMin)
			eligible[req.Key] = class == genBestEffort && annotated
			if req.Revocable != eligible[req.Key] {
				t.Fatalf("pod %s of class %d, annotated %v: Revocable %v", req.Key, class, annotated, req.Revocable)
			}
			pods = append(pods, req)
		}
		plan := Match(pods, offers)

		type used struct{ cpu, mem, disk, rcpu, rmem int64 }
		use := map[string]*used{}
		for _, a := range plan.Assignments {
			u := use[a.OfferID]
			if u == nil {
				u = &used{}
				use[a.OfferID] = u
			}
			if a.Revocable {
				if !eligible[a.Pod.Key] {
					t.Fatalf("pod %s may not use revocable resources but was placed on them", a.Pod.Key)
				}
				u.rcpu += a.Pod.Resources.MilliCPU
				u.rmem += a.Pod.Resources.MemoryMB
			} else {
				u.cpu += a.Pod.Resources.MilliCPU
				u.mem += a.Pod.Resources.MemoryMB
			}
			u.disk += a.Pod.Resources.DiskMB
		}
		left := map[string]used{}
		for _, o := range offers {
			u := use[o.ID]
			if u == nil {
				u = &used{}
			}
			if u.cpu > o.Resources.MilliCPU || u.mem > o.Resources.MemoryMB || u.disk > o.Resources.DiskMB {
				t.Fatalf("offer %s regular resources over-committed: %+v of %+v", o.ID, *u, o.Resources)
			}
			if u.rcpu > max(o.Revocable.MilliCPU, 0) || u.rmem > max(o.Revocable.MemoryMB, 0) {
				t.Fatalf("offer %s revocable resources over-committed: %+v of %+v", o.ID, *u, o.Revocable)
			}
			left[o.ID] = used{
				disk: o.Resources.DiskMB - u.disk,
				rcpu: o.Revocable.MilliCPU - u.rcpu, rmem: o.Revocable.MemoryMB - u.rmem,
			}
		}
		for _, a := range plan.Assignments {
			if a.Revocable || !eligible[a.Pod.Key] {
				continue
			}
			for id, l := range left {
				r := a.Pod.Resources
				if r.MilliCPU <= l.rcpu && r.MemoryMB <= l.rmem && r.DiskMB <= l.disk {
					t.Fatalf("pod %s placed on regular resources of %s while offer %s has revocable room %+v", a.Pod.Key, a.OfferID, id, l)
				}
			}
		}

		anyEligible := false
		for _, e := range eligible {
			anyEligible = anyEligible || e
		}
		if !anyEligible {
			plain := make([]Offer, len(offers))
			for i, o := range offers {
				o.Revocable = RevocableResources{}
				plain[i] = o
			}
			if want := Match(pods, plain); !reflect.DeepEqual(plan, want) {
				t.Fatalf("revocable resources changed the plan of pods that may not use them:\n got %+v\nwant %+v", plan, want)
			}
		}
	})
}

func TestMayUseRevocable(t *testing.T) {
	bestEffort := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{RevocableAnnotation: "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	guaranteed := bestEffort.DeepCopy()
	q := resource.MustParse("1")
	guaranteed.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q, corev1.ResourceMemory: q},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q, corev1.ResourceMemory: q},
	}
	notOptedIn := bestEffort.DeepCopy()
	notOptedIn.Annotations = nil
	other := bestEffort.DeepCopy()
	other.Annotations[RevocableAnnotation] = "yes"
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"annotated BestEffort":  {bestEffort, true},
		"annotated Guaranteed":  {guaranteed, false},
		"BestEffort, no opt-in": {notOptedIn, false},
		"annotation not true":   {other, false},
		"nil":                   {nil, false},
	} {
		if got := MayUseRevocable(tc.pod); got != tc.want {
			t.Errorf("%s: MayUseRevocable = %v, want %v", name, got, tc.want)
		}
	}
}

// TestRevocableFallsBackToRegular: a pod that may use revocable resources
// takes regular ones when no offer has enough revocable cpus and memory,
// and is unplaced with the regular reasons when neither fits.
func TestRevocableFallsBackToRegular(t *testing.T) {
	pod := PodRequest{Key: "default/be", Resources: Resources{MilliCPU: 500, MemoryMB: 256}, Revocable: true}
	offers := []Offer{
		{ID: "small", AgentID: "a1", Resources: Resources{MilliCPU: 4000, MemoryMB: 4096}, Revocable: RevocableResources{MilliCPU: 100, MemoryMB: 4096}},
		{ID: "big", AgentID: "a2", Resources: Resources{MilliCPU: 100, MemoryMB: 100}, Revocable: RevocableResources{MilliCPU: 1000, MemoryMB: 1024}},
	}
	plan := Match([]PodRequest{pod, pod, pod}, offers)
	var got []string
	for _, a := range plan.Assignments {
		got = append(got, fmt.Sprintf("%s/%v", a.OfferID, a.Revocable))
	}
	if want := []string{"big/true", "big/true", "small/false"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("assignments %v, want %v", got, want)
	}
	none := Match([]PodRequest{pod}, []Offer{{ID: "o", Resources: Resources{MilliCPU: 100, MemoryMB: 4096}, Revocable: RevocableResources{MilliCPU: 100, MemoryMB: 4096}}})
	if len(none.Unplaced) != 1 || none.Unplaced[0].Reasons.Counts[InsufficientCPU] != 1 {
		t.Fatalf("unplaced %+v, want one insufficient cpu", none.Unplaced)
	}
}
