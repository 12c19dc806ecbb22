package migrate

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// firstServicePort is where Marathon's service ports start; a port
// definition of 0 becomes this port plus its index.
const firstServicePort = 10000

// appPort is one port of an app, from container.portMappings (bridge and
// container networks) or portDefinitions / ports (host network).
type appPort struct {
	field         string
	name          string
	containerPort int
	hostPort      *int
	servicePort   int
	protocol      string
	labels        map[string]string
	networkNames  []string
	hostNetwork   bool
}

// portMappings are an app's port mappings, where Marathon 1.5 and later
// or older versions (container.docker.portMappings) keep them.
func portMappings(a *App) []PortMapping {
	if a.Container == nil {
		return nil
	}
	if len(a.Container.PortMappings) > 0 {
		return a.Container.PortMappings
	}
	if a.Container.Docker != nil {
		return a.Container.Docker.PortMappings
	}
	return nil
}

// appPorts are an app's ports in Marathon's order (portIndex order).
func appPorts(a *App) []appPort {
	var out []appPort
	if pms := portMappings(a); len(pms) > 0 {
		field := "container.portMappings"
		if len(a.Container.PortMappings) == 0 {
			field = "container.docker.portMappings"
		}
		for i, m := range pms {
			out = append(out, appPort{field: fmt.Sprintf("%s[%d]", field, i), name: m.Name, containerPort: m.ContainerPort,
				hostPort: m.HostPort, servicePort: m.ServicePort, protocol: m.Protocol, labels: m.Labels, networkNames: m.NetworkNames})
		}
		return out
	}
	for i, p := range a.PortDefinitions {
		out = append(out, appPort{field: fmt.Sprintf("portDefinitions[%d]", i), name: p.Name, containerPort: p.Port,
			servicePort: p.Port, protocol: p.Protocol, labels: p.Labels, hostNetwork: true})
	}
	for i, p := range a.Ports {
		out = append(out, appPort{field: fmt.Sprintf("ports[%d]", i), containerPort: p, servicePort: p, hostNetwork: true})
	}
	return out
}

// portIndexByName is the index of the port named name.
func portIndexByName(a *App, name string) (int, bool) {
	for i, p := range appPorts(a) {
		if p.name == name {
			return i, true
		}
	}
	return 0, false
}

// resolvedPort is an appPort as the pod has it.
type resolvedPort struct {
	appPort
	port     int32  // the container port
	portName string // its IANA name in the pod, or ""
}

// ports converts an app's ports: container ports (fixed host ports kept),
// the PORT variables Marathon sets, and a ClusterIP Service with a port per
// app port (VIP_* labels and servicePort give its number).
func ports(r *Report, a *App, p placement, selector map[string]string, c *corev1.Container) ([]resolvedPort, *corev1.Service) {
	aps := appPorts(a)
	if len(aps) == 0 {
		return nil, nil
	}
	requirePorts := a.RequirePorts != nil && *a.RequirePorts
	if a.RequirePorts != nil {
		if requirePorts {
			r.converted("requirePorts", "the port definitions are fixed host ports")
		} else {
			r.converted("requirePorts", "false: the port definitions are Service ports, not host ports")
		}
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector},
	}
	var out []resolvedPort
	usedNames := map[string]bool{}
	var portsEnv []string
	for i, ap := range aps {
		rp := resolvedPort{appPort: ap, port: int32(ap.containerPort)}
		detail := []string{}
		if rp.port == 0 {
			switch {
			case ap.hostPort != nil && *ap.hostPort > 0:
				rp.port = int32(*ap.hostPort)
			default:
				rp.port = int32(firstServicePort + i)
			}
			detail = append(detail, fmt.Sprintf("port 0 (assigned by Marathon) is container port %d", rp.port))
		}
		rp.portName = ianaName(ap.name, usedNames)
		exact := ap.containerPort != 0
		var hostPort int32
		switch {
		case ap.hostNetwork && requirePorts && ap.containerPort > 0:
			hostPort = rp.port
			detail = append(detail, fmt.Sprintf("host port %d", hostPort))
		case ap.hostNetwork:
			detail = append(detail, fmt.Sprintf("container port %d on the pod's own IP, not a host port; the app listens on $PORT%d", rp.port, i))
			exact = false
		case ap.hostPort != nil && *ap.hostPort > 0:
			hostPort = int32(*ap.hostPort)
			detail = append(detail, fmt.Sprintf("container port %d, fixed host port %d", rp.port, hostPort))
		case ap.hostPort != nil:
			detail = append(detail, fmt.Sprintf("container port %d; host port 0 (random): reach it at the pod's IP or through the Service", rp.port))
			exact = false
		default:
			detail = append(detail, fmt.Sprintf("container port %d", rp.port))
		}
		svcPort, how := rp.port, "its container port"
		if ap.servicePort > 0 {
			svcPort, how = int32(ap.servicePort), "servicePort (marathon-lb's port)"
		}
		for _, k := range sortedKeys(ap.labels) {
			v := ap.labels[k]
			if !strings.HasPrefix(k, "VIP_") {
				r.approx(ap.field+".labels."+k, "not used: port labels have no Kubernetes equivalent")
				continue
			}
			vipName, vipPort, err := parseVIP(v)
			if err != nil {
				r.not(ap.field+".labels."+k, "%q: %v", v, err)
				continue
			}
			svcPort, how = vipPort, k+" "+v
			r.approx(ap.field+".labels."+k, "Service port %d; the VIP %s is the Service's ClusterIP and DNS name %s.%s.svc", vipPort, vipName, p.Name, p.Namespace)
		}
		if len(ap.networkNames) > 0 {
			r.approx(ap.field+".networkNames", "%v: the pod has one network, the cluster's", ap.networkNames)
		}
		detail = append(detail, fmt.Sprintf("Service %s port %d from %s", p.Name, svcPort, how))
		for _, proto := range protocols(ap.protocol) {
			cp := corev1.ContainerPort{Name: rp.portName, ContainerPort: rp.port, HostPort: hostPort, Protocol: proto}
			sp := corev1.ServicePort{Name: rp.portName, Port: svcPort, TargetPort: intstr.FromInt32(rp.port), Protocol: proto}
			if len(protocols(ap.protocol)) > 1 && rp.portName != "" {
				cp.Name = ianaName(rp.portName+"-"+strings.ToLower(string(proto)), usedNames)
				sp.Name = cp.Name
			}
			c.Ports = append(c.Ports, cp)
			svc.Spec.Ports = append(svc.Spec.Ports, sp)
		}
		if exact {
			r.converted(ap.field, "%s", strings.Join(detail, "; "))
		} else {
			r.approx(ap.field, "%s", strings.Join(detail, "; "))
		}
		portsEnv = append(portsEnv, strconv.Itoa(int(rp.port)))
		c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("PORT%d", i), Value: strconv.Itoa(int(rp.port))})
		if ap.name != "" {
			c.Env = append(c.Env, corev1.EnvVar{Name: "PORT_" + envName(ap.name), Value: strconv.Itoa(int(rp.port))})
		}
		out = append(out, rp)
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "PORT", Value: portsEnv[0]}, corev1.EnvVar{Name: "PORTS", Value: strings.Join(portsEnv, ",")})
	// A Service with several ports needs a name on each.
	if len(svc.Spec.Ports) > 1 {
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Name == "" {
				svc.Spec.Ports[i].Name = ianaName(fmt.Sprintf("port%d-%s", svc.Spec.Ports[i].TargetPort.IntVal, strings.ToLower(string(svc.Spec.Ports[i].Protocol))), usedNames)
			}
		}
	}
	return out, svc
}

// protocols are the Kubernetes protocols of a Marathon protocol string.
func protocols(p string) []corev1.Protocol {
	switch p {
	case "udp":
		return []corev1.Protocol{corev1.ProtocolUDP}
	case "udp,tcp", "tcp,udp":
		return []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP}
	case "sctp":
		return []corev1.Protocol{corev1.ProtocolSCTP}
	}
	return []corev1.Protocol{corev1.ProtocolTCP}
}

// parseVIP parses a VIP label value: "/name:port" (a named VIP) or
// "ip:port".
func parseVIP(v string) (name string, port int32, err error) {
	host, ps, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("want /name:port or ip:port: %w", err)
	}
	n, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("port %q is not a port", ps)
	}
	return host, int32(n), nil
}

// ianaNameMax is the length limit of a port name (an IANA service name).
const ianaNameMax = 15

// ianaName makes s a port name (at most 15 lowercase letters, digits and
// '-', with a letter), unique among used; "" when s has nothing usable.
func ianaName(s string, used map[string]bool) string {
	if s == "" {
		return ""
	}
	n := dnsLabel(s, "p-")
	if len(n) > ianaNameMax {
		n = strings.TrimRight(n[:ianaNameMax], "-")
	}
	base := n
	for i := 2; used[n] || len(validation.IsValidPortName(n)) > 0; i++ {
		suffix := strconv.Itoa(i)
		if len(base)+len(suffix) > ianaNameMax {
			base = strings.TrimRight(base[:ianaNameMax-len(suffix)], "-")
		}
		n = base + suffix
		if i > 100 {
			return ""
		}
	}
	used[n] = true
	return n
}

// envName is Marathon's PORT_<NAME> form of a port name.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}
