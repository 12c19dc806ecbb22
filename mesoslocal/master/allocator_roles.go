package master

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"k8s.io/klog/v2"
)

// roles are the roles fw is subscribed to: FrameworkInfo.roles for a
// MULTI_ROLE framework, else its role ("*" by default).
func (fw *framework) roles() []string { return frameworkRoles(&fw.info) }

func frameworkRoles(info *mesos.FrameworkInfo) []string {
	for _, c := range info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_MULTI_ROLE && len(info.GetRoles()) > 0 {
			return info.GetRoles()
		}
	}
	return []string{frameworkRole(info)}
}

func (fw *framework) hasCapability(t mesos.FrameworkInfo_Capability_Type) bool {
	for _, c := range fw.info.GetCapabilities() {
		if c.GetType() == t {
			return true
		}
	}
	return false
}

func (fw *framework) subscribedTo(role string) bool {
	for _, r := range fw.roles() {
		if r == role {
			return true
		}
	}
	return false
}

// setSuppressedRolesLocked replaces the suppressed roles (SUBSCRIBE and
// UPDATE_FRAMEWORK carry the full list).
func (m *Master) setSuppressedRolesLocked(fw *framework, roles []string) {
	fw.suppressedRoles = map[string]bool{}
	for _, r := range roles {
		if fw.subscribedTo(r) {
			fw.suppressedRoles[r] = true
		}
	}
}

// suppressLocked stops offers to fw for roles (all its roles when empty).
func (m *Master) suppressLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles()
	}
	if fw.suppressedRoles == nil {
		fw.suppressedRoles = map[string]bool{}
	}
	for _, r := range roles {
		fw.suppressedRoles[r] = true
	}
	klog.V(2).InfoS("Suppressed offers", "framework", fw.id, "roles", roles)
}

// reviveLocked resumes offers to fw for roles (all when empty) and clears
// its filters for those roles, as Mesos' REVIVE does.
func (m *Master) reviveLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles()
	}
	revived := map[string]bool{}
	for _, r := range roles {
		revived[r] = true
		delete(fw.suppressedRoles, r)
	}
	kept := fw.filters[:0]
	for _, f := range fw.filters {
		if f.role != "" && !revived[f.role] {
			kept = append(kept, f)
		}
	}
	fw.filters = kept
	m.maint.clearInverseFilters(fw.id)
	klog.V(2).InfoS("Revived offers", "framework", fw.id, "roles", roles)
}

// expireFiltersLocked drops filters past their refuse_seconds.
func (m *Master) expireFiltersLocked(now time.Time) {
	for _, fw := range m.frameworks {
		kept := fw.filters[:0]
		for _, f := range fw.filters {
			if f.until.After(now) {
				kept = append(kept, f)
			}
		}
		fw.filters = kept
	}
}
