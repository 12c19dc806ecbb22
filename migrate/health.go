package migrate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Marathon's health check defaults.
const (
	defaultGraceSeconds    = 300
	defaultIntervalSeconds = 60
	defaultTimeoutSeconds  = 20
	defaultMaxFailures     = 3
	defaultDelaySeconds    = 15
)

// check is a health check reduced to what it probes, with its timings.
type check struct {
	handler                           corev1.ProbeHandler
	grace, interval, timeout, maxFail int32
}

// probes turns a check into a liveness probe with the same timings, and a
// startup probe covering the grace period: Marathon ignores failures until
// the first success or gracePeriodSeconds, which is what a startup probe
// with failureThreshold ceil(grace/interval) does.
func (k check) probes() (liveness, startup *corev1.Probe) {
	liveness = &corev1.Probe{ProbeHandler: k.handler, PeriodSeconds: k.interval, TimeoutSeconds: k.timeout, FailureThreshold: k.maxFail}
	if k.grace > 0 {
		n := (k.grace + k.interval - 1) / k.interval
		startup = &corev1.Probe{ProbeHandler: k.handler, PeriodSeconds: k.interval, TimeoutSeconds: k.timeout, FailureThreshold: max(n, 1)}
	}
	return liveness, startup
}

// healthChecks converts an app's health checks: the first is the liveness
// (and startup) probe of its container; a container has one.
func healthChecks(r *Report, a *App, ports []resolvedPort, c *corev1.Container) {
	for i, h := range a.HealthChecks {
		f := fmt.Sprintf("healthChecks[%d]", i)
		if i > 0 {
			r.not(f, "a container has one liveness probe; healthChecks[0] is it")
			continue
		}
		proto := h.Protocol
		if proto == "" {
			proto = "HTTP"
		}
		k := check{
			grace: or32(h.GracePeriodSeconds, defaultGraceSeconds), interval: or32(h.IntervalSeconds, defaultIntervalSeconds),
			timeout: or32(h.TimeoutSeconds, defaultTimeoutSeconds), maxFail: or32(h.MaxConsecutiveFailures, defaultMaxFailures),
		}
		var port intstr.IntOrString
		if proto != "COMMAND" {
			if h.Port != nil {
				port = intstr.FromInt32(int32(*h.Port))
			} else {
				idx := 0
				if h.PortIndex != nil {
					idx = *h.PortIndex
				}
				port = intstr.FromInt32(ports[idx].port)
				if ports[idx].portName != "" {
					port = intstr.FromString(ports[idx].portName)
				}
			}
		}
		switch proto {
		case "HTTP", "MESOS_HTTP", "HTTPS", "MESOS_HTTPS":
			scheme := corev1.URISchemeHTTP
			if proto == "HTTPS" || proto == "MESOS_HTTPS" {
				scheme = corev1.URISchemeHTTPS
			}
			path := h.Path
			if path == "" {
				path = "/"
			}
			k.handler.HTTPGet = &corev1.HTTPGetAction{Path: path, Port: port, Scheme: scheme}
		case "TCP", "MESOS_TCP":
			k.handler.TCPSocket = &corev1.TCPSocketAction{Port: port}
		case "COMMAND":
			k.handler.Exec = &corev1.ExecAction{Command: shellCommand(h.Command.Value)}
		}
		if k.maxFail == 0 {
			// 0: Marathon never kills the task for failing; it only reports it.
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: k.handler, PeriodSeconds: k.interval, TimeoutSeconds: k.timeout, FailureThreshold: 1}
			r.approx(f, "%s with maxConsecutiveFailures 0 (never kill): a readiness probe every %ds, no liveness probe", proto, k.interval)
			continue
		}
		c.LivenessProbe, c.StartupProbe = k.probes()
		detail := fmt.Sprintf("%s: liveness probe every %ds, timeout %ds, %d failures", proto, k.interval, k.timeout, k.maxFail)
		if c.StartupProbe != nil {
			detail += fmt.Sprintf("; grace %ds as a startup probe of %d tries", k.grace, c.StartupProbe.FailureThreshold)
		}
		switch {
		case proto == "HTTP" || proto == "HTTPS" || proto == "TCP":
			r.approx(f, "%s; the kubelet probes the pod on its node, where Marathon probed from its own host", detail)
		case h.DelaySeconds != nil:
			c.LivenessProbe.InitialDelaySeconds = *h.DelaySeconds
			if c.StartupProbe != nil {
				c.StartupProbe.InitialDelaySeconds = *h.DelaySeconds
			}
			r.converted(f, "%s, first after delaySeconds %d", detail, *h.DelaySeconds)
		default:
			r.converted(f, "%s", detail)
		}
		if h.IgnoreHTTP1xx != nil && *h.IgnoreHTTP1xx {
			r.approx(f+".ignoreHttp1xx", "the kubelet counts 1xx as failures")
		}
		if h.IPProtocol == "IPv6" {
			r.approx(f+".ipProtocol", "IPv6: the kubelet probes the pod's primary IP")
		}
	}
}

// readinessChecks converts the first readiness check into a readiness
// probe on the named port.
func readinessChecks(r *Report, a *App, ports []resolvedPort, c *corev1.Container) {
	for i, rc := range a.ReadinessChecks {
		f := fmt.Sprintf("readinessChecks[%d]", i)
		if i > 0 || c.ReadinessProbe != nil {
			r.not(f, "a container has one readiness probe")
			continue
		}
		idx, _ := portIndexByName(a, rc.PortName)
		port := intstr.FromInt32(ports[idx].port)
		if ports[idx].portName != "" {
			port = intstr.FromString(ports[idx].portName)
		}
		scheme := corev1.URISchemeHTTP
		if rc.Protocol == "HTTPS" {
			scheme = corev1.URISchemeHTTPS
		}
		path := rc.Path
		if path == "" {
			path = "/"
		}
		interval, timeout := or32(rc.IntervalSeconds, 30), or32(rc.TimeoutSeconds, 10)
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port, Scheme: scheme}},
			PeriodSeconds: interval, TimeoutSeconds: timeout, FailureThreshold: 1,
		}
		codes := rc.HTTPStatusCodesForReady
		if len(codes) == 0 || len(codes) == 1 && codes[0] == 200 {
			r.converted(f, "readiness probe %s %s every %ds, timeout %ds", rc.Protocol, path, interval, timeout)
		} else {
			r.approx(f, "readiness probe %s every %ds, timeout %ds: the kubelet takes any 200-399 as ready, not only %v", path, interval, timeout, codes)
		}
		if rc.PreserveLastResponse {
			r.approx(f+".preserveLastResponse", "the kubelet keeps no response; failures are events on the pod")
		}
	}
}
