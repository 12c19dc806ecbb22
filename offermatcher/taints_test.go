package offermatcher

import (
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"pgregory.net/rapid"
)

var cordoned = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func TestTaintsAndTolerations(t *testing.T) {
	dedicated := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute}
	soft := corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		fits        bool
	}{
		{"no taints", nil, nil, true},
		{"cordoned node", []corev1.Taint{cordoned}, nil, false},
		{"cordon tolerated by key", []corev1.Taint{cordoned},
			[]corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, true},
		{"cordon tolerated by the empty key (tolerates everything)", []corev1.Taint{cordoned, dedicated},
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, true},
		{"NoExecute with the wrong value", []corev1.Taint{dedicated},
			[]corev1.Toleration{{Key: "dedicated", Value: "cpu"}}, false},
		{"NoExecute with the value", []corev1.Taint{dedicated},
			[]corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu"}}, true},
		{"toleration of another effect", []corev1.Taint{dedicated},
			[]corev1.Toleration{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}, false},
		{"PreferNoSchedule does not filter", []corev1.Taint{soft}, nil, true},
		{"Gt is off with its feature gate", []corev1.Taint{{Key: "n", Value: "5", Effect: corev1.TaintEffectNoSchedule}},
			[]corev1.Toleration{{Key: "n", Operator: corev1.TolerationOpGt, Value: "1"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := makeOffer("o1").Res(1000, 1000).Obj()
			o.Taints = tc.taints
			pod := makeReq("p", 100, 10).Obj()
			pod.Tolerations = tc.tolerations
			plan := Match([]PodRequest{pod}, []Offer{o})
			if placed := len(plan.Assignments) == 1; placed != tc.fits {
				t.Fatalf("placed %v, want %v (%v)", placed, tc.fits, plan.Unplaced)
			}
			if !tc.fits {
				if got := plan.Unplaced[0].Reasons.String(); got != "0/1 offers fit: 1 untolerated taint" {
					t.Fatalf("reasons %q", got)
				}
			}
		})
	}
}

// TestTaintsAsKubeScheduler: for random taints and tolerations, an offer
// takes the pod exactly when kube-scheduler's TaintToleration filter
// (component-helpers' FindMatchingUntoleratedTaint over the NoSchedule and
// NoExecute taints) finds no untolerated taint.
func TestTaintsAsKubeScheduler(t *testing.T) {
	keys := []string{"", "a", "b", corev1.TaintNodeUnschedulable}
	values := []string{"", "x", "1", "7"}
	effects := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	ops := []corev1.TolerationOperator{"", corev1.TolerationOpEqual, corev1.TolerationOpExists, corev1.TolerationOpLt, corev1.TolerationOpGt, "Bogus"}
	doNotSchedule := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	rapid.Check(t, func(t *rapid.T) {
		var taints []corev1.Taint
		for i := range rapid.IntRange(0, 4).Draw(t, "taints") {
			taints = append(taints, corev1.Taint{
				Key:    rapid.SampledFrom(keys[1:]).Draw(t, fmt.Sprint("key", i)),
				Value:  rapid.SampledFrom(values).Draw(t, fmt.Sprint("value", i)),
				Effect: rapid.SampledFrom(effects).Draw(t, fmt.Sprint("effect", i)),
			})
		}
		var tolerations []corev1.Toleration
		for i := range rapid.IntRange(0, 3).Draw(t, "tolerations") {
			tolerations = append(tolerations, corev1.Toleration{
				Key:      rapid.SampledFrom(keys).Draw(t, fmt.Sprint("tkey", i)),
				Operator: rapid.SampledFrom(ops).Draw(t, fmt.Sprint("op", i)),
				Value:    rapid.SampledFrom(values).Draw(t, fmt.Sprint("tvalue", i)),
				Effect:   rapid.SampledFrom(append([]corev1.TaintEffect{""}, effects...)).Draw(t, fmt.Sprint("teffect", i)),
			})
		}
		o := makeOffer("o1").Res(1000, 1000).Obj()
		o.Taints = taints
		pod := makeReq("p", 100, 10).Obj()
		pod.Tolerations = tolerations
		_, kubeRejects := v1helper.FindMatchingUntoleratedTaint(logr.Discard(), taints, tolerations, doNotSchedule, false)
		plan := Match([]PodRequest{pod}, []Offer{o})
		if placed := len(plan.Assignments) == 1; placed == kubeRejects {
			t.Fatalf("taints %v tolerations %v: placed %v, kube-scheduler rejects %v", taints, tolerations, placed, kubeRejects)
		}
	})
}

func TestUntoleratedAllocatesNothing(t *testing.T) {
	taints := []corev1.Taint{cordoned, {Key: "a", Value: "x", Effect: corev1.TaintEffectNoExecute}}
	tolerations := []corev1.Toleration{{Key: "a", Value: "x"}, {Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}}
	if n := testing.AllocsPerRun(100, func() { _ = untolerated(taints, tolerations) }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
