package migrate

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// Options are the choices a migration leaves to its user.
type Options struct {
	// Namespace is where apps go without NamespaceFromGroup, and apps at
	// the root with it; default "default".
	Namespace string
	// NamespaceFromGroup makes an app's group path its namespace.
	NamespaceFromGroup bool
	// Limits says which requests are also limits; default LimitsMemory.
	Limits LimitsPolicy
	// FetchImage runs the init container that downloads fetch URIs;
	// default DefaultFetchImage.
	FetchImage string
	// CommandImage runs apps that have no image (Marathon ran them on the
	// agent's filesystem); empty: such apps do not convert.
	CommandImage string
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Limits == "" {
		o.Limits = LimitsMemory
	}
	if o.FetchImage == "" {
		o.FetchImage = DefaultFetchImage
	}
	return o
}

// Result is the Kubernetes objects of one app, pod or job, and the report
// of its fields.
type Result struct {
	Namespace, Name string
	// Objects are typed API objects with TypeMeta set: the workload
	// first, then its Service.
	Objects []runtime.Object
	Report  Report
}

// Converted reports whether every field converted, exactly or
// approximately: only then is the result applied without --partial.
func (r *Result) Converted() bool { return r.Report.Complete() }

// workload is what every Marathon app and pod becomes before it is a
// Deployment or a StatefulSet.
type workload struct {
	p           placement
	id          string
	replicas    int32
	labels      map[string]string
	annotations map[string]string
	selector    map[string]string
	template    corev1.PodTemplateSpec
	rolling     *appsv1.RollingUpdateDeployment
	claims      []corev1.PersistentVolumeClaim
	service     *corev1.Service
}

// objects are the workload's API objects: a StatefulSet when it claims
// volumes (Marathon's resident apps), a Deployment otherwise, and its
// Service.
func (w *workload) objects(r *Report) []runtime.Object {
	meta := metav1.ObjectMeta{Name: w.p.Name, Namespace: w.p.Namespace, Labels: w.labels, Annotations: w.annotations}
	sel := &metav1.LabelSelector{MatchLabels: w.selector}
	var out []runtime.Object
	if len(w.claims) > 0 {
		svcName := w.p.Name
		if w.service == nil {
			// A StatefulSet names its pods in DNS through a headless Service.
			w.service = &corev1.Service{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{Name: w.p.Name, Namespace: w.p.Namespace},
				Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: w.selector},
			}
		}
		ss := &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To(w.replicas), Selector: sel, Template: w.template, ServiceName: svcName,
				VolumeClaimTemplates: w.claims,
				PodManagementPolicy:  appsv1.ParallelPodManagement,
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
			},
		}
		out = append(out, ss)
	} else {
		d := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(w.replicas), Selector: sel, Template: w.template,
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: w.rolling},
			},
		}
		out = append(out, d)
	}
	if w.service != nil {
		out = append(out, w.service)
	}
	return out
}

// newWorkload starts the workload of id: its names, labels and selector.
func newWorkload(r *Report, id string, opts Options) *workload {
	p := placeID(id, opts.Namespace, opts.NamespaceFromGroup, r)
	sel := map[string]string{LabelName: p.Name}
	return &workload{
		p: p, id: id, selector: sel,
		labels:      map[string]string{LabelName: p.Name, LabelManagedBy: ManagedBy},
		annotations: map[string]string{AnnotationMarathonID: id},
	}
}

// setLabels adds the app's own labels to the workload and its pods.
func (w *workload) setLabels(r *Report, field string, in map[string]string) {
	labels, annotations := appLabels(r, field, in)
	podLabels := map[string]string{LabelName: w.p.Name}
	for k, v := range labels {
		w.labels[k] = v
		podLabels[k] = v
	}
	for k, v := range annotations {
		w.annotations[k] = v
	}
	w.template.Labels = podLabels
	w.template.Annotations = map[string]string{AnnotationMarathonID: w.id}
}

// ConvertApp converts one Marathon app.
func ConvertApp(a *App, opts Options) Result {
	opts = opts.withDefaults()
	res := Result{Report: Report{Source: "marathon app", ID: a.ID}}
	r := &res.Report
	w := newWorkload(r, a.ID, opts)
	w.setLabels(r, "labels", a.Labels)

	w.replicas = 1
	if a.Instances != nil {
		w.replicas = int32(*a.Instances)
		r.converted("instances", "replicas %d", w.replicas)
	}
	c := corev1.Container{Name: "main"}
	appImage(r, a, opts, &c)
	c.Resources = resources(r, "", a.Cpus, a.Mem, a.Disk, a.Gpus, opts.Limits)
	c.Env = append(c.Env, marathonEnv(a.ID)...)
	c.Env = append(c.Env, environment(r, "env", a.Env, a.Secrets)...)
	reportSecrets(r, "secrets", a.Secrets)
	resolved, svc := ports(r, a, w.p, w.selector, &c)
	w.service = svc
	networks(r, a.Networks)
	healthChecks(r, a, resolved, &c)
	readinessChecks(r, a, resolved, &c)

	spec := &w.template.Spec
	constraints(r, "constraints", a.Constraints, w.selector).apply(spec)
	w.rolling = rollingUpdate(r, "upgradeStrategy", a.UpgradeStrategy)

	vols := appVolumes(r, a)
	spec.Volumes = append(spec.Volumes, vols.volumes...)
	c.VolumeMounts = append(c.VolumeMounts, vols.mounts...)
	w.claims = vols.claims
	if a.Residency != nil {
		detail := "a StatefulSet: each pod keeps its claims, and is recreated where its local volume is"
		if a.Residency.RelaunchEscalationTimeoutSeconds != nil || a.Residency.TaskLostBehavior != "" {
			r.approx("residency", "%s; relaunchEscalationTimeoutSeconds and taskLostBehavior have no equivalent: a pod waits for its volume's node", detail)
		} else {
			r.converted("residency", "%s", detail)
		}
	} else if len(w.claims) > 0 {
		r.approx("container.volumes", "persistent volumes without residency: a StatefulSet, which also keeps each pod on its volume")
	}
	if len(w.claims) > 0 && a.UpgradeStrategy != nil {
		r.approx("upgradeStrategy", "a StatefulSet replaces one pod at a time")
	}

	fetch := a.Fetch
	field := "fetch"
	if len(a.URIs) > 0 {
		fetch, field = fetchFromURIs(a.URIs), "uris"
	}
	if len(fetch) > 0 {
		if init := fetchInit(r, field, fetch, opts.FetchImage); init != nil {
			spec.InitContainers = append(spec.InitContainers, *init)
			addSandbox(spec, &c)
		}
	}
	if a.TaskKillGracePeriodSeconds != nil {
		spec.TerminationGracePeriodSeconds = ptr.To(*a.TaskKillGracePeriodSeconds)
		r.converted("taskKillGracePeriodSeconds", "terminationGracePeriodSeconds %d", *a.TaskKillGracePeriodSeconds)
	}
	spec.Tolerations = unreachableTolerations(r, "unreachableStrategy", a.UnreachableStrategy)
	backoff(r, a.BackoffSeconds, a.BackoffFactor, a.MaxLaunchDelaySeconds)
	killSelection(r, "killSelection", a.KillSelection)
	dependencies(r, "dependencies", a.Dependencies)
	roles(r, "acceptedResourceRoles", a.AcceptedResourceRoles)
	if a.Role != "" {
		roles(r, "role", []string{a.Role})
	}
	statusFields(r, a.AppStatus)

	spec.Containers = []corev1.Container{c}
	res.Namespace, res.Name = w.p.Namespace, w.p.Name
	res.Objects = w.objects(r)
	return res
}

// networks reports the network modes: every pod has its own IP.
func networks(r *Report, ns []Network) {
	for i, n := range ns {
		f := fmt.Sprintf("networks[%d]", i)
		switch n.Mode {
		case "", "host":
			r.approx(f, "host: the pod gets its own IP on the pod network; ports are container ports (hostNetwork would share the node's ports with everything else)")
		case "container/bridge":
			r.converted(f, "container/bridge: the pod network, with the port mappings' container and host ports")
		case "container":
			r.approx(f, "container network %q: the cluster's pod network (one per cluster)", n.Name)
		}
	}
}
