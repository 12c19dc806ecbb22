package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// eachTarEntry calls fn with each header of a tar and the entry's data.
func eachTarEntry(t *testing.T, r io.Reader, fn func(h *tar.Header, data []byte)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h, b)
	}
}

// readLayout returns the files of an OCI layout tar by name.
func readLayout(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	eachTarEntry(t, f, func(h *tar.Header, b []byte) {
		if h.Typeflag == tar.TypeReg {
			files[h.Name] = b
		}
	})
	return files
}

func blob(t *testing.T, files map[string][]byte, d Descriptor) []byte {
	t.Helper()
	b, ok := files[blobPath(d.Digest)]
	if !ok {
		t.Fatalf("blob %s (%s) missing", d.Digest, d.MediaType)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != d.Digest {
		t.Fatalf("blob %s has digest %s", d.Digest, got)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s: size %d, descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

// layerEntries lists a layer's tar headers by name (directories without
// their trailing slash).
func layerEntries(t *testing.T, layer []byte) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	eachTarEntry(t, bytes.NewReader(layer), func(h *tar.Header, _ []byte) {
		out[strings.TrimSuffix(h.Name, "/")] = h
	})
	return out
}

// checkLayout verifies an archive as containerd would: the index, manifest,
// config and layer digests and the image name annotation.
func checkLayout(t *testing.T, a Archive) (ImageConfig, map[string]*tar.Header) {
	t.Helper()
	files := readLayout(t, a.Path)
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout = %q", files["oci-layout"])
	}
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != MediaTypeIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index = %+v", idx)
	}
	md := idx.Manifests[0]
	if md.MediaType != MediaTypeManifest || md.Annotations[AnnotationImageName] != a.Ref || md.Annotations[AnnotationRefName] != tag(a.Ref) {
		t.Fatalf("manifest descriptor = %+v", md)
	}
	if md.Digest != a.Manifest.Digest {
		t.Fatalf("index manifest %s, Build returned %s", md.Digest, a.Manifest.Digest)
	}
	var m Manifest
	if err := json.Unmarshal(blob(t, files, md), &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != MediaTypeManifest || m.Config.MediaType != MediaTypeConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeLayer {
		t.Fatalf("manifest = %+v", m)
	}
	var cfg ImageConfig
	if err := json.Unmarshal(blob(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("config = %+v, layer %s", cfg, m.Layers[0].Digest)
	}
	return cfg, layerEntries(t, blob(t, files, m.Layers[0]))
}

func TestBuild(t *testing.T) {
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Skipf("needs Debian's busybox-static at %s: %v", DefaultBusybox, err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	archives, err := Build(ctx, Options{OutDir: dir, SourceDir: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) != 2 || archives[0].Ref != BusyboxRef || archives[1].Ref != PauseRef {
		t.Fatalf("archives = %+v", archives)
	}

	cfg, entries := checkLayout(t, archives[0])
	if len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "sh" {
		t.Errorf("busybox Cmd = %v", cfg.Config.Cmd)
	}
	bin, err := os.ReadFile(DefaultBusybox)
	if err != nil {
		t.Fatal(err)
	}
	if h := entries["bin/busybox"]; h == nil || h.Size != int64(len(bin)) || h.Mode&0o111 == 0 {
		t.Fatalf("bin/busybox entry = %+v", h)
	}
	for _, applet := range []string{"bin/sh", "bin/sleep", "usr/sbin/httpd", "usr/bin/wget", "bin/hostname", "bin/mkdir"} {
		h := entries[applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("applet %s: entry %+v", applet, h)
		}
	}
	if h := entries["tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode&0o1777 != 0o1777 {
		t.Errorf("tmp entry = %+v", h)
	}

	cfg, entries = checkLayout(t, archives[1])
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pause" {
		t.Errorf("pause Entrypoint = %v (the pause program was not built?)", cfg.Config.Entrypoint)
	}
	if h := entries["pause"]; h == nil || h.Typeflag != tar.TypeReg || h.Size == 0 {
		t.Errorf("pause entry = %+v", h)
	}

	// The same inputs give the same digests.
	again, err := WriteArchive(mustBusybox(t), filepath.Join(dir, "again.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Manifest.Digest != archives[0].Manifest.Digest {
		t.Errorf("busybox manifest digest changed between builds: %s, %s", archives[0].Manifest.Digest, again.Manifest.Digest)
	}
}

func mustBusybox(t *testing.T) Image {
	img, err := Busybox(context.Background(), DefaultBusybox)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestLayerRejectsDuplicates(t *testing.T) {
	_, err := Layer([]Entry{{Path: "a", Data: []byte("x")}, {Path: "/a", Data: []byte("y")}})
	if err == nil {
		t.Fatal("Layer accepted the same path twice")
	}
}

func TestReadStaticRejectsNonELF(t *testing.T) {
	f := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Pause(f); err == nil {
		t.Fatal("Pause accepted a shell script")
	}
}

func TestArchiveName(t *testing.T) {
	for ref, want := range map[string]string{BusyboxRef: "busybox.tar", PauseRef: "pause.tar", "x/y/z:1": "z.tar", "plain": "plain.tar"} {
		if got := archiveName(ref); got != want {
			t.Errorf("archiveName(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestBuildBinaryImages(t *testing.T) {
	if _, err := os.Stat(DefaultBusybox); err != nil {
		t.Skip("needs busybox-static as a static binary to package")
	}
	// Any static binary stands in for the programs make tools builds.
	bin := t.TempDir()
	list := append(append([]BinaryImage(nil), Addons...), TestServers...)
	for _, s := range list {
		if err := os.Symlink(DefaultBusybox, filepath.Join(bin, s.Binary)); err != nil {
			t.Fatal(err)
		}
	}
	archives, err := BuildBinaryImages(list, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) != len(list) {
		t.Fatalf("%d archives for %d programs", len(archives), len(list))
	}
	for i, a := range archives {
		s := list[i]
		cfg, entries := checkLayout(t, a)
		if a.Ref != s.Ref {
			t.Errorf("archive %d is %s, want %s", i, a.Ref, s.Ref)
		}
		if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != s.Path {
			t.Errorf("%s: entrypoint %v, want [%s]", s.Ref, cfg.Config.Entrypoint, s.Path)
		}
		h := entries[s.Path[1:]]
		if h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Fatalf("%s: %s missing or not executable: %+v", s.Ref, s.Path, h)
		}
		for d := filepath.Dir(s.Path[1:]); d != "."; d = filepath.Dir(d) {
			if p := entries[d]; p == nil || p.Typeflag != tar.TypeDir {
				t.Errorf("%s: parent %s of %s missing", s.Ref, d, s.Path)
			}
		}
	}
	if _, err := BuildBinaryImages(list, t.TempDir(), t.TempDir()); err == nil {
		t.Error("no error for a bin directory without the programs")
	}
	if _, err := Program("x", DefaultBusybox, "relative/path"); err == nil {
		t.Error("no error for a relative path in the image")
	}
}

func TestArchiveNames(t *testing.T) {
	a := Archive{Ref: "a:1", Aliases: []string{"b:1"}, Images: []string{"a:1", "c:1", ""}}
	if got := strings.Join(a.Names(), ","); got != "a:1,b:1,c:1" {
		t.Fatalf("Names = %s, want a:1,b:1,c:1", got)
	}
}
