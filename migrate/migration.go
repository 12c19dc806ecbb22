package migrate

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Migration is everything one input became: a Result per app, pod or job
// (and per group with something to say), and the namespaces they need.
type Migration struct {
	Results []Result
	// Namespaces are created before the objects ("default" is not).
	Namespaces []*corev1.Namespace
}

// MigrateMarathon converts every app and pod of a Marathon document.
func MigrateMarathon(d *Definitions, opts Options) *Migration {
	m := &Migration{}
	for _, g := range d.Groups {
		res := Result{Report: Report{Source: "marathon group", ID: g.ID, NotesOnly: true}}
		dependencies(&res.Report, "dependencies", g.Dependencies)
		if g.EnforceRole != nil {
			res.Report.approx("enforceRole", "%v: kubemesos places every pod with its bridge's --role", *g.EnforceRole)
		}
		m.Results = append(m.Results, res)
	}
	for i := range d.Apps {
		m.Results = append(m.Results, ConvertApp(&d.Apps[i], opts))
	}
	for i := range d.Pods {
		m.Results = append(m.Results, ConvertPod(&d.Pods[i], opts))
	}
	m.namespaces()
	return m
}

// MigrateMetronome converts Metronome jobs.
func MigrateMetronome(jobs []MetronomeJob, opts Options) *Migration {
	m := &Migration{}
	for i := range jobs {
		m.Results = append(m.Results, ConvertMetronome(&jobs[i], opts))
	}
	m.namespaces()
	return m
}

// MigrateChronos converts Chronos jobs.
func MigrateChronos(jobs []ChronosJob, opts Options) *Migration {
	m := &Migration{}
	for i := range jobs {
		m.Results = append(m.Results, ConvertChronos(&jobs[i], opts))
	}
	m.namespaces()
	return m
}

func (m *Migration) namespaces() {
	seen := map[string]bool{}
	for _, r := range m.Results {
		if len(r.Objects) == 0 || r.Namespace == "" || r.Namespace == metav1.NamespaceDefault || seen[r.Namespace] {
			continue
		}
		seen[r.Namespace] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m.Namespaces = append(m.Namespaces, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{LabelManagedBy: ManagedBy}},
		})
	}
}
