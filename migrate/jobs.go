package migrate

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// onDemandSchedule is the schedule of a suspended CronJob for a job that
// Metronome runs only when asked: `kubectl create job --from=cronjob/NAME`
// runs it.
const onDemandSchedule = "0 0 1 1 *"

// jobTemplate is what both Metronome and Chronos jobs become before their
// schedules: one pod that runs to completion.
type jobTemplate struct {
	w         *workload
	spec      batchv1.JobSpec
	c         corev1.Container
	schedules []schedule
}

// schedule is one CronJob of a job.
type schedule struct {
	field, suffix    string
	cron, timeZone   string
	concurrency      batchv1.ConcurrencyPolicy
	startingDeadline *int64
	suspend          bool
}

func (t *jobTemplate) objects() []runtime.Object {
	t.w.template.Spec.Containers = []corev1.Container{t.c}
	t.w.template.Spec.RestartPolicy = corev1.RestartPolicyNever
	t.spec.Template = t.w.template
	var out []runtime.Object
	for _, s := range t.schedules {
		name := cronJobName(t.w.p.Name, s.suffix)
		cj := &batchv1.CronJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.w.p.Namespace, Labels: t.w.labels, Annotations: t.w.annotations},
			Spec: batchv1.CronJobSpec{
				Schedule: s.cron, ConcurrencyPolicy: s.concurrency, StartingDeadlineSeconds: s.startingDeadline,
				JobTemplate: batchv1.JobTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: t.w.template.Labels}, Spec: t.spec},
			},
		}
		if s.timeZone != "" {
			cj.Spec.TimeZone = ptr.To(s.timeZone)
		}
		if s.suspend {
			cj.Spec.Suspend = ptr.To(true)
		}
		out = append(out, cj)
	}
	return out
}

// cronJobName is the CronJob of a job (and of one of its schedules when
// it has several), short enough for its Jobs' names.
func cronJobName(job, schedule string) string {
	if schedule == "" {
		return dnsLabelMax(job, "job-", CronJobNameMax)
	}
	return dnsLabelMax(job+"-"+schedule, "job-", CronJobNameMax)
}

// ConvertMetronome converts one Metronome job: a CronJob per schedule (a
// suspended one when it has none).
func ConvertMetronome(j *MetronomeJob, opts Options) Result {
	opts = opts.withDefaults()
	res := Result{Report: Report{Source: "metronome job", ID: j.ID}}
	r := &res.Report
	w := newWorkload(r, "/"+strings.ReplaceAll(j.ID, ".", "/"), opts)
	w.annotations[AnnotationMarathonID] = j.ID
	w.setLabels(r, "labels", j.Labels)
	if j.Description != "" {
		w.annotations["migrate.kubemesos.io/description"] = j.Description
		r.converted("description", "annotation")
	}
	t := &jobTemplate{w: w, c: corev1.Container{Name: "main", ImagePullPolicy: corev1.PullIfNotPresent}}
	run := &j.Run
	switch {
	case run.Docker != nil:
		t.c.Image = run.Docker.Image
		r.converted("run.docker.image", "image %s", run.Docker.Image)
		dockerOptions(r, "run.docker.", run.Docker.ForcePullImage, run.Docker.Privileged, run.Docker.Parameters, run.Docker.PullConfig != nil, &t.c)
	case run.UCR != nil:
		t.c.Image = run.UCR.Image.ID
		r.converted("run.ucr.image", "image %s: containerd runs it as the Mesos containerizer did", run.UCR.Image.ID)
		if run.UCR.Image.ForcePull {
			t.c.ImagePullPolicy = corev1.PullAlways
			r.converted("run.ucr.image.forcePull", "imagePullPolicy Always")
		}
		if run.UCR.Privileged {
			t.c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			r.converted("run.ucr.privileged", "securityContext.privileged")
		}
	case opts.CommandImage != "":
		t.c.Image = opts.CommandImage
		r.approx("run", "no image: Metronome ran the command on the agent's own filesystem; it runs in --command-image %s", opts.CommandImage)
	default:
		r.not("run", "no image: Metronome ran the command on the agent's own filesystem, and a pod needs an image (give --command-image IMAGE)")
	}
	if run.Cmd != nil {
		t.c.Command = shellCommand(*run.Cmd)
		r.converted("run.cmd", "command [/bin/sh -c ...], as Metronome runs it")
	}
	if len(run.Args) > 0 {
		t.c.Args = run.Args
		r.converted("run.args", "args (the image's entrypoint stays)")
	}
	t.c.Resources = resources(r, "run.", run.Cpus, run.Mem, run.Disk, run.Gpus, opts.Limits)
	t.c.Env = environment(r, "run.env", run.Env, run.Secrets)
	reportSecrets(r, "run.secrets", run.Secrets)
	userField(r, "run.user", run.User, &t.c)
	spec := &w.template.Spec
	if run.Placement != nil {
		cs := make([]Constraint, len(run.Placement.Constraints))
		for i, c := range run.Placement.Constraints {
			op := c.Operator
			if op == "EQ" {
				op = OpIs
			}
			cs[i] = Constraint{Field: c.Attribute, Operator: op, Value: c.Value}
		}
		constraints(r, "run.placement.constraints", cs, w.selector).apply(spec)
	}
	for i, v := range run.Volumes {
		f := fmt.Sprintf("run.volumes[%d]", i)
		name := fmt.Sprintf("vol-%d", i)
		switch {
		case v.Secret != "":
			sname, key := secretRef(run.Secrets[v.Secret].Source)
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: sname}}})
			t.c.VolumeMounts = append(t.c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: v.ContainerPath, ReadOnly: true})
			r.approx(f, "secret volume from Secret %s key %s (create it from the secret store)", sname, key)
		case v.HostPath != "":
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: v.HostPath}}})
			t.c.VolumeMounts = append(t.c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: v.ContainerPath, ReadOnly: v.Mode == "RO"})
			r.approx(f, "hostPath %s at %s: the path on whichever node the pod runs on", v.HostPath, v.ContainerPath)
		default:
			r.not(f, "a volume without hostPath or secret")
		}
	}
	if len(run.Artifacts) > 0 {
		if init := fetchInit(r, "run.artifacts", run.Artifacts, opts.FetchImage); init != nil {
			spec.InitContainers = append(spec.InitContainers, *init)
			addSandbox(spec, &t.c)
		}
	}
	if run.TaskKillGracePeriodSeconds != nil {
		spec.TerminationGracePeriodSeconds = ptr.To(*run.TaskKillGracePeriodSeconds)
		r.converted("run.taskKillGracePeriodSeconds", "terminationGracePeriodSeconds %d", *run.TaskKillGracePeriodSeconds)
	}
	if run.MaxLaunchDelay != nil {
		r.approx("run.maxLaunchDelay", "%ds: a Job's pods back off 10s, doubling, up to 6 minutes", *run.MaxLaunchDelay)
	}
	networks(r, run.Networks)

	// Retries: Metronome relaunches a failed run under ON_FAILURE until
	// activeDeadlineSeconds; a Job retries backoffLimit times, within
	// activeDeadlineSeconds.
	t.spec.BackoffLimit = ptr.To[int32](0)
	if rs := run.Restart; rs != nil {
		if rs.Policy == "ON_FAILURE" {
			t.spec.BackoffLimit = ptr.To[int32](6)
			if run.MaxRetries == nil {
				r.approx("run.restart.policy", "ON_FAILURE: backoffLimit 6 (the Job default), where Metronome retries until activeDeadlineSeconds")
			} else {
				r.converted("run.restart.policy", "ON_FAILURE: the Job retries failed pods (backoffLimit from run.maxRetries)")
			}
		} else {
			r.converted("run.restart.policy", "NEVER: backoffLimit 0")
		}
		if rs.ActiveDeadlineSeconds != nil {
			t.spec.ActiveDeadlineSeconds = ptr.To(*rs.ActiveDeadlineSeconds)
			r.converted("run.restart.activeDeadlineSeconds", "activeDeadlineSeconds %d", *rs.ActiveDeadlineSeconds)
		}
	}
	if run.MaxRetries != nil {
		t.spec.BackoffLimit = ptr.To(*run.MaxRetries)
		r.converted("run.maxRetries", "backoffLimit %d", *run.MaxRetries)
	}

	for i, s := range j.Schedules {
		f := fmt.Sprintf("schedules[%d]", i)
		cron, _ := parseCron(s.Cron)
		sc := schedule{field: f, cron: cron, timeZone: s.TimeZone, startingDeadline: s.StartingDeadlineSeconds}
		if len(j.Schedules) > 1 {
			sc.suffix = s.ID
		}
		r.converted(f+".cron", "schedule %q", cron)
		if s.TimeZone != "" {
			r.converted(f+".timezone", "timeZone %s", s.TimeZone)
		} else {
			sc.timeZone = "Etc/UTC"
			r.converted(f+".timezone", "absent: Metronome's UTC, timeZone Etc/UTC")
		}
		switch s.ConcurrencyPolicy {
		case "", "ALLOW":
			sc.concurrency = batchv1.AllowConcurrent
			r.converted(f+".concurrencyPolicy", "Allow")
		case "FORBID":
			sc.concurrency = batchv1.ForbidConcurrent
			r.converted(f+".concurrencyPolicy", "Forbid")
		case "REPLACE":
			sc.concurrency = batchv1.ReplaceConcurrent
			r.converted(f+".concurrencyPolicy", "Replace")
		}
		if s.StartingDeadlineSeconds != nil {
			r.converted(f+".startingDeadlineSeconds", "startingDeadlineSeconds %d", *s.StartingDeadlineSeconds)
		}
		if s.Enabled != nil && !*s.Enabled {
			sc.suspend = true
			r.converted(f+".enabled", "false: suspend")
		}
		if s.ID != "" && len(j.Schedules) > 1 {
			r.converted(f+".id", "CronJob %s", cronJobName(w.p.Name, s.ID))
		} else if s.ID != "" {
			r.converted(f+".id", "the CronJob is named after the job")
		}
		if s.NextRunAt != "" {
			r.add(f+".nextRunAt", Ignored, "status of the schedule in Metronome's answer")
		}
		t.schedules = append(t.schedules, sc)
	}
	if len(j.Schedules) == 0 {
		t.schedules = []schedule{{cron: onDemandSchedule, timeZone: "Etc/UTC", concurrency: batchv1.AllowConcurrent, suspend: true}}
		r.approx("schedules", "none: a suspended CronJob; run it with kubectl create job --from=cronjob/%s NAME", w.p.Name)
	}
	if len(j.ActiveRuns) > 0 {
		r.add("activeRuns", Ignored, "status of the job in Metronome's answer")
	}
	if len(j.History) > 0 {
		r.add("history", Ignored, "status of the job in Metronome's answer")
	}
	res.Namespace, res.Name = w.p.Namespace, w.p.Name
	res.Objects = t.objects()
	return res
}

// chronosDefaultRetries is Chronos' retries when a job does not say.
const chronosDefaultRetries = 2

// ConvertChronos converts one Chronos job to a CronJob.
func ConvertChronos(j *ChronosJob, opts Options) Result {
	opts = opts.withDefaults()
	res := Result{Report: Report{Source: "chronos job", ID: j.Name}}
	r := &res.Report
	w := newWorkload(r, "/"+j.Name, opts)
	w.setLabels(r, "labels", nil)
	if j.Description != "" {
		w.annotations["migrate.kubemesos.io/description"] = j.Description
		r.converted("description", "annotation")
	}
	for _, o := range []struct{ field, value string }{{"owner", j.Owner}, {"ownerName", j.OwnerName}} {
		if o.value != "" {
			w.annotations["migrate.kubemesos.io/"+o.field] = o.value
			r.approx(o.field, "annotation; Chronos mailed the owner on failures, Kubernetes records an event on the Job")
		}
	}
	t := &jobTemplate{w: w, c: corev1.Container{Name: "main", ImagePullPolicy: corev1.PullIfNotPresent}}
	if ct := j.Container; ct != nil {
		t.c.Image = ct.Image
		r.converted("container.image", "image %s", ct.Image)
		if ct.Type != "" {
			r.converted("container.type", "%s: containerd runs the image", ct.Type)
		}
		dockerOptions(r, "container.", ct.ForcePullImage, false, ct.Parameters, false, &t.c)
		if ct.Network != "" {
			r.approx("container.network", "%s: the pod network", ct.Network)
		}
		for i, v := range ct.Volumes {
			f := fmt.Sprintf("container.volumes[%d]", i)
			name := fmt.Sprintf("vol-%d", i)
			if v.HostPath == "" {
				w.template.Spec.Volumes = append(w.template.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
				r.approx(f, "emptyDir at %s", v.ContainerPath)
			} else {
				w.template.Spec.Volumes = append(w.template.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: v.HostPath}}})
				r.approx(f, "hostPath %s at %s: the path on whichever node the pod runs on", v.HostPath, v.ContainerPath)
			}
			t.c.VolumeMounts = append(t.c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: v.ContainerPath, ReadOnly: v.Mode == "RO"})
		}
	} else if opts.CommandImage != "" {
		t.c.Image = opts.CommandImage
		r.approx("container", "none: Chronos ran the command on the agent's own filesystem; it runs in --command-image %s", opts.CommandImage)
	} else {
		r.not("container", "none: Chronos ran the command on the agent's own filesystem, and a pod needs an image (give --command-image IMAGE)")
	}
	shell := j.Shell == nil || *j.Shell
	switch {
	case j.Command != "" && shell:
		t.c.Command = shellCommand(j.Command)
		r.converted("command", "command [/bin/sh -c ...], as Chronos runs it")
	case j.Command != "":
		t.c.Command = []string{j.Command}
		r.converted("command", "command (shell false: run without a shell)")
	}
	if j.Shell != nil {
		r.converted("shell", "%v", shell)
	}
	if len(j.Arguments) > 0 {
		t.c.Args = j.Arguments
		r.converted("arguments", "args")
	}
	t.c.Resources = resources(r, "", j.Cpus, j.Mem, j.Disk, nil, opts.Limits)
	for _, e := range j.EnvironmentVariables {
		t.c.Env = append(t.c.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
		r.converted("environmentVariables."+e.Name, "value")
	}
	userField(r, "runAsUser", j.RunAsUser, &t.c)
	cs := make([]Constraint, len(j.Constraints))
	for i, c := range j.Constraints {
		op := c.Operator
		if op == "EQUALS" {
			op = OpIs
		}
		cs[i] = Constraint{Field: c.Field, Operator: op, Value: c.Value}
	}
	constraints(r, "constraints", cs, w.selector).apply(&w.template.Spec)
	fetch, field := j.Fetch, "fetch"
	if len(j.URIs) > 0 {
		fetch, field = fetchFromURIs(j.URIs), "uris"
	}
	if len(fetch) > 0 {
		if init := fetchInit(r, field, fetch, opts.FetchImage); init != nil {
			w.template.Spec.InitContainers = append(w.template.Spec.InitContainers, *init)
			addSandbox(&w.template.Spec, &t.c)
		}
	}
	retries := int32(chronosDefaultRetries)
	if j.Retries != nil {
		retries = *j.Retries
		r.converted("retries", "backoffLimit %d", retries)
	}
	t.spec.BackoffLimit = ptr.To(retries)
	if j.Executor != "" {
		r.not("executor", "custom executor %q: pods run under the kubelet-executor only", j.Executor)
	}
	if j.ExecutorFlags != "" {
		r.not("executorFlags", "flags of a custom executor")
	}
	if len(j.Parents) > 0 {
		r.not("parents", "a dependent job runs when %s succeed: CronJobs do not trigger each other (use a workflow engine, or run the chain in one Job)", strings.Join(j.Parents, ", "))
	}
	for _, f := range []struct {
		name string
		set  bool
		why  string
	}{
		{"async", j.Async, "async jobs report their own end to Chronos; a Job ends when its pod does"},
		{"highPriority", j.HighPriority, "a PriorityClass would have to be created and named"},
		{"softError", j.SoftError, "a failed Job stays failed; it does not disable the CronJob"},
		{"dataProcessingJobType", j.DataProcessingJobType, "Chronos' dependency-graph marker, without meaning here"},
		{"taskInfoData", j.TaskInfoData != "", "data for a custom executor"},
	} {
		if f.set {
			r.not(f.name, "%s", f.why)
		}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"successCount", len(j.SuccessCount) > 0}, {"errorCount", len(j.ErrorCount) > 0}, {"lastSuccess", len(j.LastSuccess) > 0}, {"lastError", len(j.LastError) > 0}, {"errorsSinceLastSuccess", len(j.ErrorsSinceLastSuccess) > 0}} {
		if f.set {
			r.add(f.name, Ignored, "status of the job in Chronos' answer")
		}
	}

	if j.Schedule != "" {
		sc := schedule{field: "schedule", concurrency: batchv1.ForbidConcurrent, suspend: j.Disabled}
		iso, _ := parseISO8601Schedule(j.Schedule)
		// The start time's hour and minute are read in the job's zone,
		// which the CronJob keeps, so daylight saving shifts alike.
		loc := time.UTC
		sc.timeZone = "Etc/UTC"
		if tz := j.ScheduleTimeZone; tz != "" {
			loc, _ = time.LoadLocation(tz)
			sc.timeZone = tz
			r.converted("scheduleTimeZone", "timeZone %s", tz)
		}
		expr, differs, err := iso.cron(loc)
		if err != nil {
			r.not("schedule", "%s: %v", j.Schedule, err)
			sc.cron, sc.suspend = onDemandSchedule, true
		} else if len(differs) > 0 {
			sc.cron = expr
			r.approx("schedule", "%s: cron %q in %s; %s", j.Schedule, expr, sc.timeZone, strings.Join(differs, "; "))
		} else {
			sc.cron = expr
			r.converted("schedule", "%s: cron %q in %s", j.Schedule, expr, sc.timeZone)
		}
		if j.Epsilon != "" {
			if p, err := parseISOPeriod(j.Epsilon); err != nil {
				r.not("epsilon", "%q: %v", j.Epsilon, err)
			} else if d, ok := p.duration(); ok && d >= time.Second {
				sc.startingDeadline = ptr.To(int64(d / time.Second))
				r.converted("epsilon", "startingDeadlineSeconds %d", *sc.startingDeadline)
			} else {
				r.not("epsilon", "%q: not a duration in seconds", j.Epsilon)
			}
		}
		if j.Concurrent != nil && *j.Concurrent {
			sc.concurrency = batchv1.AllowConcurrent
			r.converted("concurrent", "true: concurrencyPolicy Allow")
		} else if j.Concurrent != nil {
			r.converted("concurrent", "false: concurrencyPolicy Forbid")
		}
		if j.Disabled {
			r.converted("disabled", "suspend")
		}
		t.schedules = []schedule{sc}
	} else {
		t.schedules = []schedule{{cron: onDemandSchedule, timeZone: "Etc/UTC", concurrency: batchv1.ForbidConcurrent, suspend: true}}
	}
	res.Namespace, res.Name = w.p.Namespace, w.p.Name
	res.Objects = t.objects()
	return res
}
