package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"
)

// References of the images the dev cluster builds.
const (
	BusyboxRef = "kubemesos.local/busybox:latest"
	PauseRef   = "kubemesos.local/pause:latest"
)

// DefaultBusybox is where Debian's busybox-static installs its binary.
const DefaultBusybox = "/bin/busybox"

// PauseSource is the package of the pause program, relative to the module root.
const PauseSource = "hack/images/pause"

// Namespace is the containerd namespace the CRI plugin serves images from.
const Namespace = "k8s.io"

// Archive is an image written to disk as an OCI layout tar.
type Archive struct {
	Ref  string
	Path string
	// Aliases are further names ImportAll gives the image.
	Aliases []string
	// Images lists every name a layout of several images holds (Ref among
	// them); the import gives them all.
	Images []string
	// Manifest is the descriptor of the image manifest.
	Manifest Descriptor
}

// Names are every name the archive's images get on import: Ref, Aliases
// and Images, each once.
func (a Archive) Names() []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range append(append([]string{a.Ref}, a.Aliases...), a.Images...) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Options says where to write the images and what to put in them.
type Options struct {
	// OutDir receives <name>.tar per image. Required.
	OutDir string
	// Busybox is a statically linked busybox; default DefaultBusybox.
	Busybox string
	// PauseBinary is a statically linked pause program. When empty, Build
	// compiles PauseSource with the Go toolchain from SourceDir (or the
	// module root found above the working directory); when that is not
	// possible the sandbox image runs `busybox sleep infinity` instead, which
	// does not reap zombies.
	PauseBinary string
	// SourceDir is the module root holding PauseSource.
	SourceDir string
}

// Build writes the busybox and pause images into opts.OutDir.
func Build(ctx context.Context, opts Options) ([]Archive, error) {
	if opts.OutDir == "" {
		return nil, fmt.Errorf("images: no output directory")
	}
	if opts.Busybox == "" {
		opts.Busybox = DefaultBusybox
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	bb, err := Busybox(ctx, opts.Busybox)
	if err != nil {
		return nil, err
	}
	var pause Image
	pauseBin := opts.PauseBinary
	if pauseBin == "" {
		pauseBin, err = buildPause(ctx, opts)
		if err != nil {
			klog.FromContext(ctx).Info("Cannot build the pause program; the sandbox image runs busybox sleep instead", "err", err)
		}
	}
	if pauseBin != "" {
		pause, err = Pause(pauseBin)
	} else {
		pause, err = SleepPause(opts.Busybox)
	}
	if err != nil {
		return nil, err
	}
	var out []Archive
	for _, img := range []Image{bb, pause} {
		a, err := WriteArchive(img, filepath.Join(opts.OutDir, archiveName(img.Ref)))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// archiveName is the file name of an image's archive: "busybox.tar" for
// "kubemesos.local/busybox:latest".
func archiveName(ref string) string {
	name := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i]
	}
	return name + ".tar"
}

// WriteArchive writes img to file (atomically, through a temporary file).
func WriteArchive(img Image, file string) (Archive, error) {
	var desc Descriptor
	err := writeFileAtomic(file, func(w io.Writer) error {
		var err error
		desc, err = WriteOCIArchive(w, img)
		return err
	})
	if err != nil {
		return Archive{}, err
	}
	return Archive{Ref: img.Ref, Path: file, Manifest: desc}, nil
}

// writeFileAtomic writes file through a temporary file in its directory.
func writeFileAtomic(file string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".image-*")
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("images: %w", err)
	}
	w := bufio.NewWriter(tmp)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("images: write %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return nil
}

// The accounts every image has.
const (
	basePasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	baseGroup  = "root:x:0:\nnogroup:x:65534:\n"
)

// baseEntries are the directories and files every image has.
func baseEntries() []Entry {
	dirs := map[string]int64{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"etc": 0o755, "root": 0o700, "tmp": 0o1777, "var": 0o755, "var/run": 0o755,
		"proc": 0o555, "sys": 0o555, "dev": 0o755,
	}
	var es []Entry
	for d, m := range dirs {
		es = append(es, Entry{Path: d, Dir: true, Mode: m})
	}
	es = append(es,
		Entry{Path: "etc/passwd", Mode: 0o644, Data: []byte(basePasswd)},
		Entry{Path: "etc/group", Mode: 0o644, Data: []byte(baseGroup)},
	)
	return es
}

// Busybox returns the busybox image: the static binary at bin/busybox and a
// symlink to it for each applet it lists.
func Busybox(ctx context.Context, busybox string) (Image, error) {
	data, err := readStatic(busybox)
	if err != nil {
		return Image{}, err
	}
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return Image{}, fmt.Errorf("images: %s --list-full: %w", busybox, err)
	}
	es := baseEntries()
	have := map[string]bool{}
	for _, e := range es {
		have[e.Path] = true
	}
	es = append(es, Entry{Path: "bin/busybox", Mode: 0o755, Data: data})
	have["bin/busybox"] = true
	for _, line := range strings.Split(string(out), "\n") {
		p := strings.Trim(strings.TrimSpace(line), "/")
		if p == "" || have[p] {
			continue
		}
		dir := filepath.Dir(p)
		if !have[dir] && dir != "." {
			// Applets live in bin, sbin, usr/bin and usr/sbin, all in the base.
			return Image{}, fmt.Errorf("images: busybox applet %q outside the base directories", p)
		}
		have[p] = true
		es = append(es, Entry{Path: p, Link: "/bin/busybox"})
	}
	if !have["bin/sh"] {
		return Image{}, fmt.Errorf("images: %s has no sh applet", busybox)
	}
	return Image{
		Ref:     BusyboxRef,
		Entries: es,
		Config: Config{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}, nil
}

// Pause returns the sandbox image around a static pause binary.
func Pause(binary string) (Image, error) {
	data, err := readStatic(binary)
	if err != nil {
		return Image{}, err
	}
	es := append(baseEntries(), Entry{Path: "pause", Mode: 0o755, Data: data})
	return Image{
		Ref:     PauseRef,
		Entries: es,
		Config:  Config{Entrypoint: []string{"/pause"}},
	}, nil
}

// SleepPause returns a sandbox image that runs `busybox sleep infinity`.
func SleepPause(busybox string) (Image, error) {
	data, err := readStatic(busybox)
	if err != nil {
		return Image{}, err
	}
	es := append(baseEntries(), Entry{Path: "bin/busybox", Mode: 0o755, Data: data})
	return Image{
		Ref:     PauseRef,
		Entries: es,
		Config:  Config{Entrypoint: []string{"/bin/busybox", "sleep", "infinity"}},
	}, nil
}

// readStatic reads an executable and refuses one that needs a dynamic loader,
// which an image without libc could not run.
func readStatic(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	if len(data) < 4 || !bytes.Equal(data[:4], []byte("\x7fELF")) {
		return nil, fmt.Errorf("images: %s is not an ELF executable", path)
	}
	if bytes.Contains(data, []byte("/lib64/ld-linux")) || bytes.Contains(data, []byte("/lib/ld-linux")) {
		return nil, fmt.Errorf("images: %s is dynamically linked", path)
	}
	return data, nil
}

// buildPause compiles the pause program into opts.OutDir with CGO disabled.
func buildPause(ctx context.Context, opts Options) (string, error) {
	src := opts.SourceDir
	if src == "" {
		var err error
		if src, err = moduleRoot(); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(src, PauseSource, "main.go")); err != nil {
		return "", fmt.Errorf("pause source: %w", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if _, serr := os.Stat("/usr/local/go/bin/go"); serr != nil {
			return "", fmt.Errorf("no Go toolchain: %w", err)
		}
		goBin = "/usr/local/go/bin/go"
	}
	out, err := filepath.Abs(filepath.Join(opts.OutDir, "pause"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./"+PauseSource)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", PauseSource, err, b)
	}
	return out, nil
}

// moduleRoot finds the kubemesos module root above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/kubemesos/kubemesos\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no kubemesos module above the working directory")
		}
		dir = parent
	}
}

// ImportAll imports the archives into the containerd at socket, in the
// namespace the CRI plugin uses, unpacked for its default snapshotter.
func ImportAll(ctx context.Context, socket string, archives []Archive) error {
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return fmt.Errorf("images: ctr: %w", err)
	}
	for _, a := range archives {
		cmd := exec.CommandContext(ctx, ctr, "-a", socket, "-n", Namespace, "images", "import", a.Path)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("images: import %s into %s: %w: %s", a.Ref, socket, err, bytes.TrimSpace(out))
		}
		for _, alias := range a.Aliases {
			cmd := exec.CommandContext(ctx, ctr, "-a", socket, "-n", Namespace, "images", "tag", "--force", a.Ref, alias)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("images: tag %s as %s in %s: %w: %s", a.Ref, alias, socket, err, bytes.TrimSpace(out))
			}
		}
		klog.FromContext(ctx).V(2).Info("Imported image", "ref", a.Ref, "containerd", socket)
	}
	return nil
}
