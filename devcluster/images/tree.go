package images

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Tree collects the entries of one layer, adding each missing parent
// directory (mode 0755) before what goes in it.
type Tree struct {
	entries []Entry
	have    map[string]bool
}

// NewTree returns an empty layer.
func NewTree() *Tree { return &Tree{have: map[string]bool{}} }

// BaseTree returns a layer holding baseEntries: the directories and
// account files every image has.
func BaseTree() *Tree {
	t := NewTree()
	for _, e := range baseEntries() {
		t.add(e)
	}
	return t
}

// Entries returns the layer's entries.
func (t *Tree) Entries() []Entry { return append([]Entry(nil), t.entries...) }

// Has says whether the layer holds p (relative, without a leading slash).
func (t *Tree) Has(p string) bool { return t.have[p] }

func (t *Tree) add(e Entry) {
	t.have[e.Path] = true
	t.entries = append(t.entries, e)
}

// clean turns an absolute or relative path into the relative form entries
// use and refuses one that leaves the root.
func clean(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || slices.Contains(strings.Split(p, "/"), "..") {
		return "", fmt.Errorf("images: path %q is not inside the image", p)
	}
	return c, nil
}

// Dir adds directory p and its parents.
func (t *Tree) Dir(p string, mode int64) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	t.parents(c)
	if !t.have[c] {
		t.add(Entry{Path: c, Dir: true, Mode: mode})
	}
	return nil
}

func (t *Tree) parents(c string) {
	var missing []string
	for d := path.Dir(c); d != "." && !t.have[d]; d = path.Dir(d) {
		missing = append([]string{d}, missing...)
	}
	for _, d := range missing {
		t.add(Entry{Path: d, Dir: true, Mode: 0o755})
	}
}

// File adds a regular file at p; a second entry at the same path is an error.
func (t *Tree) File(p string, mode int64, data []byte) error {
	return t.put(p, Entry{Mode: mode, Data: data})
}

// Link adds a symbolic link at p pointing to target.
func (t *Tree) Link(p, target string) error {
	return t.put(p, Entry{Link: target})
}

func (t *Tree) put(p string, e Entry) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if t.have[c] {
		return fmt.Errorf("images: %s twice in one layer", c)
	}
	t.parents(c)
	e.Path = c
	t.add(e)
	return nil
}
