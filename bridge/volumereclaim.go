package bridge

import (
	"context"
	"slices"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/offermatcher"
	"github.com/kubemesos/kubemesos/podtask"
)

// Reclaim. A volume of kubemesos goes when its PV is released under the
// Delete policy (its claim was deleted) or deleted (by hand, under
// Retain; the finalizer podtask.FinalizerVolume holds it), and when it is
// an orphan: its claim UID has neither claim, PV nor volume intent, or its
// PV names another agent (a second volume of one claim). A reserved disk
// labelled for a claim without a volume (a RESERVE whose CREATE Mesos
// dropped) holds no data and is always given back. Mesos offers a volume
// only while no task uses it, so the DESTROY and UNRESERVE go, in one
// ACCEPT, on an offer that carries it; once no held offer of its agent
// carries it any more (after that ACCEPT, or when no task of a pod with
// its claim runs there), it is gone and the PV is let go (deleted, its
// finalizer removed).

// reclaimKey is a claim's volume on one agent.
type reclaimKey struct {
	claim types.UID
	agent string
}

// reclaim is a volume (or labelled reservation) being destroyed.
type reclaim struct {
	claim podtask.ClaimRef
	// pv is the PV to let go once the volume is gone; "" for an orphan.
	pv string
	// sent: a DESTROY/UNRESERVE of it was accepted; revived: a REVIVE was
	// sent for it.
	sent, revived bool
}

// reclaimAccept is one ACCEPT of the reclaim: DESTROY and UNRESERVE on an
// offer, for the reclaims keys.
type reclaimAccept struct {
	offer mesos.OfferID
	ops   []mesos.Offer_Operation
	keys  []reclaimKey
}

// reclaimPlan decides the reclaim for the held offers: which volumes and
// reservations to destroy and unreserve (one ACCEPT per offer that carries
// some) and which PVs to let go because their volume is gone. inUse
// reports whether a live task on an agent belongs to a pod that mounts the
// claim.
func (b *volumeBook) reclaimPlan(offers []mesos.Offer, inUse func(agent string, claim podtask.ClaimRef) bool) ([]reclaimAccept, []string) {
	if b == nil {
		return nil, nil
	}
	b.findReclaims(offers)
	byAgent := map[string][]offered{}
	var accepts []reclaimAccept
	for i := range offers {
		o := &offers[i]
		seen := offeredVolumes(o)
		byAgent[o.AgentID.Value] = append(byAgent[o.AgentID.Value], seen)
		var destroy, unreserve []mesos.Resource
		var keys []reclaimKey
		for _, uid := range sortedUIDs(seen.volumes, seen.reservations) {
			k := reclaimKey{uid, o.AgentID.Value}
			if b.reclaims[k] == nil {
				continue
			}
			if r, ok := seen.volumes[uid]; ok {
				destroy = append(destroy, r)
				unreserve = append(unreserve, diskOfVolume(r))
			}
			if r, ok := seen.reservations[uid]; ok {
				unreserve = append(unreserve, r)
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			continue
		}
		var ops []mesos.Offer_Operation
		if len(destroy) > 0 {
			ops = append(ops, calls.OpDestroy(destroy...))
		}
		accepts = append(accepts, reclaimAccept{offer: o.ID, ops: append(ops, calls.OpUnreserve(unreserve...)), keys: keys})
	}
	var release []string
	for k, rc := range b.reclaims {
		held, ok := byAgent[k.agent]
		if !ok || slices.ContainsFunc(held, func(o offered) bool { return has(o.volumes, k.claim) || has(o.reservations, k.claim) }) {
			continue // no news of the agent, or still there
		}
		if !rc.sent && inUse(k.agent, rc.claim) {
			continue // not offered because a task uses it
		}
		if rc.pv != "" {
			release = append(release, rc.pv)
		}
		delete(b.reclaims, k)
	}
	slices.Sort(release)
	return accepts, release
}

// findReclaims adds the volumes to reclaim: those of released (Delete) or
// deleted PVs of kubemesos, and the orphans and bare reservations the
// offers show.
func (b *volumeBook) findReclaims(offers []mesos.Offer) {
	for _, pv := range b.src.Volumes() {
		_, agent, _, ours := isOurVolume(pv)
		if !ours || !slices.Contains(pv.Finalizers, podtask.FinalizerVolume) {
			continue
		}
		released := pv.Status.Phase == corev1.VolumeReleased && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete
		if pv.DeletionTimestamp == nil && !released {
			continue
		}
		c := claimOfPV(pv)
		k := reclaimKey{c.UID, agent}
		if b.reclaims[k] == nil {
			b.reclaims[k] = &reclaim{claim: c, pv: pv.Name}
		}
	}
	for i := range offers {
		o := &offers[i]
		seen := offeredVolumes(o)
		for _, r := range seen.volumes {
			if c, _ := podtask.ClaimOfResource(&r); b.orphan(c, o.AgentID.Value) {
				b.addOrphan(c, o.AgentID.Value)
			}
		}
		for _, r := range seen.reservations {
			c, _ := podtask.ClaimOfResource(&r)
			b.addOrphan(c, o.AgentID.Value)
		}
	}
}

func (b *volumeBook) addOrphan(c podtask.ClaimRef, agent string) {
	k := reclaimKey{c.UID, agent}
	if b.reclaims[k] == nil {
		b.reclaims[k] = &reclaim{claim: c}
	}
}

// orphan reports whether the volume of claim c on agent is nobody's: its
// PV names another agent, or it has no PV, no claim of that UID and no
// volume intent.
func (b *volumeBook) orphan(c podtask.ClaimRef, agent string) bool {
	if pv, ok := b.src.Volume(podtask.PVName(c.UID)); ok {
		_, at, _, ours := isOurVolume(pv)
		return ours && at != agent
	}
	if p, ok := b.provisioning[c.UID]; ok {
		return p.AgentID != agent
	}
	pvc, ok := b.src.Claim(c.Namespace, c.Name)
	return !ok || pvc.UID != c.UID
}

// claimOfPV is the claim a PV of kubemesos was made for: its claimRef, or
// the UID in its name when the reference is gone.
func claimOfPV(pv *corev1.PersistentVolume) podtask.ClaimRef {
	if r := pv.Spec.ClaimRef; r != nil && r.UID != "" {
		return podtask.ClaimRef{Namespace: r.Namespace, Name: r.Name, UID: r.UID}
	}
	return podtask.ClaimRef{UID: types.UID(strings.TrimPrefix(pv.Name, "pvc-"))}
}

// diskOfVolume is the reserved disk a volume turns back into on DESTROY:
// the same resource without its persistence and volume (Mesos keeps only a
// disk source, which the bridge's volumes have none of).
func diskOfVolume(r mesos.Resource) mesos.Resource {
	if src := r.GetDisk().GetSource(); src != nil {
		r.Disk = &mesos.Resource_DiskInfo{Source: src}
	} else {
		r.Disk = nil
	}
	return r
}

func has(m map[types.UID]mesos.Resource, uid types.UID) bool { _, ok := m[uid]; return ok }

// sortedUIDs are the keys of the maps, each once, sorted (deterministic
// operations).
func sortedUIDs(ms ...map[types.UID]mesos.Resource) []types.UID {
	var out []types.UID
	for _, m := range ms {
		for uid := range m {
			if !slices.Contains(out, uid) {
				out = append(out, uid)
			}
		}
	}
	slices.Sort(out)
	return out
}

// reclaimVolumes is the volumes' part of a cycle: it learns the work_dirs
// a pending claim may need (volumeworkdir.go), settles the volumes
// being provisioned against the held offers (queuing the PVs of those
// that exist), then sends the reclaim's ACCEPTs and lets go the PVs of
// volumes that are gone. Offers it uses leave the book.
func (s *Scheduler) reclaimVolumes(ctx context.Context) {
	if s.volumes == nil {
		return
	}
	log := klog.FromContext(ctx)
	s.askWorkDirs(ctx, s.needsVolume())
	held := s.offers.All()
	for _, pv := range s.volumes.observe(held, s.launchLive) {
		s.report.CreateVolume(pv)
	}
	accepts, release := s.volumes.reclaimPlan(held, s.claimInUse)
	for _, name := range release {
		log.Info("Volume destroyed; releasing its PV", "pv", name)
		s.report.ReleaseVolume(name)
	}
	s.reviveForReclaims(ctx, held)
	for _, a := range accepts {
		s.offers.Remove(a.offer.Value)
		accept := calls.Accept(calls.OfferOperations(a.ops).WithOffers(a.offer)).With(calls.RefuseSeconds(0))
		if err := s.fw.call(ctx, accept); err != nil {
			log.Error(err, "Destroy volumes", "offer", a.offer.Value)
			s.decline(ctx, []string{a.offer.Value}, 0)
			continue
		}
		for _, k := range a.keys {
			s.volumes.reclaims[k].sent = true
			log.Info("Destroying volume and unreserving its disk", "claim", s.volumes.reclaims[k].claim.String(), "claimUID", k.claim, "agent", k.agent)
		}
	}
}

// reviveForReclaims sends one REVIVE (within ReviveEvery) for reclaims
// whose agent has no held offer: with no pod pending the bridge declines
// every offer with the idle filter, which would hold the volume's offer
// back that long. Each reclaim revives once at most, so an agent that
// never offers again costs one REVIVE.
func (s *Scheduler) reviveForReclaims(ctx context.Context, held []mesos.Offer) {
	offered := map[string]bool{}
	for _, o := range held {
		offered[o.AgentID.Value] = true
	}
	var want []*reclaim
	for k, rc := range s.volumes.reclaims {
		if !rc.sent && !rc.revived && !offered[k.agent] {
			want = append(want, rc)
		}
	}
	now := s.now()
	if len(want) == 0 || now.Sub(s.lastRevive) < s.policy.ReviveEvery {
		return
	}
	s.revive(ctx, now)
	if s.lastRevive == now { // sent
		for _, rc := range want {
			rc.revived = true
		}
	}
}

// launchLive reports whether the task of a launch is in the registry and
// not ended.
func (s *Scheduler) launchLive(taskID string) bool {
	uid, ok := podtask.UIDFromTaskID(taskID)
	if !ok {
		return false
	}
	t, ok := s.tasks.Get(uid)
	return ok && t.TaskID == taskID && !t.Terminal()
}

// claimInUse reports whether a live task on agent belongs to a pod that
// mounts claim (or to a pod the bridge no longer sees, which may).
func (s *Scheduler) claimInUse(agent string, claim podtask.ClaimRef) bool {
	used := false
	s.tasks.Each(func(t *PodTask) {
		if used || t.AgentID != agent || t.Terminal() {
			return
		}
		pod, ok := s.pods.Get(t.Pod.UID)
		used = !ok || (pod.Namespace == claim.Namespace && slices.Contains(offermatcher.ClaimNames(pod), claim.Name))
	})
	return used
}
