package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeMarathon: any input either decodes, and then converts without
// panicking into objects that render as YAML, or fails with a *FieldError
// of one of the three kinds. Seeded with every testdata input.
func FuzzDecodeMarathon(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id": "/a", "cmd": "x", "constraints": [["rack", "LIKE", "(a|[b-d])x"]]}`))
	f.Add([]byte(`[{"id": "p", "containers": [{"name": "c", "resources": {}, "endpoints": [{"name": "e"}], "healthCheck": {"tcp": {"endpoint": "e"}}}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeMarathon(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrUnknownField) && !errors.Is(err, ErrImpossibleValue) {
				t.Fatalf("error %v is of no known kind", err)
			}
			return
		}
		for _, opts := range []Options{{}, {NamespaceFromGroup: true, CommandImage: "busybox"}} {
			m := MigrateMarathon(d, opts)
			if err := m.WriteYAML(discard{}, All); err != nil {
				t.Fatal(err)
			}
			if err := m.WriteReport(discard{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
