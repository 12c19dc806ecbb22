package podtask

import (
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Agent is what both sides know of a Mesos agent before its Node exists: the
// bridge from each offer, the executor from the AgentInfo of its SUBSCRIBED
// event. Mesos fills both from the agent's --hostname, --attributes and
// --domain, so the two agree.
type Agent struct {
	Hostname   string
	Attributes []mesos.Attribute
	Domain     *mesos.DomainInfo
}

// AgentOfOffer is the agent an offer comes from.
func AgentOfOffer(o *mesos.Offer) Agent {
	return Agent{Hostname: o.GetHostname(), Attributes: o.Attributes, Domain: o.GetDomain()}
}

// AgentOfInfo is the agent of an executor's AgentInfo.
func AgentOfInfo(a *mesos.AgentInfo) Agent {
	return Agent{Hostname: a.GetHostname(), Attributes: a.Attributes, Domain: a.GetDomain()}
}

// NodeName is the name of the Node of an agent with this hostname: the
// hostname trimmed and lowercased, as the kubelet canonicalizes its
// --hostname-override. Empty for an empty hostname.
func NodeName(hostname string) string { return strings.ToLower(strings.TrimSpace(hostname)) }
