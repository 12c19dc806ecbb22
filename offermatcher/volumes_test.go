package offermatcher

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"pgregory.net/rapid"
)

func (b *reqBuilder) Claim(c Claim) *reqBuilder {
	b.r.Claims = append(b.r.Claims, c)
	return b
}

// UnreservedDisk sets the offer's disk and the part of it that is
// unreserved.
func (b *offerBuilder) UnreservedDisk(total, unreserved int64) *offerBuilder {
	b.o.Resources.DiskMB, b.o.UnreservedDiskMB = total, unreserved
	return b
}

func (b *offerBuilder) Volumes(ids ...string) *offerBuilder {
	b.o.Volumes = append(b.o.Volumes, ids...)
	return b
}

func bound(name, id, agent string) Claim  { return Claim{Name: name, PersistenceID: id, AgentID: agent} }
func unbound(name string, mb int64) Claim { return Claim{Name: name, DiskMB: mb} }

func TestMatchVolumes(t *testing.T) {
	tests := []struct {
		name   string
		pods   []PodRequest
		offers []Offer
		want   map[string]string
	}{
		{"bound claim goes to the offer carrying its volume",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(bound("data-web-0", "pvc-1", "agent-o2")).Obj()},
			[]Offer{makeOffer("o1").Res(4000, 4096).Obj(), makeOffer("o2").Res(1000, 1024).Volumes("pvc-1").Obj()},
			map[string]string{"default/web-0": "o2"}},
		{"bound claim whose volume is in use (in no offer)",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(bound("data-web-0", "pvc-1", "agent-o2")).Obj()},
			[]Offer{makeOffer("o1").Res(4000, 4096).Volumes("pvc-2").Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/web-0": "0/2 offers fit: 2 persistent volume not offered"}},
		{"volume of the same id on another agent does not count",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(bound("data-web-0", "pvc-1", "agent-o2")).Obj()},
			[]Offer{makeOffer("o1").Res(4000, 4096).Volumes("pvc-1").Obj()},
			map[string]string{"default/web-0": "0/1 offers fit: 1 persistent volume not offered"}},
		{"bound volume is reported before the shortage",
			[]PodRequest{makeReq("web-0", 2000, 64).Claim(bound("data-web-0", "pvc-1", "agent-o1")).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).Volumes("pvc-1").Obj(), makeOffer("o2").Res(1000, 1024).Obj()},
			map[string]string{"default/web-0": "0/2 offers fit: 1 insufficient cpu, 1 persistent volume not offered"}},
		{"two pods of one volume: the second waits",
			[]PodRequest{
				makeReq("a", 100, 64).Claim(bound("shared", "pvc-1", "")).Obj(),
				makeReq("b", 100, 64).Claim(bound("shared", "pvc-1", "")).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).Volumes("pvc-1").Obj()},
			map[string]string{"default/a": "o1", "default/b": "0/1 offers fit: 1 persistent volume not offered"}},
		{"unbound claim needs unreserved disk",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(unbound("data-web-0", 1024)).Obj()},
			[]Offer{
				makeOffer("reserved").Res(1000, 1024).UnreservedDisk(4096, 512).Obj(),
				makeOffer("free").Res(1000, 1024).UnreservedDisk(2048, 2048).Obj(),
			},
			map[string]string{"default/web-0": "free"}},
		{"unbound claim exactly fits",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(unbound("data-web-0", 1024)).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1024, 1024).Obj()},
			map[string]string{"default/web-0": "o1"}},
		{"claim plus the pod's own disk must fit the disk",
			[]PodRequest{makeReq("web-0", 100, 64).Disk(100).Claim(unbound("data-web-0", 1000)).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1050, 1050).Obj()},
			map[string]string{"default/web-0": "0/1 offers fit: 1 insufficient disk for new persistent volumes"}},
		{"claim bigger than any free disk is named",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(unbound("data-web-0", 20<<10)).Obj()},
			[]Offer{
				makeOffer("o1").Res(1000, 1024).UnreservedDisk(8<<10, 8<<10).Obj(),
				makeOffer("o2").Res(1000, 1024).UnreservedDisk(10<<10, 4<<10).Obj(),
			},
			map[string]string{"default/web-0": "0/2 offers fit: 2 insufficient disk for new persistent volumes; pvc data-web-0 requests 20Gi; the largest free disk is 8Gi"}},
		{"claims that fit apart but not together are not named",
			[]PodRequest{makeReq("web-0", 100, 64).Claim(unbound("a", 600)).Claim(unbound("b", 600)).Obj()},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1000, 1000).Obj()},
			map[string]string{"default/web-0": "0/1 offers fit: 1 insufficient disk for new persistent volumes"}},
		{"new volumes use up the unreserved disk",
			[]PodRequest{
				makeReq("a", 100, 64).Claim(unbound("data-a", 600)).Obj(),
				makeReq("b", 100, 64).Claim(unbound("data-b", 600)).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1000, 1000).Obj()},
			map[string]string{"default/a": "o1", "default/b": "0/1 offers fit: 1 insufficient disk for new persistent volumes; pvc data-b requests 600Mi; the largest free disk is 400Mi"}},
		{"one unbound claim is provisioned once per plan",
			[]PodRequest{
				makeReq("a", 100, 64).Claim(unbound("shared", 100)).Obj(),
				makeReq("b", 100, 64).Claim(unbound("shared", 100)).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1000, 1000).Obj(), makeOffer("o2").Res(1000, 1024).UnreservedDisk(1000, 1000).Obj()},
			map[string]string{"default/a": "o1", "default/b": "0/2 offers fit: 2 persistent volume claim being provisioned for another pod"}},
		{"a pod's ephemeral disk eats into the unreserved part",
			[]PodRequest{
				makeReq("a", 100, 64).Disk(900).Obj(),
				makeReq("b", 100, 64).Claim(unbound("data-b", 200)).Obj(),
			},
			[]Offer{makeOffer("o1").Res(1000, 1024).UnreservedDisk(1000, 1000).Obj()},
			map[string]string{"default/a": "o1", "default/b": "0/1 offers fit: 1 insufficient disk for new persistent volumes; pvc data-b requests 200Mi; the largest free disk is 100Mi"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := outcomes(Match(tc.pods, tc.offers))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestClaimNames(t *testing.T) {
	p := makePod("web-0").Container("100m", "64Mi").Obj()
	p.Spec.Volumes = []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
	}
	if got, want := ClaimNames(p), []string{"data-web-0", "web-0-scratch"}; !slices.Equal(got, want) {
		t.Errorf("ClaimNames = %v, want %v", got, want)
	}
}

func TestFormatMiB(t *testing.T) {
	for mb, want := range map[int64]string{0: "0", 600: "600Mi", 8192: "8Gi", 20 << 10: "20Gi", 1 << 62: fmt.Sprint(int64(1)<<62) + "Mi"} {
		if got := formatMiB(mb); got != want {
			t.Errorf("formatMiB(%d) = %q, want %q", mb, got, want)
		}
	}
}

// TestMatchVolumeProperties checks, on random pods with bound and unbound
// claims against random offers with volumes and partly reserved disk:
//   - a pod with a bound claim is placed only on an offer of the claim's
//     agent that carries its volume, and no volume goes to two pods;
//   - the new volumes and pods placed on an offer never need more
//     unreserved disk than it has, nor more disk;
//   - an unbound claim is provisioned for one pod of the plan at most;
//   - an unplaced pod fits no offer even with what is left after the
//     whole plan (independent model below), and a note names each of its
//     unbound claims bigger than the largest unreserved disk left.
func TestMatchVolumeProperties(t *testing.T) {
	vols := []string{"v0", "v1", "v2", "v3"}
	claims := []string{"c0", "c1", "c2"}
	rapid.Check(t, func(t *rapid.T) {
		offers := make([]Offer, rapid.IntRange(0, 4).Draw(t, "offers"))
		for i := range offers {
			disk := rapid.Int64Range(0, 1000).Draw(t, "disk")
			offers[i] = makeOffer(fmt.Sprint("o", i)).Res(8000, 8192).
				UnreservedDisk(disk, disk-rapid.Int64Range(0, disk).Draw(t, "reserved")).Obj()
			for _, v := range vols {
				if rapid.IntRange(0, 3).Draw(t, "has"+v) == 0 {
					offers[i].Volumes = append(offers[i].Volumes, v)
				}
			}
		}
		pods := make([]PodRequest, rapid.IntRange(0, 8).Draw(t, "pods"))
		for i := range pods {
			b := makeReq(fmt.Sprint("p", i), 100, 64).Disk(rapid.Int64Range(0, 200).Draw(t, "podDisk"))
			for range rapid.IntRange(0, 2).Draw(t, "claims") {
				name := rapid.SampledFrom(claims).Draw(t, "claim")
				if rapid.Bool().Draw(t, "bound") {
					agent := ""
					if len(offers) > 0 && rapid.Bool().Draw(t, "withAgent") {
						agent = rapid.SampledFrom(offers).Draw(t, "agent").AgentID
					}
					b.Claim(bound(name, rapid.SampledFrom(vols).Draw(t, "vol"), agent))
				} else {
					b.Claim(unbound(name, rapid.Int64Range(1, 800).Draw(t, "size")))
				}
			}
			pods[i] = b.Obj()
		}
		plan := Match(pods, offers)

		type left struct {
			disk, unres int64
			vols        map[string]bool
			agent       string
		}
		model := map[string]*left{}
		for _, o := range offers {
			l := &left{disk: o.Resources.DiskMB, unres: o.UnreservedDiskMB, vols: map[string]bool{}, agent: o.AgentID}
			for _, v := range o.Volumes {
				l.vols[v] = true
			}
			model[o.ID] = l
		}
		provisioned := map[string]bool{}
		needs := func(p PodRequest) (newDisk int64, busy bool) {
			for _, c := range p.Claims {
				if !c.Bound() {
					newDisk += c.DiskMB
					busy = busy || provisioned[c.Name]
				}
			}
			return newDisk, busy
		}
		fits := func(p PodRequest, l *left) bool {
			newDisk, busy := needs(p)
			if busy || newDisk > l.unres || newDisk+p.Resources.DiskMB > l.disk {
				return false
			}
			for _, c := range p.Claims {
				if c.Bound() && (!l.vols[c.PersistenceID] || (c.AgentID != "" && c.AgentID != l.agent)) {
					return false
				}
			}
			return true
		}
		for _, a := range plan.Assignments {
			l := model[a.OfferID]
			if !fits(a.Pod, l) {
				t.Fatalf("pod %s (%+v) placed on %s, which cannot take it (left %+v)", a.Pod.Key, a.Pod.Claims, a.OfferID, *l)
			}
			newDisk, _ := needs(a.Pod)
			l.disk -= newDisk + a.Pod.Resources.DiskMB
			l.unres = min(l.unres-newDisk, l.disk)
			for _, c := range a.Pod.Claims {
				if c.Bound() {
					delete(l.vols, c.PersistenceID)
				} else {
					provisioned[c.Name] = true
				}
			}
		}
		var largest int64
		for _, l := range model {
			largest = max(largest, l.unres)
		}
		for _, u := range plan.Unplaced {
			for id, l := range model {
				if fits(u.Pod, l) {
					t.Fatalf("pod %s (%+v) unplaced (%s) but fits %s (left %+v)", u.Pod.Key, u.Pod.Claims, u.Reasons, id, *l)
				}
			}
			var big int
			for _, c := range u.Pod.Claims {
				if !c.Bound() && c.DiskMB > largest {
					big++
				}
			}
			// Notes are made when the pod is tried; the unreserved disk only
			// shrinks after that, so at least as many claims are too big now.
			if len(u.Reasons.Notes) > big {
				t.Fatalf("pod %s: notes %q, but only %d claims exceed the largest free disk %d", u.Pod.Key, u.Reasons.Notes, big, largest)
			}
		}
	})
}

// The volume check keeps fits free of allocations.
func TestVolumeCheckAllocatesNothing(t *testing.T) {
	pod := makeReq("a", 100, 10).Claim(bound("data", "v1", "agent-o1")).Claim(unbound("new", 100)).Obj()
	offers := []Offer{
		makeOffer("o1").Res(1000, 1024).UnreservedDisk(500, 500).Volumes("v0", "v1").Obj(),
		makeOffer("o2").Res(1000, 1024).UnreservedDisk(500, 500).Volumes("v1").Obj(),
	}
	topo := newTopology(offers, &Cluster{})
	var p podState
	p.prepare(&pod, topo)
	p.vol.prepare(&pod, map[string]bool{})
	book := make([]offerState, len(offers))
	for i := range offers {
		book[i] = offerState{offer: &offers[i], nodeIdx: topo.byName[offers[i].NodeName], cpu: 1000, mem: 1024, disk: 500, unreservedDisk: 500, volumes: offers[i].Volumes}
	}
	if _, ok := p.fits(&book[0]); !ok {
		t.Fatal("pod does not fit the offer with its volume")
	}
	if r, ok := p.fits(&book[1]); ok || reasonText[r] != VolumeNotOffered {
		t.Fatalf("offer of another agent: fits = %v, %s", ok, reasonText[r])
	}
	if allocs := testing.AllocsPerRun(100, func() {
		for i := range book {
			p.fits(&book[i])
		}
	}); allocs != 0 {
		t.Errorf("checking offers allocates %.1f times per run", allocs)
	}
}
