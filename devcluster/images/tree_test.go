package images

import "testing"

func TestTree(t *testing.T) {
	tr := NewTree()
	if err := tr.File("/usr/local/bin/x", 0o755, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr", "usr/local", "usr/local/bin", "usr/local/bin/x"} {
		if !tr.Has(p) {
			t.Errorf("tree lacks %s", p)
		}
	}
	if es := tr.Entries(); len(es) != 4 || !es[0].Dir || es[3].Path != "usr/local/bin/x" {
		t.Errorf("entries = %+v, want the parents first", es)
	}
	if err := tr.File("usr/local/bin/x", 0o644, nil); err == nil {
		t.Error("a second file at the same path was accepted")
	}
	if err := tr.Link("lib/a..b", "x"); err != nil {
		t.Errorf("a name with two dots: %v", err)
	}
	for _, bad := range []string{"", "/", "../etc/passwd", "a/../../b"} {
		if err := tr.File(bad, 0o644, nil); err == nil {
			t.Errorf("File(%q) accepted a path outside the image", bad)
		}
	}
	if err := tr.Dir("usr/local", 0o755); err != nil {
		t.Errorf("Dir of an existing directory: %v", err)
	}
}
