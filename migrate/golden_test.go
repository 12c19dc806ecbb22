package migrate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml and *.report.txt from the conversion")

// goldenOptions are the options each testdata input is converted with;
// every testdata/*.json must be listed.
var goldenOptions = map[string]Options{
	"app-docker.json":    {},
	"group-nested.json":  {NamespaceFromGroup: true},
	"v2-apps.json":       {Namespace: "tools", Limits: LimitsAll},
	"v2-groups.json":     {NamespaceFromGroup: true, Limits: LimitsNone},
	"pods.json":          {NamespaceFromGroup: true},
	"metronome-job.json": {NamespaceFromGroup: true},
	"chronos-jobs.json":  {Namespace: "data", CommandImage: "debian:12"},
	"e2e-group.json":     {NamespaceFromGroup: true},
	"e2e-metronome.json": {Namespace: "e2e"},
}

// migrateFile converts one testdata input by its name: metronome-*,
// chronos-*, e2e-metronome* by their decoders, the rest as Marathon.
func migrateFile(t *testing.T, name string, opts Options) *Migration {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.Contains(name, "metronome"):
		jobs, err := DecodeMetronome(data)
		if err != nil {
			t.Fatal(err)
		}
		return MigrateMetronome(jobs, opts)
	case strings.HasPrefix(name, "chronos"):
		jobs, err := DecodeChronos(data)
		if err != nil {
			t.Fatal(err)
		}
		return MigrateChronos(jobs, opts)
	}
	d, err := DecodeMarathon(data)
	if err != nil {
		t.Fatal(err)
	}
	return MigrateMarathon(d, opts)
}

// TestGolden converts each testdata/*.json and compares the YAML and the
// report with testdata/NAME.yaml and NAME.report.txt (go test -update
// rewrites them); the YAML must also decode strictly back into the
// Kubernetes types and pass the validation apimachinery has.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		opts, ok := goldenOptions[name]
		if !ok {
			t.Errorf("%s has no entry in goldenOptions", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := migrateFile(t, name, opts)
			var y, rep bytes.Buffer
			if err := m.WriteYAML(&y, All); err != nil {
				t.Fatal(err)
			}
			if err := m.WriteReport(&rep); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".json")
			compareGolden(t, base+".yaml", y.Bytes())
			compareGolden(t, base+".report.txt", rep.Bytes())
			// What is applied without --partial must be valid; an app that
			// did not convert may lack an image.
			var ok bytes.Buffer
			if err := m.WriteYAML(&ok, func(r *Result) bool { return All(r) && r.Converted() }); err != nil {
				t.Fatal(err)
			}
			if m.Converted() > 0 {
				validateStream(t, ok.Bytes())
			}
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./migrate/ -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./migrate/ -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff is the first lines that differ, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			n++
		}
	}
	return b.String()
}

// validateStream decodes every document strictly into its Kubernetes type
// and validates what apimachinery can: object metadata and names, labels,
// selectors matching the pod template, container, port and env names.
func validateStream(t *testing.T, stream []byte) {
	t.Helper()
	docs := strings.Split(string(stream), "\n---\n")
	n := 0
	for _, doc := range docs {
		doc = strings.TrimPrefix(doc, "---\n")
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("document %q: %v", doc, err)
		}
		if head.Kind == "" {
			continue // a comment only
		}
		n++
		var errs field.ErrorList
		switch head.Kind {
		case "Namespace":
			var o corev1.Namespace
			strict(t, doc, &o)
			errs = apivalidation.ValidateObjectMeta(&o.ObjectMeta, false, apivalidation.ValidateNamespaceName, field.NewPath("metadata"))
		case "Service":
			var o corev1.Service
			strict(t, doc, &o)
			errs = apivalidation.ValidateObjectMeta(&o.ObjectMeta, true, apivalidation.NameIsDNS1035Label, field.NewPath("metadata"))
			seen := map[string]bool{}
			for i, p := range o.Spec.Ports {
				f := field.NewPath("spec", "ports").Index(i)
				if len(o.Spec.Ports) > 1 && p.Name == "" {
					errs = append(errs, field.Required(f.Child("name"), "with several ports"))
				}
				if p.Name != "" {
					for _, m := range validation.IsValidPortName(p.Name) {
						errs = append(errs, field.Invalid(f.Child("name"), p.Name, m))
					}
				}
				key := p.Name + "/" + string(p.Protocol)
				if seen[key] {
					errs = append(errs, field.Duplicate(f, key))
				}
				seen[key] = true
				for _, m := range validation.IsValidPortNum(int(p.Port)) {
					errs = append(errs, field.Invalid(f.Child("port"), p.Port, m))
				}
			}
		case "Deployment":
			var o appsv1.Deployment
			strict(t, doc, &o)
			errs = apivalidation.ValidateObjectMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
			errs = append(errs, validateTemplate(o.Spec.Selector, &o.Spec.Template, nil, field.NewPath("spec"))...)
		case "StatefulSet":
			var o appsv1.StatefulSet
			strict(t, doc, &o)
			errs = apivalidation.ValidateObjectMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
			errs = append(errs, validateTemplate(o.Spec.Selector, &o.Spec.Template, o.Spec.VolumeClaimTemplates, field.NewPath("spec"))...)
			for i, c := range o.Spec.VolumeClaimTemplates {
				if !mounted(&o.Spec.Template.Spec, c.Name) {
					errs = append(errs, field.Invalid(field.NewPath("spec", "volumeClaimTemplates").Index(i), c.Name, "not mounted"))
				}
			}
		case "CronJob":
			var o batchv1.CronJob
			strict(t, doc, &o)
			errs = apivalidation.ValidateObjectMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
			if len(o.Name) > 52 {
				errs = append(errs, field.TooLong(field.NewPath("metadata", "name"), o.Name, 52))
			}
			if _, err := parseCron(o.Spec.Schedule); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "schedule"), o.Spec.Schedule, err.Error()))
			}
			errs = append(errs, validatePodSpec(&o.Spec.JobTemplate.Spec.Template.Spec, nil, field.NewPath("spec", "jobTemplate", "spec", "template", "spec"))...)
			if o.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				errs = append(errs, field.Invalid(field.NewPath("spec", "jobTemplate", "spec", "template", "spec", "restartPolicy"), o.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy, "want Never"))
			}
		default:
			t.Fatalf("unexpected kind %s", head.Kind)
		}
		if len(errs) > 0 {
			t.Errorf("%s: %v", head.Kind, errs.ToAggregate())
		}
	}
	if n == 0 {
		t.Fatal("no objects")
	}
}

func strict(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("does not decode strictly: %v\n%s", err, doc)
	}
}

func validateTemplate(sel *metav1.LabelSelector, tpl *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim, f *field.Path) field.ErrorList {
	names := map[string]bool{}
	for _, c := range claims {
		names[c.Name] = true
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, f.Child("selector"))
	errs = append(errs, metav1validation.ValidateLabels(tpl.Labels, f.Child("template", "metadata", "labels"))...)
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || !s.Matches(labels.Set(tpl.Labels)) {
		errs = append(errs, field.Invalid(f.Child("selector"), sel, "does not select the template's labels"))
	}
	return append(errs, validatePodSpec(&tpl.Spec, names, f.Child("template", "spec"))...)
}

func validatePodSpec(spec *corev1.PodSpec, claims map[string]bool, f *field.Path) field.ErrorList {
	var errs field.ErrorList
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		for _, m := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(f.Child("volumes"), v.Name, m))
		}
		if vols[v.Name] {
			errs = append(errs, field.Duplicate(f.Child("volumes"), v.Name))
		}
		vols[v.Name] = true
	}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(f.Child("containers"), ""))
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i, c := range all {
		cf := f.Child("containers").Index(i)
		for _, m := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(cf.Child("name"), c.Name, m))
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cf.Child("name"), c.Name))
		}
		names[c.Name] = true
		if c.Image == "" {
			errs = append(errs, field.Required(cf.Child("image"), ""))
		}
		for j, p := range c.Ports {
			if p.Name != "" {
				for _, m := range validation.IsValidPortName(p.Name) {
					errs = append(errs, field.Invalid(cf.Child("ports").Index(j).Child("name"), p.Name, m))
				}
			}
			for _, m := range validation.IsValidPortNum(int(p.ContainerPort)) {
				errs = append(errs, field.Invalid(cf.Child("ports").Index(j).Child("containerPort"), p.ContainerPort, m))
			}
		}
		for j, e := range c.Env {
			for _, m := range validation.IsEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(cf.Child("env").Index(j).Child("name"), e.Name, m))
			}
		}
		for j, m := range c.VolumeMounts {
			if !vols[m.Name] && !claims[m.Name] {
				errs = append(errs, field.NotFound(cf.Child("volumeMounts").Index(j).Child("name"), m.Name))
			}
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.Type == intstr.String && !hasPortName(c, p.HTTPGet.Port.StrVal) {
				errs = append(errs, field.NotFound(cf.Child("probe", "httpGet", "port"), p.HTTPGet.Port.StrVal))
			}
		}
	}
	return errs
}

func mounted(spec *corev1.PodSpec, volume string) bool {
	for _, c := range spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == volume {
				return true
			}
		}
	}
	return false
}

func hasPortName(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}
