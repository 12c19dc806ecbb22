package resources

import mesos "github.com/mesos/mesos-go/api/v1/lib"

// RevocableSuffix marks revocable resources in state JSON, as Mesos'
// json(Resources) does ("cpus_revocable").
const RevocableSuffix = "_revocable"

// Revocable returns the revocable resources of rs (Resource.revocable set):
// oversubscribed resources the agent's resource estimator reported.
func Revocable(rs []mesos.Resource) mesos.Resources {
	return filter(rs, true)
}

// NonRevocable returns the resources of rs that are not revocable.
func NonRevocable(rs []mesos.Resource) mesos.Resources {
	return filter(rs, false)
}

func filter(rs []mesos.Resource, revocable bool) mesos.Resources {
	var out mesos.Resources
	for i := range rs {
		if rs[i].IsRevocable() == revocable {
			out = append(out, rs[i])
		}
	}
	return out
}

// MakeRevocable returns a copy of rs with every resource marked revocable,
// as Mesos' resource estimators mark what they report.
func MakeRevocable(rs []mesos.Resource) mesos.Resources {
	out := mesos.Resources(rs).Clone()
	for i := range out {
		out[i].Revocable = &mesos.Resource_RevocableInfo{}
	}
	return out
}
