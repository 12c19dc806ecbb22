package migrate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// ObjectYAML is one object as YAML, without the fields a typed object
// always has but a manifest does not (creationTimestamp: null, status: {}).
func ObjectYAML(o runtime.Object) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	prune(u)
	// A manifest has no status, and no empty spec (a Namespace's).
	delete(u, "status")
	if spec, ok := u["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(u, "spec")
	}
	out, err := yaml.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return out, nil
}

// prune removes null values and empty status objects, at any depth.
func prune(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(t)
			if k == "status" && len(t) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

// ResultYAML is a result's objects as one YAML stream, each document
// starting with "---".
func ResultYAML(r *Result) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range r.Objects {
		y, err := ObjectYAML(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Report.ID, err)
		}
		b.WriteString("---\n")
		if i == 0 {
			fmt.Fprintf(&b, "# from %s %s\n", r.Report.Source, r.Report.ID)
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// NamespacesYAML is the migration's Namespaces as one YAML stream.
func (m *Migration) NamespacesYAML() ([]byte, error) {
	var b bytes.Buffer
	for _, ns := range m.Namespaces {
		y, err := ObjectYAML(ns)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// Include says whether a result's objects are written or applied.
type Include func(*Result) bool

// All includes every result with objects.
func All(r *Result) bool { return len(r.Objects) > 0 }

// WriteYAML writes the Namespaces, then the objects of each included
// result, as one stream.
func (m *Migration) WriteYAML(w io.Writer, include Include) error {
	ns, err := m.NamespacesYAML()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Write(ns)
	for i := range m.Results {
		r := &m.Results[i]
		if !include(r) {
			continue
		}
		y, err := ResultYAML(r)
		if err != nil {
			return err
		}
		b.Write(y)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// WriteDir writes one file per app, pod or job into dir
// (NAMESPACE_NAME.yaml: '_' is in neither name), namespaces.yaml and
// report.txt.
func (m *Migration) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(m.Namespaces) > 0 {
		ns, err := m.NamespacesYAML()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "namespaces.yaml"), ns, 0o644); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for i := range m.Results {
		r := &m.Results[i]
		if len(r.Objects) == 0 {
			continue
		}
		y, err := ResultYAML(r)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, r.Namespace+"_"+r.Name+".yaml"), y, 0o644); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	var rep bytes.Buffer
	if err := m.WriteReport(&rep); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), rep.Bytes(), 0o644); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// WriteReport writes every result's report and a summary line.
func (m *Migration) WriteReport(w io.Writer) error {
	var b bytes.Buffer
	n := 0
	for i := range m.Results {
		r := &m.Results[i]
		if err := r.Report.WriteText(&b); err != nil {
			return err
		}
		if len(r.Objects) > 0 {
			n++
		}
	}
	fmt.Fprintf(&b, "%d of %d converted\n", m.Converted(), n)
	_, err := w.Write(b.Bytes())
	return err
}

// Converted is how many apps, pods and jobs converted (Result.Converted).
func (m *Migration) Converted() int {
	n := 0
	for i := range m.Results {
		if len(m.Results[i].Objects) > 0 && m.Results[i].Converted() {
			n++
		}
	}
	return n
}
