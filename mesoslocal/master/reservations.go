package master

import (
	"fmt"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/roles"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/link"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/mesosid"
	"github.com/kubemesos/kubemesos/mesoslocal/internal/resources"
)

// Reservations and persistent volumes. Resources are kept in the
// "post-reservation-refinement" format (a stack of ReservationInfo in
// Resource.reservations), as the Mesos master does internally; frameworks
// without the RESERVATION_REFINEMENT capability send and receive the older
// format (Resource.role plus Resource.reservation), converted at the edge
// as by Mesos' upgradeResources/downgradeResources.

// upgradeResources converts rs to the refinement format, dropping
// allocation info.
func upgradeResources(rs []mesos.Resource) mesos.Resources {
	out := make(mesos.Resources, 0, len(rs))
	for _, r := range mesos.Resources(rs).Clone() {
		r.AllocationInfo = nil
		if len(r.Reservations) == 0 && r.Role != nil && r.GetRole() != "*" {
			ri := mesos.Resource_ReservationInfo{Role: r.Role, Type: mesos.Resource_ReservationInfo_STATIC.Enum()}
			if old := r.Reservation; old != nil {
				ri.Type = mesos.Resource_ReservationInfo_DYNAMIC.Enum()
				ri.Principal = old.Principal
				ri.Labels = old.Labels
			}
			r.Reservations = []mesos.Resource_ReservationInfo{ri}
		}
		r.Role = nil
		r.Reservation = nil
		out = append(out, r)
	}
	return out
}

// downgradeResources converts rs to the pre-refinement format for a
// framework without RESERVATION_REFINEMENT (Mesos only offers such a
// framework resources with at most one reservation).
func downgradeResources(rs []mesos.Resource) mesos.Resources {
	out := mesos.Resources(rs).Clone()
	for i := range out {
		r := &out[i]
		if len(r.Reservations) == 0 {
			r.Role = ptr("*")
			continue
		}
		last := r.Reservations[len(r.Reservations)-1]
		r.Role = ptr(last.GetRole())
		if last.GetType() == mesos.Resource_ReservationInfo_DYNAMIC {
			r.Reservation = &mesos.Resource_ReservationInfo{Principal: last.Principal, Labels: last.Labels}
		}
		r.Reservations = nil
	}
	return out
}

// upgradeTaskInfo converts the resources of a task and its executor.
func upgradeTaskInfo(ti *mesos.TaskInfo) {
	ti.Resources = upgradeResources(ti.Resources)
	if ti.Executor != nil {
		ei := *ti.Executor
		ei.Resources = upgradeResources(ei.Resources)
		ti.Executor = &ei
	}
}

// applyOperationLocked runs a RESERVE, UNRESERVE, CREATE or DESTROY of an
// ACCEPT against the offered pool and the agent's total resources. An
// invalid operation changes nothing and is dropped, as in Mesos.
func (m *Master) applyOperationLocked(fw *framework, a *agent, role string, pool *mesos.Resources, op mesos.Offer_Operation) error {
	var consumed, converted mesos.Resources
	var err error
	switch op.GetType() {
	case mesos.Offer_Operation_RESERVE:
		consumed, converted, err = m.validateReserve(fw, role, op.GetReserve().GetResources())
	case mesos.Offer_Operation_UNRESERVE:
		consumed, converted, err = m.validateUnreserve(fw, role, op.GetUnreserve().GetResources())
	case mesos.Offer_Operation_CREATE:
		consumed, converted, err = m.validateCreate(a, role, op.GetCreate().GetVolumes())
	case mesos.Offer_Operation_DESTROY:
		consumed, converted, err = m.validateDestroy(op.GetDestroy().GetVolumes())
	default:
		err = fmt.Errorf("operation %s is not supported", op.GetType())
	}
	if err == nil && !resources.Contains(*pool, consumed) {
		err = fmt.Errorf("Invalid %s operation: %s does not contain %s", op.GetType(), *pool, consumed)
	}
	if err != nil {
		return err
	}
	p := pool.Clone()
	p.Subtract(consumed...)
	p.Add(converted...)
	*pool = p
	total := a.total.Clone()
	total.Subtract(consumed...)
	total.Add(converted...)
	a.total = total
	klog.InfoS("Applied offer operation", "framework", fw.id, "agent", a.id, "type", op.GetType(), "resources", converted.String())
	if a.box != nil {
		// The agent checkpoints its own resources; revocable ones come
		// from its estimator.
		cmd := link.Command{Type: link.CmdCheckpointResources}
		own := resources.NonRevocable(total)
		for i := range own {
			cmd.Resources = append(cmd.Resources, link.Marshal(&own[i]))
		}
		a.box.Push(cmd)
	}
	return nil
}

func (m *Master) validateReserve(fw *framework, role string, in []mesos.Resource) (consumed, converted mesos.Resources, err error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("Invalid RESERVE operation: no resources")
	}
	rs := upgradeResources(in)
	if err := resources.Validate(rs); err != nil {
		return nil, nil, fmt.Errorf("Invalid RESERVE operation: %w", err)
	}
	for i := range rs {
		r := &rs[i]
		if len(r.Reservations) == 0 {
			return nil, nil, fmt.Errorf("Invalid RESERVE operation: resource %s is not reserved", r.Name)
		}
		if r.IsRevocable() {
			return nil, nil, fmt.Errorf("Invalid RESERVE operation: Invalid ReservationInfo: Dynamically reserved resource %s cannot be created from revocable resources", mesos.Resources{*r})
		}
		last := r.Reservations[len(r.Reservations)-1]
		if last.GetType() != mesos.Resource_ReservationInfo_DYNAMIC {
			return nil, nil, fmt.Errorf("Invalid RESERVE operation: resource %s is not dynamically reserved", r.Name)
		}
		if last.GetRole() != role {
			return nil, nil, fmt.Errorf("Invalid reservation: role '%s' does not match allocation role '%s'", last.GetRole(), role)
		}
		if err := roles.Validate(last.GetRole()); err != nil || last.GetRole() == "*" {
			return nil, nil, fmt.Errorf("Invalid reservation: invalid role '%s'", last.GetRole())
		}
		if p := fw.info.GetPrincipal(); last.Principal != nil && last.GetPrincipal() != p {
			return nil, nil, fmt.Errorf("A reserve operation was attempted by principal '%s', which does not match the reservation principal '%s'", p, last.GetPrincipal())
		}
		if r.IsPersistentVolume() {
			return nil, nil, fmt.Errorf("Invalid RESERVE operation: a persistent volume cannot be reserved")
		}
		if n := len(r.Reservations); n > 1 {
			if !fw.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
				return nil, nil, fmt.Errorf("Invalid RESERVE operation: refined reservations need the RESERVATION_REFINEMENT capability")
			}
			if prev := r.Reservations[n-2].GetRole(); !roles.IsStrictSubroleOf(last.GetRole(), prev) {
				return nil, nil, fmt.Errorf("Invalid RESERVE operation: role '%s' is not a sub-role of '%s'", last.GetRole(), prev)
			}
		}
	}
	return rs.PopReservation(), rs, nil
}

func (m *Master) validateUnreserve(fw *framework, role string, in []mesos.Resource) (consumed, converted mesos.Resources, err error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("Invalid UNRESERVE operation: no resources")
	}
	rs := upgradeResources(in)
	if err := resources.Validate(rs); err != nil {
		return nil, nil, fmt.Errorf("Invalid UNRESERVE operation: %w", err)
	}
	for i := range rs {
		r := &rs[i]
		if !r.IsDynamicallyReserved() {
			return nil, nil, fmt.Errorf("Invalid UNRESERVE operation: resource %s is not dynamically reserved", r.Name)
		}
		if r.IsPersistentVolume() {
			return nil, nil, fmt.Errorf("Invalid UNRESERVE operation: a persistent volume cannot be unreserved, destroy it first")
		}
		if !r.IsAllocatableTo(role) {
			return nil, nil, fmt.Errorf("Invalid UNRESERVE operation: resource %s is reserved for role '%s', not '%s'", r.Name, r.ReservationRole(), role)
		}
	}
	return rs, rs.PopReservation(), nil
}

func (m *Master) validateCreate(a *agent, role string, in []mesos.Resource) (consumed, converted mesos.Resources, err error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("Invalid CREATE operation: no volumes")
	}
	vols := upgradeResources(in)
	if err := resources.Validate(vols); err != nil {
		return nil, nil, fmt.Errorf("Invalid CREATE operation: %w", err)
	}
	ids := map[string]bool{}
	for i := range a.total {
		if a.total[i].IsPersistentVolume() {
			ids[a.total[i].ReservationRole()+"/"+a.total[i].GetDisk().GetPersistence().GetID()] = true
		}
	}
	for i := range vols {
		v := &vols[i]
		if v.IsRevocable() && v.GetDisk().GetPersistence() != nil {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: Invalid DiskInfo: Persistent volumes cannot be created from revocable resources")
		}
		if !v.IsPersistentVolume() || v.GetDisk().GetPersistence().GetID() == "" {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: resource %s is not a persistent volume", v.Name)
		}
		if err := mesosid.Validate(v.GetDisk().GetPersistence().GetID()); err != nil {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: Invalid persistence ID for persistent volume: %w", err)
		}
		if v.GetDisk().GetVolume() == nil || v.GetDisk().GetVolume().GetContainerPath() == "" {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: persistent volume %s has no volume with a container path", v.GetDisk().GetPersistence().GetID())
		}
		if v.IsUnreserved() {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: persistent volumes cannot be created from unreserved resources")
		}
		if !v.IsAllocatableTo(role) {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: volume reserved for role '%s' is not allocatable to '%s'", v.ReservationRole(), role)
		}
		key := v.ReservationRole() + "/" + v.GetDisk().GetPersistence().GetID()
		if ids[key] {
			return nil, nil, fmt.Errorf("Invalid CREATE operation: persistence ID '%s' is already in use", v.GetDisk().GetPersistence().GetID())
		}
		ids[key] = true
	}
	return stripVolumes(vols), vols, nil
}

func (m *Master) validateDestroy(in []mesos.Resource) (consumed, converted mesos.Resources, err error) {
	if len(in) == 0 {
		return nil, nil, fmt.Errorf("Invalid DESTROY operation: no volumes")
	}
	vols := upgradeResources(in)
	for i := range vols {
		if !vols[i].IsPersistentVolume() {
			return nil, nil, fmt.Errorf("Invalid DESTROY operation: resource %s is not a persistent volume", vols[i].Name)
		}
	}
	return vols, stripVolumes(vols), nil
}

// stripVolumes turns persistent volumes back into the disk they were made
// of (keeping a disk source, if any).
func stripVolumes(vols mesos.Resources) mesos.Resources {
	var out mesos.Resources
	for _, v := range vols.Clone() {
		if src := v.GetDisk().GetSource(); src != nil {
			v.Disk = &mesos.Resource_DiskInfo{Source: src}
		} else {
			v.Disk = nil
		}
		out.Add1(v)
	}
	return out
}

// reservedByRole splits the reserved resources of rs by reservation role.
func reservedByRole(rs mesos.Resources) map[string]mesos.Resources {
	out := map[string]mesos.Resources{}
	for i := range rs {
		if !rs[i].IsUnreserved() {
			role := rs[i].ReservationRole()
			cur := out[role]
			cur.Add1(rs[i])
			out[role] = cur
		}
	}
	return out
}

func unreserved(rs mesos.Resources) mesos.Resources {
	var out mesos.Resources
	for i := range rs {
		if rs[i].IsUnreserved() {
			out.Add1(rs[i])
		}
	}
	return out
}

// ReservedStateJSON renders the reservations of rs for /master/state:
// "reserved_resources" (role → quantities) and "reserved_resources_full"
// (role → resource objects with reservations and volumes).
func reservedStateJSON(rs mesos.Resources) (byRole map[string]any, full map[string]any) {
	byRole, full = map[string]any{}, map[string]any{}
	res := reservedByRole(rs)
	roleNames := make([]string, 0, len(res))
	for r := range res {
		roleNames = append(roleNames, r)
	}
	sort.Strings(roleNames)
	for _, role := range roleNames {
		byRole[role] = resources.StateJSON(res[role])
		var list []map[string]any
		for _, r := range res[role] {
			list = append(list, resourceJSON(r))
		}
		full[role] = list
	}
	return byRole, full
}

// resourceJSON is the JSON form of one Resource in Mesos' state endpoints.
func resourceJSON(r mesos.Resource) map[string]any {
	out := map[string]any{"name": r.Name, "type": r.GetType().String()}
	switch r.GetType() {
	case mesos.SCALAR:
		out["scalar"] = map[string]any{"value": r.GetScalar().GetValue()}
	case mesos.RANGES:
		var rgs []map[string]any
		for _, rg := range r.GetRanges().GetRange() {
			rgs = append(rgs, map[string]any{"begin": rg.Begin, "end": rg.End})
		}
		out["ranges"] = map[string]any{"range": rgs}
	case mesos.SET:
		out["set"] = map[string]any{"item": r.GetSet().GetItem()}
	}
	var resv []map[string]any
	for _, ri := range r.Reservations {
		e := map[string]any{"type": ri.GetType().String(), "role": ri.GetRole()}
		if ri.Principal != nil {
			e["principal"] = ri.GetPrincipal()
		}
		if ri.Labels != nil {
			var ls []map[string]string
			for _, l := range ri.Labels.Labels {
				ls = append(ls, map[string]string{"key": l.Key, "value": l.GetValue()})
			}
			e["labels"] = map[string]any{"labels": ls}
		}
		resv = append(resv, e)
	}
	if resv != nil {
		out["reservations"] = resv
	}
	if d := r.GetDisk(); d != nil && d.GetPersistence() != nil {
		disk := map[string]any{"persistence": map[string]any{"id": d.GetPersistence().GetID(), "principal": d.GetPersistence().GetPrincipal()}}
		if v := d.GetVolume(); v != nil {
			disk["volume"] = map[string]any{"container_path": v.GetContainerPath(), "mode": v.GetMode().String()}
		}
		out["disk"] = disk
	}
	return out
}
