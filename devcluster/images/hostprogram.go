package images

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// LibraryDirs are where Debian's dynamic loader looks for shared libraries
// when there is no ld.so.cache, in its order; an image that holds a host
// program's libraries under the same paths needs no cache either.
var LibraryDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// HostFiles are files of the host (Debian packages) that go into an image
// at the same paths, each dynamically linked program with its loader and the
// shared libraries it needs, found as the loader finds them.
type HostFiles struct {
	// Root is the host's root directory ("/" when empty); tests use a tree
	// of their own.
	Root string
	// LibraryDirs overrides the package's LibraryDirs.
	LibraryDirs []string
}

// AddPrograms adds each program (an absolute path on the host) to t at the
// same path, with the closure of its DT_NEEDED libraries and its PT_INTERP
// loader; a library that cannot be found is an error.
func (h HostFiles) AddPrograms(t *Tree, programs ...string) error {
	dirs := h.LibraryDirs
	if dirs == nil {
		dirs = LibraryDirs
	}
	queue := append([]string(nil), programs...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		c, err := clean(p)
		if err != nil {
			return err
		}
		if t.Has(c) {
			continue
		}
		data, needs, err := h.readELF(p, dirs)
		if err != nil {
			return err
		}
		if err := t.File(p, 0o755, data); err != nil {
			return err
		}
		queue = append(queue, needs...)
	}
	return nil
}

// readELF returns the file at p (following symbolic links on the host) and
// the absolute paths of its loader and the libraries it names.
func (h HostFiles) readELF(p string, dirs []string) ([]byte, []string, error) {
	host := h.hostPath(p)
	data, err := os.ReadFile(host)
	if err != nil {
		return nil, nil, fmt.Errorf("images: %w", err)
	}
	f, err := elf.Open(host)
	if err != nil {
		return nil, nil, fmt.Errorf("images: %s: %w", p, err)
	}
	defer f.Close()
	var needs []string
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return nil, nil, fmt.Errorf("images: %s: interpreter: %w", p, err)
		}
		if n := len(b); n > 0 && b[n-1] == 0 {
			b = b[:n-1]
		}
		needs = append(needs, string(b))
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, nil, fmt.Errorf("images: %s: %w", p, err)
	}
	for _, lib := range libs {
		found := ""
		for _, d := range dirs {
			if _, err := os.Stat(h.hostPath(path.Join(d, lib))); err == nil {
				found = path.Join(d, lib)
				break
			}
		}
		if found == "" {
			return nil, nil, fmt.Errorf("images: %s needs %s, not in %v", p, lib, dirs)
		}
		needs = append(needs, found)
	}
	return data, needs, nil
}

func (h HostFiles) hostPath(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}
