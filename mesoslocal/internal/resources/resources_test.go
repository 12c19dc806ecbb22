package resources

import (
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		scalars map[string]float64
		ports   string
		wantErr bool
	}{
		{in: "cpus:2;mem:4096;disk:20000;ports:[31000-32000]", scalars: map[string]float64{"cpus": 2, "mem": 4096, "disk": 20000}, ports: "[31000-32000]"},
		{in: "cpus(*):0.5; mem:128", scalars: map[string]float64{"cpus": 0.5, "mem": 128}},
		{in: "cpus:1;cpus:1.5", scalars: map[string]float64{"cpus": 2.5}},
		{in: "ports:[31000-31010, 31005-31020, 40000-40000]", ports: "[31000-31020, 40000-40000]"},
		{in: "", scalars: map[string]float64{}},
		{in: "cpus", wantErr: true},
		{in: "cpus:-1", wantErr: true},
		{in: "cpus:abc", wantErr: true},
		{in: "ports:[32000-31000]", wantErr: true},
		{in: "ports:[1-2", wantErr: true},
		{in: "cpus(role):1", wantErr: true},
	}
	for _, tc := range tests {
		rs, err := Parse(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) error %v, want ErrSyntax", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		for name, want := range tc.scalars {
			if got := Scalar(rs, name); got != want {
				t.Errorf("Parse(%q) %s = %v, want %v", tc.in, name, got, want)
			}
		}
		if tc.ports != "" {
			if got := StateJSON(rs)["ports"]; got != tc.ports {
				t.Errorf("Parse(%q) ports %v, want %s", tc.in, got, tc.ports)
			}
		}
	}
}

func TestParseAttributes(t *testing.T) {
	as, err := ParseAttributes("rack:r1;zone:a;weight:2.5;span:[1-3]")
	if err != nil {
		t.Fatal(err)
	}
	got := AttributesJSON(as)
	want := map[string]any{"rack": "r1", "zone": "a", "weight": 2.5, "span": "[1-3]"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	if as[0].GetType() != mesos.TEXT || as[2].GetType() != mesos.SCALAR {
		t.Errorf("types %v %v", as[0].GetType(), as[2].GetType())
	}
	if _, err := ParseAttributes("rack"); !errors.Is(err, ErrSyntax) {
		t.Errorf("missing value: %v", err)
	}
}

func mustParse(t *testing.T, s string) mesos.Resources {
	t.Helper()
	rs, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestContainsAndArithmetic(t *testing.T) {
	have := mustParse(t, "cpus:2;mem:1024;ports:[31000-31010]")
	tests := []struct {
		want string
		ok   bool
	}{
		{"cpus:1;mem:512", true},
		{"cpus:2;mem:1024;ports:[31000-31010]", true},
		{"cpus:2.01", false},
		{"ports:[31005-31006]", true},
		{"ports:[31010-31011]", false},
		{"gpus:1", false},
		{"cpus:1.5;cpus:1", false}, // each fits alone, not together
	}
	for _, tc := range tests {
		want := mustParse(t, tc.want)
		if tc.want == "cpus:1.5;cpus:1" {
			want = mesos.Resources{
				{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1.5}},
				{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}},
			}
		}
		if got := Contains(have, want); got != tc.ok {
			t.Errorf("Contains(%s, %s) = %v, want %v", have, tc.want, got, tc.ok)
		}
	}
	// Allocation info does not matter for containment or sums.
	alloc := Allocated(mustParse(t, "cpus:1;mem:100"), "kubernetes")
	if !Contains(have, alloc) {
		t.Error("allocated resources should fit in unallocated ones")
	}
	left := have.Clone()
	left.Subtract(Unallocated(alloc)...)
	left.Subtract(mustParse(t, "ports:[31000-31004]")...)
	if Scalar(left, "cpus") != 1 || Scalar(left, "mem") != 924 || StateJSON(left)["ports"] != "[31005-31010]" {
		t.Errorf("after subtraction: %v", left)
	}
	if s := Sum(alloc, mustParse(t, "cpus:0.5")); Scalar(s, "cpus") != 1.5 || len(s) != 2 {
		t.Errorf("Sum = %v", s)
	}
}

func TestDominantShareAndAllocatable(t *testing.T) {
	total := mustParse(t, "cpus:4;mem:1000")
	if got := DominantShare(mustParse(t, "cpus:1;mem:500"), total); got != 0.5 {
		t.Errorf("share %v, want 0.5 (mem dominates)", got)
	}
	if got := DominantShare(nil, total); got != 0 {
		t.Errorf("empty share %v", got)
	}
	if Allocatable(mustParse(t, "cpus:0.001;mem:16")) {
		t.Error("below Mesos' min_allocatable_resources should not be allocatable")
	}
	if !Allocatable(mustParse(t, "cpus:0.01")) || !Allocatable(mustParse(t, "mem:32")) {
		t.Error("cpus:0.01 or mem:32 alone is allocatable")
	}
}
