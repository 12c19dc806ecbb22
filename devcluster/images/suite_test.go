package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// suiteBin makes a bin directory for Suite: busybox stands in for the
// static programs (agnhost, nnp, sample-apiserver, etcd), beside the files
// hack/build-test-images.sh copies.
func suiteBin(t *testing.T) string {
	t.Helper()
	for _, need := range []string{DefaultBusybox, DefaultBash, Dig, Getent, Curl, Netcat, IP} {
		if _, err := os.Stat(need); err != nil {
			t.Skipf("needs %s (busybox-static, bash-static, bind9-dnsutils, curl, netcat-openbsd, iproute2): %v", need, err)
		}
	}
	bin := t.TempDir()
	for _, b := range []string{"agnhost", NonewprivsBinary, "sample-apiserver", "etcd"} {
		if err := os.Symlink(DefaultBusybox, filepath.Join(bin, b)); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"agnhost/localhost.crt": "crt", "agnhost/localhost.key": "key",
		"kitten/kitten.jpg": "kitten", "kitten/data.json": `{"image": "kitten.jpg"}`,
		"nautilus/nautilus.jpg": "nautilus", "nautilus/data.json": `{"image": "nautilus.jpg"}`,
	} {
		p := filepath.Join(bin, SuiteFilesDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// layoutImage reads one named image of a layout tar: its config and the
// entries of its layers merged bottom first, with their data.
type layoutImage struct {
	config  ImageConfig
	layers  []string
	entries map[string]*tar.Header
	data    map[string][]byte
}

func readLayoutImages(t *testing.T, path string) (map[string]layoutImage, map[string][]byte) {
	t.Helper()
	files := readLayout(t, path)
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	out := map[string]layoutImage{}
	for _, md := range idx.Manifests {
		var m Manifest
		if err := json.Unmarshal(blob(t, files, md), &m); err != nil {
			t.Fatal(err)
		}
		img := layoutImage{entries: map[string]*tar.Header{}, data: map[string][]byte{}}
		if err := json.Unmarshal(blob(t, files, m.Config), &img.config); err != nil {
			t.Fatal(err)
		}
		for i, l := range m.Layers {
			if img.config.RootFS.DiffIDs[i] != l.Digest {
				t.Fatalf("%s: diff_id %d is %s, layer %s", md.Annotations[AnnotationImageName], i, img.config.RootFS.DiffIDs[i], l.Digest)
			}
			img.layers = append(img.layers, l.Digest)
			eachTarEntry(t, bytes.NewReader(blob(t, files, l)), func(h *tar.Header, b []byte) {
				name := strings.TrimSuffix(h.Name, "/")
				img.entries[name] = h
				img.data[name] = b
			})
		}
		out[md.Annotations[AnnotationImageName]] = img
	}
	return out, files
}

func TestBuildSuite(t *testing.T) {
	bin := suiteBin(t)
	out, cache := t.TempDir(), t.TempDir()
	a, err := BuildSuite(context.Background(), SuiteOptions{BinDir: bin}, out, cache)
	if err != nil {
		t.Fatal(err)
	}
	imgs, files := readLayoutImages(t, a.Path)
	for _, name := range []string{SuiteAgnhost, AgnhostRef, SuiteAgnhostPrev, SuiteBusybox, SuiteBusyboxPrev, SuiteGlibcDNSTesting,
		SuiteNonewprivs, SuiteNonRoot, SuiteNginx, SuiteNginxNew, SuiteKitten, SuiteNautilus,
		SuiteSampleAPIServer, SampleAPIServerRef, SuiteEtcd, EtcdRef} {
		if _, ok := imgs[name]; !ok {
			t.Errorf("layout has no image %s", name)
		}
	}
	if len(a.Images) != len(imgs) {
		t.Errorf("Archive.Images lists %d names, the layout %d", len(a.Images), len(imgs))
	}

	bb := imgs[SuiteBusybox]
	for _, applet := range []string{"bin/sysctl", "sbin/sysctl", "bin/env", "bin/id", "bin/hostname", "bin/seq", "bin/awk", "usr/bin/awk"} {
		if h := bb.entries[applet]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("busybox: %s = %+v, want a link to /bin/busybox", applet, h)
		}
	}
	if h := bb.entries["bin/sh"]; h == nil || h.Linkname != "/bin/bash" {
		t.Errorf("busybox: bin/sh = %+v, want a link to /bin/bash", h)
	}
	if h := bb.entries["bin/bash"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("busybox: bin/bash = %+v", h)
	}

	agn := imgs[SuiteAgnhost]
	if got := agn.config.Config.Entrypoint; len(got) != 1 || got[0] != "/agnhost" {
		t.Errorf("agnhost entrypoint %v", got)
	}
	for _, p := range []string{"agnhost", "bin/sh", "usr/bin/dig", "usr/bin/getent", "usr/bin/curl", "usr/sbin/ip", "bin/nc.openbsd", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6", "etc/nsswitch.conf", "localhost.crt", "uploads"} {
		if agn.entries[p] == nil {
			t.Errorf("agnhost image has no %s", p)
		}
	}
	if !bytes.Contains(agn.data["etc/passwd"], []byte("user-defined-in-image:x:1000:")) || !bytes.Contains(agn.data["etc/group"], []byte("group-defined-in-image:x:50000:")) {
		t.Errorf("agnhost image lacks the upstream image's user and group: %q %q", agn.data["etc/passwd"], agn.data["etc/group"])
	}
	if prev := imgs[SuiteAgnhostPrev]; prev.config.Config.Labels["org.opencontainers.image.version"] != "2.55" || strings.Join(prev.layers, ",") != strings.Join(agn.layers, ",") {
		t.Errorf("agnhost 2.55: labels %v, layers %v; want its own version and agnhost's layers %v", prev.config.Config.Labels, prev.layers, agn.layers)
	}

	if h := imgs[SuiteNonewprivs].entries["usr/local/bin/nnp"]; h == nil || h.Mode&0o4000 == 0 || h.Uid != 0 {
		t.Errorf("nonewprivs: usr/local/bin/nnp = %+v, want set-user-ID root", h)
	}
	if u := imgs[SuiteNonRoot].config.Config.User; u != NonRootUID {
		t.Errorf("nonroot runs as %q, want %s", u, NonRootUID)
	}
	ng := imgs[SuiteNginx]
	if got := strings.Join(ng.config.Config.Entrypoint, " "); got != "/agnhost test-webserver" || !bytes.Contains(ng.data["index.html"], []byte("Welcome to nginx!")) {
		t.Errorf("nginx: entrypoint %q, index.html %q", got, ng.data["index.html"])
	}
	if string(imgs[SuiteNautilus].data["nautilus.jpg"]) != "nautilus" || strings.Join(imgs[SuiteKitten].config.Config.Cmd, " ") != "test-webserver" {
		t.Errorf("kitten/nautilus: files or command wrong")
	}
	if imgs[SuiteGlibcDNSTesting].entries["usr/bin/dig"] == nil {
		t.Errorf("glibc-dns-testing has no dig")
	}

	// Each shared layer is stored once.
	blobs, layers := 0, map[string]bool{}
	for name := range files {
		if strings.HasPrefix(name, "blobs/sha256/") {
			blobs++
		}
	}
	total := 0
	for _, img := range imgs {
		for _, l := range img.layers {
			layers[l] = true
			total++
		}
	}
	if len(layers) >= total {
		t.Errorf("%d distinct layers for %d layer uses: nothing shared", len(layers), total)
	}
	if blobs > len(layers)+2*len(imgs) {
		t.Errorf("%d blobs for %d distinct layers and %d names", blobs, len(layers), len(imgs))
	}

	// A second build with the same inputs reuses the cached layout; another
	// input gives another.
	again, err := BuildSuite(context.Background(), SuiteOptions{BinDir: bin}, out, cache)
	if err != nil || again.Path != a.Path {
		t.Fatalf("second build: %v, %s (first %s)", err, again.Path, a.Path)
	}
	if err := os.WriteFile(filepath.Join(bin, SuiteFilesDir, "kitten/data.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := BuildSuite(context.Background(), SuiteOptions{BinDir: bin}, out, cache)
	if err != nil || changed.Path == a.Path {
		t.Fatalf("build with another input: %v, %s (first %s)", err, changed.Path, a.Path)
	}
}

func TestSuiteMissingInputs(t *testing.T) {
	for name, breakIt := range map[string]func(bin string) SuiteOptions{
		"no nnp": func(bin string) SuiteOptions {
			os.Remove(filepath.Join(bin, NonewprivsBinary))
			return SuiteOptions{BinDir: bin}
		},
		"no kitten picture": func(bin string) SuiteOptions {
			os.Remove(filepath.Join(bin, SuiteFilesDir, "kitten/kitten.jpg"))
			return SuiteOptions{BinDir: bin}
		},
		"dynamic bash": func(bin string) SuiteOptions { return SuiteOptions{BinDir: bin, Bash: Getent} },
		"no agnhost": func(bin string) SuiteOptions {
			os.Remove(filepath.Join(bin, "agnhost"))
			return SuiteOptions{BinDir: bin}
		},
		"no bin dir": func(string) SuiteOptions { return SuiteOptions{} },
		"no libraries": func(bin string) SuiteOptions {
			return SuiteOptions{BinDir: bin, Host: HostFiles{LibraryDirs: []string{t.TempDir()}}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			opts := breakIt(suiteBin(t))
			if _, err := Suite(context.Background(), opts); err == nil {
				t.Fatal("Suite built without the input")
			}
		})
	}
}

func TestHostFilesClosure(t *testing.T) {
	if _, err := os.Stat(Getent); err != nil {
		t.Skipf("needs %s: %v", Getent, err)
	}
	// A root holding getent but not its libraries: the missing one is named.
	root := t.TempDir()
	data, err := os.ReadFile(Getent)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, Getent), data, 0o755); err != nil {
		t.Fatal(err)
	}
	h := HostFiles{Root: root}
	err = h.AddPrograms(NewTree(), Getent)
	if err == nil || !strings.Contains(err.Error(), "libc.so.6") {
		t.Fatalf("AddPrograms without libc: %v", err)
	}
	// With the host's libraries it gets getent, libc and the loader.
	tr := NewTree()
	if err := (HostFiles{}).AddPrograms(tr, Getent); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/bin/getent", "lib/x86_64-linux-gnu/libc.so.6", "lib64/ld-linux-x86-64.so.2"} {
		if !tr.Has(p) {
			t.Errorf("closure of getent lacks %s", p)
		}
	}
	if err := (HostFiles{}).AddPrograms(NewTree(), "/nonexistent/program"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("AddPrograms of a missing program: %v", err)
	}
}

// TestSuiteImagesRun unpacks the agnhost image and runs in it, chrooted,
// what the DNS tests' querier pods and the environment tests run.
func TestSuiteImagesRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	bin := suiteBin(t)
	imgs, err := Suite(context.Background(), SuiteOptions{BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	var agn Image
	for _, img := range imgs {
		if img.Ref == SuiteAgnhost {
			agn = img
		}
	}
	root := t.TempDir()
	for _, layer := range append(append([][]Entry(nil), agn.Base...), agn.Entries) {
		for _, e := range layer {
			p := filepath.Join(root, e.Path)
			switch {
			case e.Dir:
				err = os.MkdirAll(p, 0o755)
			case e.Link != "":
				os.Remove(p)
				err = os.Symlink(e.Link, p)
			default:
				os.Remove(p)
				err = os.WriteFile(p, e.Data, os.FileMode(e.Mode&0o777))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `env | grep -q '^a-b=1$' && dig -v 2>&1 | grep -q DiG && curl --version | grep -q '^curl ' && test "$(command -v nc)" = /usr/bin/nc && nc -h 2>&1 | grep -q OpenBSD && ip -V 2>/dev/null | grep -q iproute2 && test -n "$(getent hosts localhost)" && /bin/uname -s && for i in $(seq 1 2); do echo $i; done | awk '{s+=$1} END {print s}'`
	cmd := exec.Command("chroot", root, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "a-b=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the agnhost image: %v: %s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "Linux" || got[1] != "3" {
		t.Fatalf("in the agnhost image: output %q, want Linux and 3", out)
	}
}

func TestCover(t *testing.T) {
	c := Cover([]string{SuiteAgnhost, "invalid.registry.k8s.io/invalid/alpine:3.1", "registry.k8s.io/sig-storage/csi-attacher:v4.8.1", "example.com/new:1", ""}, []string{SuiteAgnhost})
	if len(c.Built) != 1 || len(c.Unavailable) != 2 || len(c.Missing) != 1 || c.Missing[0] != "example.com/new:1" {
		t.Fatalf("Cover = %+v", c)
	}
}

func TestPruneCache(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		p := filepath.Join(dir, "e2e-test-images-"+name+".tar")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		mod := time.Unix(int64(1000+i), 0)
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(dir, "unrelated.tar")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pruneCache(dir, 3); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	var names []string
	for _, l := range left {
		names = append(names, filepath.Base(l))
	}
	if got := strings.Join(names, ","); got != "e2e-test-images-c.tar,e2e-test-images-d.tar,e2e-test-images-e.tar,unrelated.tar" {
		t.Fatalf("left after pruning: %s", got)
	}
}
