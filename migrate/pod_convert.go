package migrate

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// ConvertPod converts one Marathon pod: its containers are the containers
// of one Kubernetes pod template, as they shared a Mesos executor.
func ConvertPod(p *Pod, opts Options) Result {
	opts = opts.withDefaults()
	res := Result{Report: Report{Source: "marathon pod", ID: p.ID}}
	r := &res.Report
	w := newWorkload(r, p.ID, opts)
	w.setLabels(r, "labels", p.Labels)
	w.replicas = 1
	if s := p.Scaling; s != nil && s.Instances != nil {
		w.replicas = int32(*s.Instances)
		r.converted("scaling.instances", "replicas %d", w.replicas)
	}
	if s := p.Scaling; s != nil && s.MaxInstances != nil {
		r.approx("scaling.maxInstances", "%d: no upper bound on replicas (a HorizontalPodAutoscaler's maxReplicas would be one)", *s.MaxInstances)
	}
	spec := &w.template.Spec
	podEnv := environment(r, "environment", p.Environment, p.Secrets)
	reportSecrets(r, "secrets", p.Secrets)
	networks(r, p.Networks)

	// Volumes: persistent ones are claims (a StatefulSet), the others pod volumes.
	claimOf := map[string]bool{}
	for i, v := range p.Volumes {
		f := fmt.Sprintf("volumes[%d]", i)
		name := dnsLabel(v.Name, "vol-")
		switch {
		case v.Persistent != nil:
			size := memQuantity(v.Persistent.Size)
			w.claims = append(w.claims, corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To(LocalStorageClass),
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			})
			claimOf[v.Name] = true
			r.converted(f, "volumeClaimTemplate %s of %s, class %s (the pod becomes a StatefulSet)", name, size.String(), LocalStorageClass)
		case v.Host != "":
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: v.Host}}})
			r.approx(f, "hostPath %s: the path on whichever node the pod runs on", v.Host)
		case v.Secret != "":
			sname, key := secretRef(p.Secrets[v.Secret].Source)
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: sname, Items: []corev1.KeyToPath{{Key: key, Path: key}},
			}}})
			r.approx(f, "secret volume from Secret %s key %s (create it from the secret store)", sname, key)
		default:
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			r.converted(f, "emptyDir %s, shared by the containers that mount it", name)
		}
	}

	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: w.p.Name, Namespace: w.p.Namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: w.selector},
	}
	usedPortNames := map[string]bool{}
	endpointPort := map[string]intstr.IntOrString{}
	var maxGrace *int64
	var fetches []Fetch
	for i, pc := range p.Containers {
		f := fmt.Sprintf("containers[%d]", i)
		c := corev1.Container{Name: dnsLabel(pc.Name, "c-"), ImagePullPolicy: corev1.PullIfNotPresent}
		if c.Name != pc.Name {
			r.approx(f+".name", "%s: container names are DNS labels", c.Name)
		}
		switch {
		case pc.Image != nil && pc.Image.Kind == "APPC":
			r.not(f+".image", "AppC images do not run under containerd: rebuild as an OCI image")
		case pc.Image != nil:
			c.Image = pc.Image.ID
			r.converted(f+".image", "image %s", pc.Image.ID)
			if pc.Image.ForcePull {
				c.ImagePullPolicy = corev1.PullAlways
			}
			if len(pc.Image.PullConfig) > 0 {
				r.not(f+".image.pullConfig", "registry credentials from the secret store: create a kubernetes.io/dockerconfigjson Secret and add it to imagePullSecrets")
			}
		case opts.CommandImage != "":
			c.Image = opts.CommandImage
			r.approx(f+".image", "none: the container ran on the agent's own filesystem; it runs in --command-image %s", opts.CommandImage)
		default:
			r.not(f+".image", "none: the container ran on the agent's own filesystem, and a pod needs an image (give --command-image IMAGE)")
		}
		if pc.Exec != nil {
			if sh := pc.Exec.Command.Shell; sh != nil {
				c.Command = shellCommand(*sh)
				r.converted(f+".exec.command.shell", "command [/bin/sh -c ...]")
			} else if pc.Exec.OverrideEntrypoint != nil && !*pc.Exec.OverrideEntrypoint {
				c.Args = pc.Exec.Command.Argv
				r.converted(f+".exec.command.argv", "args (overrideEntrypoint false: the image's entrypoint stays)")
			} else {
				c.Command = pc.Exec.Command.Argv
				r.converted(f+".exec.command.argv", "command")
			}
		}
		c.Resources = resources(r, f+".resources.", pc.Resources.Cpus, pc.Resources.Mem, pc.Resources.Disk, pc.Resources.Gpus, opts.Limits)
		c.Env = append(c.Env, corev1.EnvVar{Name: "MARATHON_APP_ID", Value: p.ID})
		c.Env = append(c.Env, podEnv...)
		c.Env = append(c.Env, environment(r, f+".environment", pc.Environment, p.Secrets)...)
		userField(r, f+".user", firstNonEmpty(pc.User, p.User), &c)
		for j, e := range pc.Endpoints {
			ef := fmt.Sprintf("%s.endpoints[%d]", f, j)
			port := int32(e.ContainerPort)
			detail := fmt.Sprintf("container port %d", port)
			exact := true
			if port == 0 {
				port = int32(firstServicePort + len(svc.Spec.Ports))
				detail = fmt.Sprintf("container port %d (the host network's port is the container's)", port)
				exact = false
			}
			var hostPort int32
			if e.HostPort != nil && *e.HostPort > 0 {
				hostPort = int32(*e.HostPort)
				detail += fmt.Sprintf(", fixed host port %d", hostPort)
			} else if e.HostPort != nil {
				detail += "; host port 0 (random): reach it at the pod's IP or through the Service"
				exact = false
			}
			if len(e.NetworkNames) > 0 {
				r.approx(ef+".networkNames", "%v: the pod has one network, the cluster's", e.NetworkNames)
			}
			name := ianaName(e.Name, usedPortNames)
			protos := e.Protocol
			if len(protos) == 0 {
				protos = []string{"tcp"}
			}
			svcPort := port
			for _, k := range sortedKeys(e.Labels) {
				if !strings.HasPrefix(k, "VIP_") {
					r.approx(ef+".labels."+k, "not used: endpoint labels have no Kubernetes equivalent")
					continue
				}
				vipName, vp, err := parseVIP(e.Labels[k])
				if err != nil {
					r.not(ef+".labels."+k, "%q: %v", e.Labels[k], err)
					continue
				}
				svcPort = vp
				r.approx(ef+".labels."+k, "Service port %d; the VIP %s is the Service's ClusterIP and DNS name %s.%s.svc", vp, vipName, w.p.Name, w.p.Namespace)
			}
			for _, proto := range protos {
				kp := protocols(proto)[0]
				pn := name
				if len(protos) > 1 {
					pn = ianaName(name+"-"+proto, usedPortNames)
				}
				c.Ports = append(c.Ports, corev1.ContainerPort{Name: pn, ContainerPort: port, HostPort: hostPort, Protocol: kp})
				svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: pn, Port: svcPort, TargetPort: intstr.FromInt32(port), Protocol: kp})
			}
			endpointPort[e.Name] = intstr.FromInt32(port)
			if name != "" {
				endpointPort[e.Name] = intstr.FromString(name)
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: "ENDPOINT_" + envName(e.Name), Value: strconv.Itoa(int(port))})
			detail += fmt.Sprintf("; Service %s port %d", w.p.Name, svcPort)
			if exact {
				r.converted(ef, "%s", detail)
			} else {
				r.approx(ef, "%s", detail)
			}
		}
		for j, m := range pc.VolumeMounts {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: dnsLabel(m.Name, "vol-"), MountPath: m.MountPath, ReadOnly: m.ReadOnly})
			if claimOf[m.Name] {
				r.converted(fmt.Sprintf("%s.volumeMounts[%d]", f, j), "the claim %s at %s", dnsLabel(m.Name, "vol-"), m.MountPath)
			} else {
				r.converted(fmt.Sprintf("%s.volumeMounts[%d]", f, j), "volume %s at %s", dnsLabel(m.Name, "vol-"), m.MountPath)
			}
		}
		if len(pc.Artifacts) > 0 {
			fetches = append(fetches, pc.Artifacts...)
		}
		if l := pc.Lifecycle; l != nil && l.KillGracePeriodSeconds != nil {
			g := int64(*l.KillGracePeriodSeconds + 0.999)
			if maxGrace == nil || g > *maxGrace {
				maxGrace = &g
			}
			r.approx(f+".lifecycle.killGracePeriodSeconds", "terminationGracePeriodSeconds %d, the pod's (the longest of its containers')", g)
		}
		if pc.Tty != nil && *pc.Tty {
			c.TTY, c.Stdin = true, true
			r.converted(f+".tty", "tty and stdin")
		}
		if len(pc.Labels) > 0 {
			r.approx(f+".labels", "container labels have no Kubernetes equivalent; the pod's labels are its template's")
		}
		spec.Containers = append(spec.Containers, c)
	}
	// Health checks name endpoints, possibly of other containers: resolve
	// them once every endpoint is known.
	for i, pc := range p.Containers {
		h := pc.HealthCheck
		if h == nil {
			continue
		}
		f := fmt.Sprintf("containers[%d].healthCheck", i)
		k := check{
			grace: or32(h.GracePeriodSeconds, defaultGraceSeconds), interval: or32(h.IntervalSeconds, defaultIntervalSeconds),
			timeout: or32(h.TimeoutSeconds, defaultTimeoutSeconds), maxFail: or32(h.MaxConsecutiveFailures, defaultMaxFailures),
		}
		what := ""
		switch {
		case h.HTTP != nil:
			scheme := corev1.URISchemeHTTP
			if h.HTTP.Scheme == "HTTPS" {
				scheme = corev1.URISchemeHTTPS
			}
			path := h.HTTP.Path
			if path == "" {
				path = "/"
			}
			k.handler.HTTPGet = &corev1.HTTPGetAction{Path: path, Port: endpointPort[h.HTTP.Endpoint], Scheme: scheme}
			what = "http " + path
		case h.TCP != nil:
			k.handler.TCPSocket = &corev1.TCPSocketAction{Port: endpointPort[h.TCP.Endpoint]}
			what = "tcp"
		case h.Exec != nil:
			if sh := h.Exec.Command.Shell; sh != nil {
				k.handler.Exec = &corev1.ExecAction{Command: shellCommand(*sh)}
			} else {
				k.handler.Exec = &corev1.ExecAction{Command: h.Exec.Command.Argv}
			}
			what = "exec"
		}
		c := &spec.Containers[i]
		c.LivenessProbe, c.StartupProbe = k.probes()
		if h.DelaySeconds != nil {
			c.LivenessProbe.InitialDelaySeconds = *h.DelaySeconds
		}
		r.converted(f, "%s: liveness probe every %ds, timeout %ds, %d failures; grace %ds as a startup probe", what, k.interval, k.timeout, k.maxFail, k.grace)
	}
	if len(fetches) > 0 {
		if init := fetchInit(r, "containers[].artifacts", fetches, opts.FetchImage); init != nil {
			spec.InitContainers = append(spec.InitContainers, *init)
			var cs []*corev1.Container
			for i := range spec.Containers {
				cs = append(cs, &spec.Containers[i])
			}
			addSandbox(spec, cs...)
		}
	}
	spec.TerminationGracePeriodSeconds = maxGrace
	if s := p.Scheduling; s != nil {
		if s.Placement != nil {
			constraints(r, "scheduling.placement.constraints", s.Placement.Constraints, w.selector).apply(spec)
			roles(r, "scheduling.placement.acceptedResourceRoles", s.Placement.AcceptedResourceRoles)
		}
		w.rolling = rollingUpdate(r, "scheduling.upgrade", s.Upgrade)
		killSelection(r, "scheduling.killSelection", s.KillSelection)
		spec.Tolerations = unreachableTolerations(r, "scheduling.unreachableStrategy", s.UnreachableStrategy)
		if len(s.Backoff) > 0 {
			r.approx("scheduling.backoff", "the kubelet restarts a crashing container after 10s, doubling up to 300s")
		}
	}
	if w.rolling == nil {
		w.rolling = rollingUpdate(r, "scheduling.upgrade", nil)
	}
	if len(p.ExecutorResources) > 0 {
		r.approx("executorResources", "the kubelet-executor's own resources are the node's, not the pod's")
	}
	if p.Role != "" {
		roles(r, "role", []string{p.Role})
	}
	if len(p.Version) > 0 {
		r.add("version", Ignored, "status of the running pod in Marathon's answer, not part of its definition")
	}
	if len(svc.Spec.Ports) > 0 {
		w.service = svc
	}
	res.Namespace, res.Name = w.p.Namespace, w.p.Name
	res.Objects = w.objects(r)
	return res
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
