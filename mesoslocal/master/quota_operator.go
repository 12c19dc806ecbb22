package master

import (
	"context"
	"net/http"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	opv1 "github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/quota"
	"github.com/mesos/mesos-go/api/v1/lib/roles"
	"k8s.io/klog/v2"

	"github.com/kubemesos/kubemesos/mesoslocal/internal/wire"
)

func init() {
	registerOperatorCall(opv1.Call_UPDATE_QUOTA, (*Master).updateQuota)
	registerOperatorCall(opv1.Call_SET_QUOTA, (*Master).setQuota)
	registerOperatorCall(opv1.Call_REMOVE_QUOTA, (*Master).removeQuota)
	registerOperatorCall(opv1.Call_GET_QUOTA, (*Master).getQuota)
	registerOperatorCall(opv1.Call_UPDATE_WEIGHTS, (*Master).updateWeights)
	registerOperatorCall(opv1.Call_GET_WEIGHTS, (*Master).getWeights)
}

// updateQuota is UPDATE_QUOTA: every config is validated first; then all
// are applied at once. A config with no guarantees and no limits resets the
// role to the default quota (none).
func (m *Master) updateQuota(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	u := call.GetUpdateQuota()
	if u == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'update_quota' to be present")
	}
	parsed := map[string]Quota{}
	for _, c := range u.QuotaConfigs {
		q, err := quotaFromConfig(c)
		if err != nil {
			return nil, wire.Errorf(http.StatusBadRequest, "%v", err)
		}
		parsed[c.Role] = q
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for role, q := range parsed {
		if len(q.Guarantees) == 0 && len(q.Limits) == 0 {
			delete(m.roleCfg.quotas, role)
		} else {
			m.roleCfg.quotas[role] = q
		}
		klog.InfoS("Updated quota", "role", role, "guarantees", q.Guarantees, "limits", q.Limits)
	}
	return nil, nil
}

// setQuota is the deprecated SET_QUOTA: the guarantee becomes both the
// guarantee and the limit, as Mesos 1.12 does; a role with quota already
// is a 400.
func (m *Master) setQuota(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	s := call.GetSetQuota()
	if s == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'set_quota' to be present")
	}
	req := s.QuotaRequest
	c := quota.QuotaConfig{Role: req.GetRole(), Guarantees: map[string]mesos.Value_Scalar{}, Limits: map[string]mesos.Value_Scalar{}}
	for _, r := range req.Guarantee {
		if r.GetType() != mesos.SCALAR {
			return nil, wire.Errorf(http.StatusBadRequest, "Invalid QuotaRequest: only scalar resources can have quota")
		}
		v := c.Guarantees[r.Name]
		v.Value += r.GetScalar().GetValue()
		c.Guarantees[r.Name] = v
		c.Limits[r.Name] = v
	}
	q, err := quotaFromConfig(c)
	if err != nil {
		return nil, wire.Errorf(http.StatusBadRequest, "%v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roleCfg.quotas[c.Role]; ok {
		return nil, wire.Errorf(http.StatusBadRequest, "Failed to validate set quota request: Quota cannot be set for a role that already has quota")
	}
	m.roleCfg.quotas[c.Role] = q
	return nil, nil
}

func (m *Master) removeQuota(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	r := call.GetRemoveQuota()
	if r == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'remove_quota' to be present")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roleCfg.quotas[r.Role]; !ok {
		return nil, wire.Errorf(http.StatusBadRequest, "Failed to validate remove quota request for role '%s': Quota does not exist", r.Role)
	}
	delete(m.roleCfg.quotas, r.Role)
	return nil, nil
}

func (m *Master) getQuota(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := quota.QuotaStatus{}
	for _, role := range m.roleCfg.quotaRoles() {
		q := m.roleCfg.quotas[role]
		st.Configs = append(st.Configs, quotaConfig(role, q))
		st.Infos = append(st.Infos, quota.QuotaInfo{Role: ptr(role), Guarantee: scalarResources(q.Guarantees)})
	}
	return &opv1.Response{Type: opv1.Response_GET_QUOTA, GetQuota: &opv1.Response_GetQuota{Status: st}}, nil
}

// updateWeights is UPDATE_WEIGHTS: all weights are validated, then set.
func (m *Master) updateWeights(_ context.Context, call *opv1.Call) (*opv1.Response, error) {
	u := call.GetUpdateWeights()
	if u == nil {
		return nil, wire.Errorf(http.StatusBadRequest, "Expecting 'update_weights' to be present")
	}
	for _, w := range u.WeightInfos {
		if err := roles.Validate(w.GetRole()); err != nil || w.GetRole() == "" {
			return nil, wire.Errorf(http.StatusBadRequest, "Invalid role '%s'", w.GetRole())
		}
		if w.Weight <= 0 {
			return nil, wire.Errorf(http.StatusBadRequest, "Invalid weight '%g': Weights must be positive", w.Weight)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range u.WeightInfos {
		m.roleCfg.weights[w.GetRole()] = w.Weight
		klog.InfoS("Updated weight", "role", w.GetRole(), "weight", w.Weight)
	}
	return nil, nil
}

func (m *Master) getWeights(context.Context, *opv1.Call) (*opv1.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.roleCfg.weights))
	for r := range m.roleCfg.weights {
		names = append(names, r)
	}
	sort.Strings(names)
	out := make([]mesos.WeightInfo, 0, len(names))
	for _, r := range names {
		out = append(out, mesos.WeightInfo{Role: ptr(r), Weight: m.roleCfg.weights[r]})
	}
	return &opv1.Response{Type: opv1.Response_GET_WEIGHTS, GetWeights: &opv1.Response_GetWeights{WeightInfos: out}}, nil
}
