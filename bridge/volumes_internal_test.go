package bridge

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// fakeVolumes is a VolumeSource over fixed claims, PVs and a reclaim policy.
type fakeVolumes struct {
	claims map[string]*corev1.PersistentVolumeClaim // by namespace/name
	pvs    map[string]*corev1.PersistentVolume
	policy corev1.PersistentVolumeReclaimPolicy // "": no class
}

func (f *fakeVolumes) Claim(ns, name string) (*corev1.PersistentVolumeClaim, bool) {
	c, ok := f.claims[ns+"/"+name]
	return c, ok
}

func (f *fakeVolumes) Volume(name string) (*corev1.PersistentVolume, bool) {
	pv, ok := f.pvs[name]
	return pv, ok
}

func (f *fakeVolumes) Volumes() []*corev1.PersistentVolume {
	var out []*corev1.PersistentVolume
	for _, pv := range f.pvs {
		out = append(out, pv)
	}
	return out
}

func (f *fakeVolumes) ReclaimPolicy(string) (corev1.PersistentVolumeReclaimPolicy, bool) {
	return f.policy, f.policy != ""
}

func newFakeVolumes(claims ...*corev1.PersistentVolumeClaim) *fakeVolumes {
	f := &fakeVolumes{claims: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{}, policy: corev1.PersistentVolumeReclaimDelete}
	for _, c := range claims {
		f.claims[c.Namespace+"/"+c.Name] = c
	}
	return f
}

func testClaim(name, uid, size string) *corev1.PersistentVolumeClaim {
	sc := podtask.StorageClassName
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)}}
	c.Spec.StorageClassName = &sc
	if size != "" {
		c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
	}
	return c
}

func podMounting(claims ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c},
		}})
	}
	return p
}

// testIntent is a valid volume intent of claim uid on agent a1.
func testIntent(name, uid string) VolumeIntent {
	in := VolumeIntent{
		Claim: podtask.ClaimRef{Namespace: "ns", Name: name, UID: types.UID(uid)}, AgentID: "a1", NodeName: "host-1",
		Role: "kubernetes", DiskMB: 512, WorkDir: "/var/lib/mesos",
	}
	in.PersistenceID = in.volume().PersistenceID()
	return in
}

// ourPV is the PV the bridge makes of in.
func ourPV(t *testing.T, in VolumeIntent) *corev1.PersistentVolume {
	t.Helper()
	pv, err := in.pv()
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

func TestClaimsOfAPod(t *testing.T) {
	other := testClaim("other", "u-other", "1Gi")
	otherClass := "fast"
	other.Spec.StorageClassName = &otherClass
	deleting := testClaim("deleting", "u-del", "1Gi")
	deleting.DeletionTimestamp = &metav1.Time{}
	foreign := testClaim("foreign", "u-foreign", "1Gi")
	foreign.Spec.VolumeName = "someone-elses"
	src := newFakeVolumes(testClaim("new", "u-new", "100M"), testClaim("made", "u-made", "1Gi"), testClaim("coming", "u-coming", "1Gi"),
		testClaim("empty", "u-empty", ""), other, deleting, foreign, testClaim("fake", "u-fake", "1Gi"))
	made := testIntent("made", "u-made")
	made.AgentID = "a7"
	src.pvs[made.PersistenceID] = ourPV(t, made)
	src.pvs[podtask.PVName("u-fake")] = &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: podtask.PVName("u-fake")}}
	b := newVolumeBook(src)
	b.launched("pod.x", []VolumeIntent{testIntent("coming", "u-coming")}, false)

	for _, tc := range []struct {
		claims  []string
		want    []offermatcher.Claim
		wantErr string
	}{
		{claims: []string{"new"}, want: []offermatcher.Claim{{Name: "new", DiskMB: 96}}}, // 100 MB rounded up to MiB
		{claims: []string{"made"}, want: []offermatcher.Claim{{Name: "made", PersistenceID: podtask.PVName("u-made"), AgentID: "a7"}}},
		{claims: []string{"coming"}, want: []offermatcher.Claim{{Name: "coming", PersistenceID: podtask.PVName("u-coming"), AgentID: "a1"}}},
		{claims: []string{"other", "foreign", "new"}, want: []offermatcher.Claim{{Name: "new", DiskMB: 96}}},
		{claims: []string{"nosuch"}, wantErr: `persistentvolumeclaim "nosuch" not found`},
		{claims: []string{"deleting"}, wantErr: "is being deleted"},
		{claims: []string{"empty"}, wantErr: "requests no storage"},
		{claims: []string{"fake"}, wantErr: "is not kubemesos'"},
	} {
		got, err := b.claims(podMounting(tc.claims...))
		if tc.wantErr != "" {
			if !errors.Is(err, ErrClaimNotUsable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want ErrClaimNotUsable saying %q", tc.claims, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%v: %+v %v, want %+v", tc.claims, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v: %+v, want %+v", tc.claims, got, tc.want)
			}
		}
	}
	var none *volumeBook
	if got, err := none.claims(podMounting("new")); got != nil || err != nil {
		t.Errorf("without volumes: %v %v", got, err)
	}
}

// testOffer is an offer of agent a1 (host-1) with rs, allocated to kubernetes.
func testOffer(rs ...mesos.Resource) mesos.Offer {
	role := "kubernetes"
	for i := range rs {
		rs[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "host-1",
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: &role}, Resources: rs,
	}
}

func disk(mb float64) mesos.Resource {
	star := "*"
	return mesos.Resource{Name: "disk", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: mb}, Role: &star}
}

func volumeResource(t *testing.T, in VolumeIntent) mesos.Resource {
	t.Helper()
	r, err := in.volume().CreateResource()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reservedDisk(t *testing.T, in VolumeIntent) mesos.Resource {
	t.Helper()
	r, err := in.volume().ReserveResource()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUnreservedDiskOfOffers(t *testing.T) {
	revocable := disk(500)
	revocable.Revocable = &mesos.Resource_RevocableInfo{}
	in := testIntent("c", "u-c")
	o := testOffer(disk(1000), disk(24), revocable, volumeResource(t, in), reservedDisk(t, testIntent("d", "u-d")))
	b := newVolumeBook(newFakeVolumes())
	if got := b.unreservedDiskMB(&o, 0); got != 0 {
		t.Errorf("work_dir unknown: %d MiB, want 0 (no volume can be made there)", got)
	}
	b.workDirs["a1"] = "/var/lib/mesos"
	if got := b.unreservedDiskMB(&o, 0); got != 1024 {
		t.Errorf("%d MiB, want 1024: unreserved, not revocable, no volume", got)
	}
	if got := b.unreservedDiskMB(&o, 100); got != 924 {
		t.Errorf("with the executor's 100: %d MiB, want 924", got)
	}
	if got := b.unreservedDiskMB(&o, 5000); got != 0 {
		t.Errorf("executor bigger than the disk: %d", got)
	}
	if got := fromMesos(o.Resources).DiskMB; got != 1024 {
		t.Errorf("general disk %d MiB, want 1024: a claim's reserved disk and volume are not general disk", got)
	}
}

func TestVolumeLaunch(t *testing.T) {
	src := newFakeVolumes(testClaim("new", "u-new", "512Mi"))
	src.policy = corev1.PersistentVolumeReclaimRetain
	b := newVolumeBook(src)
	bound := testIntent("old", "u-old")
	offered := volumeResource(t, bound)
	o := testOffer(disk(2048), offered)
	a := offermatcher.Assignment{Pod: offermatcher.PodRequest{Namespace: "ns", Claims: []offermatcher.Claim{
		{Name: "new", DiskMB: 512}, {Name: "old", PersistenceID: bound.PersistenceID, AgentID: "a1"},
	}}}
	pod := podMounting("new", "old")

	var ti mesos.TaskInfo
	if _, _, err := b.volumeLaunch(a, pod, &o, "", &ti); err == nil || !strings.Contains(err.Error(), "work_dir") {
		t.Fatalf("work_dir unknown: %v", err)
	}
	b.workDirs["a1"] = "/var/lib/mesos"
	ti = mesos.TaskInfo{}
	ops, ins, err := b.volumeLaunch(a, pod, &o, "kubemesos", &ti)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].GetType() != mesos.Offer_Operation_RESERVE || ops[1].GetType() != mesos.Offer_Operation_CREATE {
		t.Fatalf("operations %v, want RESERVE then CREATE", ops)
	}
	reserved := ops[0].GetReserve().GetResources()
	if len(reserved) != 1 || reserved[0].GetScalar().GetValue() != 512 || reserved[0].GetReservation().GetPrincipal() != "kubemesos" {
		t.Errorf("RESERVE %v, want 512 MiB by the framework's principal", reserved)
	}
	if c, ok := podtask.ClaimOfResource(&reserved[0]); !ok || c.UID != "u-new" {
		t.Errorf("reservation labelled for %+v, want claim u-new", c)
	}
	created := ops[1].GetCreate().GetVolumes()
	if len(created) != 1 || created[0].GetDisk().GetPersistence().GetID() != podtask.PVName("u-new") {
		t.Errorf("CREATE %v, want volume %s", created, podtask.PVName("u-new"))
	}
	if ids := podtask.VolumeIDs(ti.Resources); len(ids) != 2 || ids[0] != podtask.PVName("u-new") || ids[1] != bound.PersistenceID {
		t.Errorf("the task lists volumes %v, want the new and the offered one", ids)
	}
	if len(ins) != 1 || ins[0].Claim.UID != "u-new" || ins[0].AgentID != "a1" || ins[0].NodeName != "host-1" || ins[0].WorkDir != "/var/lib/mesos" ||
		ins[0].Role != "kubernetes" || ins[0].Reclaim != corev1.PersistentVolumeReclaimRetain || ins[0].DiskMB != 512 {
		t.Errorf("volume intents %+v", ins)
	}
	pv := ourPV(t, ins[0])
	if pv.Spec.Local.Path != "/var/lib/mesos/volumes/roles/kubernetes/"+podtask.PVName("u-new") || pv.Spec.ClaimRef.UID != "u-new" ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("PV %+v", pv.Spec)
	}

	// A bound claim whose volume the offer lacks, and a claim gone since placement.
	for _, c := range []offermatcher.Claim{{Name: "old", PersistenceID: "pvc-elsewhere", AgentID: "a1"}, {Name: "gone", DiskMB: 1}} {
		a.Pod.Claims = []offermatcher.Claim{c}
		if _, _, err := b.volumeLaunch(a, pod, &o, "", &mesos.TaskInfo{}); !errors.Is(err, ErrClaimNotUsable) {
			t.Errorf("claim %+v: %v, want ErrClaimNotUsable", c, err)
		}
	}
}

func TestVolumeStatusesAndObservation(t *testing.T) {
	src := newFakeVolumes()
	b := newVolumeBook(src)
	nodeTask := podtask.NodeTaskID("a2", time.Unix(1, 0))
	if err := b.status(mesos.TaskStatus{TaskID: mesos.TaskID{Value: nodeTask}, Data: podtask.StatusData{WorkDir: "/w2"}.Encode()}); err != nil || b.workDirs["a2"] != "/w2" {
		t.Fatalf("node task data: %v, work_dirs %v", err, b.workDirs)
	}
	if err := b.status(mesos.TaskStatus{TaskID: mesos.TaskID{Value: nodeTask}, Data: []byte(`{"workDir":"w"}`)}); err == nil {
		t.Error("a relative work_dir accepted")
	}

	ins := map[string]VolumeIntent{}
	for _, n := range []string{"lost", "ran", "live", "offered", "pv"} {
		ins[n] = testIntent(n, "u-"+n)
		b.launched("pod.t-"+n+".1.1", []VolumeIntent{ins[n]}, false)
	}
	master, agent := mesos.SOURCE_MASTER.Enum(), mesos.SOURCE_AGENT.Enum()
	for _, st := range []mesos.TaskStatus{
		{TaskID: mesos.TaskID{Value: "pod.t-lost.1.1"}, State: mesos.TASK_LOST.Enum(), Source: master},    // proves nothing
		{TaskID: mesos.TaskID{Value: "pod.t-ran.1.1"}, State: mesos.TASK_FAILED.Enum(), Source: agent},    // it was launched
		{TaskID: mesos.TaskID{Value: "pod.t-live.1.1"}, State: mesos.TASK_RUNNING.Enum(), Source: master}, // live at the master
	} {
		if err := b.status(st); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]bool{"lost": false, "ran": true, "live": true, "offered": false} {
		if got := b.provisioning[types.UID("u-"+n)].exists; got != want {
			t.Errorf("%s: exists %v, want %v", n, got, want)
		}
	}

	src.pvs[ins["pv"].PersistenceID] = ourPV(t, ins["pv"])
	o := testOffer(disk(100), volumeResource(t, ins["offered"]))
	create := b.observe([]mesos.Offer{o}, func(string) bool { return false })
	var names []string
	for _, pv := range create {
		names = append(names, pv.Spec.ClaimRef.Name)
	}
	if strings.Join(sortedStrings(names), ",") != "live,offered,ran" {
		t.Errorf("PVs to create for %v, want live, offered, ran", names)
	}
	if _, ok := b.provisioning["u-lost"]; ok {
		t.Error("a launch never applied, its agent's offer without the volume: still provisioning")
	}
	if _, ok := b.provisioning["u-pv"]; ok {
		t.Error("a volume whose PV exists: still provisioning")
	}
	// A launch still live keeps its unproven volume whatever the offers say.
	b.launched("pod.t-wait.1.1", []VolumeIntent{testIntent("wait", "u-wait")}, false)
	b.observe([]mesos.Offer{o}, func(id string) bool { return id == "pod.t-wait.1.1" })
	if _, ok := b.provisioning["u-wait"]; !ok {
		t.Error("the volume of a live launch forgotten")
	}
	// A confirmed intent a new leader loads: the volume exists, whatever
	// the offers show (a task uses it) and whether its launch still runs.
	b.launched("pod.t-confirmed.1.1", []VolumeIntent{testIntent("confirmed", "u-confirmed")}, true)
	if pvs := b.observe([]mesos.Offer{o}, func(string) bool { return false }); !slices.ContainsFunc(pvs, func(pv *corev1.PersistentVolume) bool {
		return pv.Spec.ClaimRef.UID == "u-confirmed"
	}) {
		t.Error("the volume of a confirmed intent: no PV to create")
	}
}

func TestReclaimPlan(t *testing.T) {
	src := newFakeVolumes(testClaim("kept", "u-kept", "1Gi"))
	released, retained, deleted, kept := testIntent("released", "u-released"), testIntent("retained", "u-retained"), testIntent("deleted", "u-deleted"), testIntent("kept", "u-kept")
	for _, in := range []VolumeIntent{released, retained, deleted, kept} {
		pv := ourPV(t, in)
		switch in.Claim.Name {
		case "released":
			pv.Status.Phase = corev1.VolumeReleased
		case "retained":
			pv.Status.Phase = corev1.VolumeReleased
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		case "deleted":
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
			pv.DeletionTimestamp = &metav1.Time{}
		}
		src.pvs[pv.Name] = pv
	}
	orphan, bare, elsewhere := testIntent("orphan", "u-orphan"), testIntent("bare", "u-bare"), testIntent("kept", "u-kept")
	b := newVolumeBook(src)
	offer := testOffer(disk(10), volumeResource(t, released), volumeResource(t, retained), volumeResource(t, deleted),
		volumeResource(t, kept), volumeResource(t, orphan), reservedDisk(t, bare))
	// A second volume of claim kept on another agent: its PV names a1.
	other := testOffer(volumeResource(t, elsewhere))
	other.ID.Value, other.AgentID.Value = "o2", "a9"
	inUse := func(string, podtask.ClaimRef) bool { return false }

	accepts, release := b.reclaimPlan([]mesos.Offer{offer, other}, inUse)
	if len(release) != 0 {
		t.Errorf("released %v before any DESTROY", release)
	}
	if len(accepts) != 2 {
		t.Fatalf("accepts %+v, want one per offer", accepts)
	}
	destroyed := func(a reclaimAccept) (ids []string, unreserved int) {
		for _, op := range a.ops {
			for _, r := range op.GetDestroy().GetVolumes() {
				ids = append(ids, r.GetDisk().GetPersistence().GetID())
			}
			unreserved += len(op.GetUnreserve().GetResources())
			for _, r := range op.GetUnreserve().GetResources() {
				if r.Disk != nil {
					t.Errorf("UNRESERVE of a resource with disk info %v", r)
				}
			}
		}
		return sortedStrings(ids), unreserved
	}
	ids, unreserved := destroyed(accepts[0])
	want := sortedStrings([]string{released.PersistenceID, deleted.PersistenceID, orphan.PersistenceID})
	if strings.Join(ids, ",") != strings.Join(want, ",") || unreserved != 4 {
		t.Errorf("on a1: DESTROY %v and %d UNRESERVEs, want %v and 4 (the bare reservation too)", ids, unreserved, want)
	}
	if accepts[0].ops[0].GetType() != mesos.Offer_Operation_DESTROY {
		t.Error("UNRESERVE before DESTROY")
	}
	if ids, _ := destroyed(accepts[1]); len(ids) != 1 || ids[0] != elsewhere.PersistenceID {
		t.Errorf("on a9: DESTROY %v, want the claim's second volume", ids)
	}
	for _, a := range accepts {
		for _, k := range a.keys {
			b.reclaims[k].sent = true
		}
	}
	// The next offers of both agents show only what stays.
	next := testOffer(disk(2000), volumeResource(t, retained), volumeResource(t, kept))
	empty := testOffer(disk(100))
	empty.AgentID.Value = "a9"
	accepts, release = b.reclaimPlan([]mesos.Offer{next, empty}, inUse)
	if len(accepts) != 0 {
		t.Errorf("accepts %+v, want none", accepts)
	}
	if strings.Join(release, ",") != strings.Join(sortedStrings([]string{released.PersistenceID, deleted.PersistenceID}), ",") {
		t.Errorf("released %v, want the PVs of the destroyed volumes", release)
	}
	if len(b.reclaims) != 0 {
		t.Errorf("reclaims left: %v", b.reclaims)
	}

	// A released PV whose volume no offer carries because a task uses it.
	b = newVolumeBook(src)
	accepts, release = b.reclaimPlan([]mesos.Offer{testOffer(disk(10))}, func(_ string, c podtask.ClaimRef) bool { return c.UID == "u-released" })
	if len(accepts) != 0 || strings.Join(release, ",") != deleted.PersistenceID {
		t.Errorf("with the released claim in use: accepts %v, released %v, want only %s", accepts, release, deleted.PersistenceID)
	}
}

func TestIntentWithBadVolumeIsRefused(t *testing.T) {
	in := LaunchIntent{Pod: podtask.PodRef{Namespace: "ns", Name: "p", UID: "u1"}, TaskID: "pod.u1.1.1", AgentID: "a1"}
	in.Volumes = []VolumeIntent{testIntent("c", "u-c")}
	b, err := EncodeIntent(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeIntent(in.TaskID, b)
	if err != nil || len(back.Volumes) != 1 || back.Volumes[0] != in.Volumes[0] {
		t.Fatalf("round trip %+v %v", back, err)
	}
	for name, change := range map[string]func(*VolumeIntent){
		"another agent":     func(v *VolumeIntent) { v.AgentID = "a2" },
		"relative work_dir": func(v *VolumeIntent) { v.WorkDir = "var/lib/mesos" },
		"wrong id":          func(v *VolumeIntent) { v.PersistenceID = "pvc-other" },
		"no size":           func(v *VolumeIntent) { v.DiskMB = 0 },
		"unreserved role":   func(v *VolumeIntent) { v.Role = "*" },
		"no node":           func(v *VolumeIntent) { v.NodeName = "" },
	} {
		bad := in
		bad.Volumes = []VolumeIntent{testIntent("c", "u-c")}
		change(&bad.Volumes[0])
		if _, err := EncodeIntent(bad); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
