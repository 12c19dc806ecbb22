package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The names the upstream end-to-end suite (e2e.test of the pinned
// k8s.io/kubernetes, test/utils/image/manifest.go) pulls its images by.
const (
	e2eRegistry = "registry.k8s.io/e2e-test-images/"

	SuiteAgnhost         = e2eRegistry + "agnhost:2.63.0"
	SuiteAgnhostPrev     = e2eRegistry + "agnhost:2.55"
	SuiteBusybox         = e2eRegistry + "busybox:1.37.0-1"
	SuiteBusyboxPrev     = e2eRegistry + "busybox:1.36.1-1"
	SuiteGlibcDNSTesting = e2eRegistry + "glibc-dns-testing:2.0.0"
	SuiteNonewprivs      = e2eRegistry + "nonewprivs:1.4"
	SuiteNonRoot         = e2eRegistry + "nonroot:1.5"
	SuiteNginx           = e2eRegistry + "nginx:1.15-4"
	SuiteNginxNew        = e2eRegistry + "nginx:1.27-0"
	SuiteKitten          = e2eRegistry + "kitten:1.8"
	SuiteNautilus        = e2eRegistry + "nautilus:1.8"
	SuiteSampleAPIServer = e2eRegistry + "sample-apiserver:1.29.2"
	SuiteEtcd            = "registry.k8s.io/etcd:3.6.8-0"
)

// NonRootUID is the user the upstream nonroot image runs as.
const NonRootUID = "1234"

// Host programs from Debian packages that go into the suite's images.
const (
	// DefaultBash is bash-static: the suite's sh. Debian's busybox ash
	// drops environment variables whose names are not shell identifiers
	// ("a-b"), which tests of ConfigMaps, Secrets and the downward API
	// print with `sh -c env`; bash passes them on.
	DefaultBash = "/bin/bash-static"
	// Dig and Getent are what the DNS tests' querier pods run (bind9-dnsutils,
	// libc-bin), dynamically linked: their libraries come with them.
	Dig    = "/usr/bin/dig"
	Getent = "/usr/bin/getent"
	// Curl, Netcat and IP are the network tools the upstream agnhost image
	// installs (curl, netcat-openbsd, iproute2) and the Service and
	// EndpointSlice tests exec (`curl -q -s`, `nc -v -t -w 2`). Netcat goes
	// in as /usr/bin/nc, ahead of busybox's in PATH.
	Curl   = "/usr/bin/curl"
	Netcat = "/bin/nc.openbsd"
	IP     = "/usr/sbin/ip"
)

// Files that hack/build-test-images.sh puts into the bin directory.
const (
	// NonewprivsBinary is k8s.io/kubernetes/test/images/nonewprivs.
	NonewprivsBinary = "nnp"
	// SuiteFilesDir holds upstream files of test/images: agnhost/porter's
	// certificate and key, kitten/ and nautilus/ pictures and data.json.
	SuiteFilesDir = "test-images"
)

// SuiteArchive is the file name of the layout holding every suite image.
const SuiteArchive = "e2e-test-images.tar"

// Unavailable lists the images e2e.test --list-images names that are not
// built here, with the reason. None is run by a [Conformance] test.
var Unavailable = map[string]string{
	"invalid.registry.k8s.io/invalid/alpine:3.1":                                       "the tests that name it expect its pull to fail",
	"gcr.io/k8s-authenticated-test/agnhost:2.6":                                        "tests of pulls with registry credentials need that registry",
	"registry.k8s.io/build-image/distroless-iptables:v0.9.6":                           "kube-proxy tests of a distroless image; not a [Conformance] image",
	e2eRegistry + "apparmor-loader:1.4":                                                "AppArmor is disabled on these hosts (containerd disable_apparmor)",
	e2eRegistry + "ipc-utils:1.4":                                                      "not used by a [Conformance] test",
	e2eRegistry + "perl:5.26":                                                          "not used by a [Conformance] test",
	e2eRegistry + "regression-issue-74839:1.4":                                         "not used by a [Conformance] test",
	e2eRegistry + "resource-consumer:1.14":                                             "autoscaling tests; not used by a [Conformance] test",
	e2eRegistry + "node-perf/npb-ep:1.6.0":                                             "node performance workloads (NAS benchmarks); not [Conformance]",
	e2eRegistry + "node-perf/npb-is:1.7.0":                                             "node performance workloads (NAS benchmarks); not [Conformance]",
	e2eRegistry + "node-perf/pytorch-wide-deep:1.0.0":                                  "node performance workload (PyTorch); not [Conformance]",
	e2eRegistry + "volume/iscsi:2.7":                                                   "iSCSI target needs kernel modules; storage driver tests, not [Conformance]",
	e2eRegistry + "volume/nfs:1.6.0":                                                   "in-kernel NFS server; storage driver tests, not [Conformance]",
	"registry.k8s.io/cloud-provider-gcp/gcp-compute-persistent-disk-csi-driver:v1.4.0": "needs GCE; not [Conformance]",
}

// unavailablePrefix covers the CSI sidecars and drivers of the storage
// tests (registry.k8s.io/sig-storage/...), none of them [Conformance].
const unavailablePrefix = "registry.k8s.io/sig-storage/"

// UnavailableReason says why name is not built, or "" when it is not listed.
func UnavailableReason(name string) string {
	if r, ok := Unavailable[name]; ok {
		return r
	}
	if strings.HasPrefix(name, unavailablePrefix) {
		return "CSI sidecars and drivers of the storage tests; not [Conformance]"
	}
	return ""
}

// SuiteOptions says where the suite's images come from.
type SuiteOptions struct {
	// BinDir holds agnhost, sample-apiserver, etcd (make tools), nnp and
	// SuiteFilesDir (hack/build-test-images.sh).
	BinDir string
	// Busybox is a static busybox (default DefaultBusybox), Bash a static
	// bash (default DefaultBash).
	Busybox, Bash string
	// Host supplies dig and getent with their libraries.
	Host HostFiles
}

// Suite returns the images of the upstream end-to-end suite, built from
// the pinned module's programs and Debian packages, each under the name
// e2e.test pulls (and kubemesos.local/* names for the test servers).
//
// Layers are shared: a shell layer (busybox with an applet link in /bin and
// at its own path, bash as sh), a network tools layer (dig, getent, curl,
// nc, ip and their libraries, nsswitch.conf) and an agnhost layer laid out
// as the upstream agnhost Dockerfile does.
func Suite(ctx context.Context, opts SuiteOptions) ([]Image, error) {
	if opts.BinDir == "" {
		return nil, fmt.Errorf("images: no bin directory for the suite's programs")
	}
	if opts.Busybox == "" {
		opts.Busybox = DefaultBusybox
	}
	if opts.Bash == "" {
		opts.Bash = DefaultBash
	}
	bin := func(name string) string { return filepath.Join(opts.BinDir, name) }
	files := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(opts.BinDir, SuiteFilesDir, name))
		if err != nil {
			return nil, fmt.Errorf("images: %w (hack/build-test-images.sh puts it there)", err)
		}
		return b, nil
	}

	shell, err := shellLayer(ctx, opts.Busybox, opts.Bash)
	if err != nil {
		return nil, err
	}
	dns := NewTree()
	if err := opts.Host.AddPrograms(dns, Dig, Getent, Curl, Netcat, IP); err != nil {
		return nil, fmt.Errorf("%w (install bind9-dnsutils, curl, netcat-openbsd, iproute2)", err)
	}
	if err := dns.Link("usr/bin/nc", Netcat); err != nil {
		return nil, err
	}
	if err := dns.File("etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n")); err != nil {
		return nil, err
	}

	agn := NewTree()
	agnhost, err := readStatic(bin("agnhost"))
	if err != nil {
		return nil, fmt.Errorf("%w (make tools builds it)", err)
	}
	crt, err := files("agnhost/localhost.crt")
	if err != nil {
		return nil, err
	}
	key, err := files("agnhost/localhost.key")
	if err != nil {
		return nil, err
	}
	for _, err := range []error{
		agn.File("agnhost", 0o755, agnhost),
		agn.Link("agnhost-2", "agnhost"),
		agn.File("localhost.crt", 0o644, crt),
		agn.File("localhost.key", 0o600, key),
		agn.Dir("uploads", 0o755),
		// The upstream image's adduser/addgroup.
		agn.File("etc/passwd", 0o644, []byte(basePasswd+"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n")),
		agn.File("etc/group", 0o644, []byte(baseGroup+"user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")),
	} {
		if err != nil {
			return nil, err
		}
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	agnBase := [][]Entry{shell.Entries(), dns.Entries(), agn.Entries()}
	version := func(ref string) map[string]string {
		return map[string]string{"org.opencontainers.image.version": tag(ref)}
	}
	agnhostImage := func(ref string, aliases ...string) Image {
		return Image{Ref: ref, Aliases: aliases, Base: agnBase[:2], Entries: agnBase[2], Config: Config{
			Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}, Env: env, Labels: version(ref)}}
	}
	// webServer is agnhost's test-webserver serving the image's root on
	// port 80, with files at the root: what the upstream kitten and
	// nautilus images are, and what the tests need of nginx (a server on
	// port 80 that keeps running).
	webServer := func(ref string, entrypoint, cmd []string, put map[string][]byte, aliases ...string) (Image, error) {
		t := NewTree()
		names := make([]string, 0, len(put))
		for n := range put {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := t.File(n, 0o644, put[n]); err != nil {
				return Image{}, err
			}
		}
		return Image{Ref: ref, Aliases: aliases, Base: agnBase, Entries: t.Entries(), Config: Config{
			Entrypoint: entrypoint, Cmd: cmd, Env: env, Labels: version(ref)}}, nil
	}
	picture := func(ref, dir, jpg string) (Image, error) {
		pic, err := files(dir + "/" + jpg)
		if err != nil {
			return Image{}, err
		}
		data, err := files(dir + "/data.json")
		if err != nil {
			return Image{}, err
		}
		return webServer(ref, []string{"/agnhost"}, []string{"test-webserver"}, map[string][]byte{jpg: pic, "data.json": data})
	}

	imgs := []Image{
		agnhostImage(SuiteAgnhost, AgnhostRef),
		agnhostImage(SuiteAgnhostPrev),
		{Ref: SuiteBusybox, Aliases: []string{SuiteBusyboxPrev}, Entries: shell.Entries(), Config: Config{Cmd: []string{"sh"}, Env: env}},
		{Ref: SuiteGlibcDNSTesting, Base: [][]Entry{shell.Entries()}, Entries: dns.Entries(), Config: Config{Cmd: []string{"sh"}, Env: env}},
		{Ref: SuiteNonRoot, Entries: shell.Entries(), Config: Config{Cmd: []string{"sh"}, Env: env, User: NonRootUID, Labels: version(SuiteNonRoot)}},
	}
	nnp, err := readStatic(bin(NonewprivsBinary))
	if err != nil {
		return nil, fmt.Errorf("%w (hack/build-test-images.sh builds it)", err)
	}
	nnpLayer := NewTree()
	// Set-user-ID root, as the upstream Dockerfile's chmod +s.
	if err := nnpLayer.File("usr/local/bin/nnp", 0o4755, nnp); err != nil {
		return nil, err
	}
	imgs = append(imgs, Image{Ref: SuiteNonewprivs, Base: [][]Entry{shell.Entries()}, Entries: nnpLayer.Entries(),
		Config: Config{Cmd: []string{"nnp"}, Env: env}})
	nginx, err := webServer(SuiteNginx, []string{"/agnhost", "test-webserver"}, nil,
		map[string][]byte{"index.html": []byte(nginxIndex)}, SuiteNginxNew)
	if err != nil {
		return nil, err
	}
	imgs = append(imgs, nginx)
	for _, p := range []struct{ ref, dir, jpg string }{
		{SuiteKitten, "kitten", "kitten.jpg"},
		{SuiteNautilus, "nautilus", "nautilus.jpg"},
	} {
		img, err := picture(p.ref, p.dir, p.jpg)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	for _, s := range TestServers {
		img, err := Program(s.Ref, bin(s.Binary), s.Path)
		if err != nil {
			return nil, fmt.Errorf("%w (make tools builds it)", err)
		}
		img.Aliases = s.Aliases
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// nginxIndex is the page the nginx image serves at /.
const nginxIndex = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1></body>\n</html>\n"

// shellLayer is busybox with each applet linked at its own path and in /bin
// (the upstream busybox image has them all in /bin: tests run /bin/sysctl),
// and bash as /bin/sh and /bin/bash.
func shellLayer(ctx context.Context, busybox, bash string) (*Tree, error) {
	bb, err := readStatic(busybox)
	if err != nil {
		return nil, err
	}
	sh, err := readStatic(bash)
	if err != nil {
		return nil, fmt.Errorf("%w (install bash-static)", err)
	}
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("images: %s --list-full: %w", busybox, err)
	}
	t := BaseTree()
	if err := t.File("bin/busybox", 0o755, bb); err != nil {
		return nil, err
	}
	if err := t.File("bin/bash", 0o755, sh); err != nil {
		return nil, err
	}
	if err := t.Link("bin/sh", "/bin/bash"); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(out), "\n") {
		p := strings.Trim(strings.TrimSpace(line), "/")
		if p == "" {
			continue
		}
		for _, at := range []string{p, "bin/" + filepath.Base(p)} {
			if t.Has(at) {
				continue
			}
			if err := t.Link(at, "/bin/busybox"); err != nil {
				return nil, err
			}
		}
	}
	for _, need := range []string{"bin/sysctl", "bin/env", "bin/id"} {
		if !t.Has(need) {
			return nil, fmt.Errorf("images: %s has no %s applet", busybox, filepath.Base(need))
		}
	}
	return t, nil
}

// BuildSuite writes the suite's images as one layout (each shared layer
// once) to outDir/SuiteArchive. With cacheDir set the layout is kept there
// under its index digest and reused while its inputs stay the same.
func BuildSuite(ctx context.Context, opts SuiteOptions, outDir, cacheDir string) (Archive, error) {
	imgs, err := Suite(ctx, opts)
	if err != nil {
		return Archive{}, err
	}
	l, err := newLayout(imgs)
	if err != nil {
		return Archive{}, err
	}
	a := Archive{Ref: imgs[0].Ref, Manifest: l.manifests[0], Path: filepath.Join(outDir, SuiteArchive)}
	for _, img := range imgs {
		a.Images = append(a.Images, append([]string{img.Ref}, img.Aliases...)...)
	}
	dir := outDir
	if cacheDir != "" {
		dir = cacheDir
		a.Path = filepath.Join(cacheDir, "e2e-test-images-"+strings.TrimPrefix(digestOf(l.index), "sha256:")[:16]+".tar")
		if _, err := os.Stat(a.Path); err == nil {
			// Used now: the last to be pruned.
			now := time.Now()
			return a, os.Chtimes(a.Path, now, now)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Archive{}, fmt.Errorf("images: %w", err)
	}
	if err := writeFileAtomic(a.Path, l.writeTo); err != nil {
		return Archive{}, err
	}
	if cacheDir != "" {
		if err := pruneCache(cacheDir, keepCached); err != nil {
			return Archive{}, err
		}
	}
	return a, nil
}

// keepCached is how many suite layouts the cache keeps (worktrees on
// different pins share it), the most recently written first.
const keepCached = 3

// pruneCache removes all but the keep newest suite layouts in dir.
func pruneCache(dir string, keep int) error {
	matches, err := filepath.Glob(filepath.Join(dir, "e2e-test-images-*.tar"))
	if err != nil {
		return err
	}
	type file struct {
		path string
		mod  int64
	}
	var fs []file
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		fs = append(fs, file{m, st.ModTime().UnixNano()})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod > fs[j].mod })
	for i := keep; i < len(fs); i++ {
		if err := os.Remove(fs[i].path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("images: prune cache: %w", err)
		}
	}
	return nil
}
