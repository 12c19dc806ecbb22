package images

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// References of the test-server images: upstream programs built from the
// pinned k8s.io/kubernetes module by `make tools` (hack/tools), each alone in
// an image at the path its upstream image uses.
const (
	// AgnhostRef is the upstream end-to-end test server (webhook,
	// crd-conversion-webhook, netexec, ...): /agnhost.
	AgnhostRef = "kubemesos.local/agnhost:latest"
	// SampleAPIServerRef is k8s.io/sample-apiserver, an aggregated API
	// server for wardle.example.com: /kube-sample-apiserver.
	SampleAPIServerRef = "kubemesos.local/sample-apiserver:latest"
	// EtcdRef is etcd, the sample API server's storage: /usr/local/bin/etcd.
	EtcdRef = "kubemesos.local/etcd:latest"
)

// TestServer is a program in the tools' bin directory and the image it goes
// into.
type TestServer struct {
	Ref string
	// Binary is the file name in the bin directory.
	Binary string
	// Path is where the image holds it (absolute), also its entrypoint.
	Path string
}

// TestServers are the images end-to-end tests run as pods.
var TestServers = []TestServer{
	{Ref: AgnhostRef, Binary: "agnhost", Path: "/agnhost"},
	{Ref: SampleAPIServerRef, Binary: "sample-apiserver", Path: "/kube-sample-apiserver"},
	{Ref: EtcdRef, Binary: "etcd", Path: "/usr/local/bin/etcd"},
}

// Program returns an image holding only the static binary at inImage
// (absolute), which is its entrypoint.
func Program(ref, binary, inImage string) (Image, error) {
	if !path.IsAbs(inImage) || path.Clean(inImage) != inImage {
		return Image{}, fmt.Errorf("images: %s: path %q in the image must be absolute and clean", ref, inImage)
	}
	data, err := readStatic(binary)
	if err != nil {
		return Image{}, err
	}
	es := baseEntries()
	have := map[string]bool{}
	for _, e := range es {
		have[e.Path] = true
	}
	rel := strings.TrimPrefix(inImage, "/")
	// Parents the base lacks ("usr/local", "usr/local/bin").
	var parents []string
	for d := path.Dir(rel); d != "." && !have[d]; d = path.Dir(d) {
		parents = append([]string{d}, parents...)
	}
	for _, d := range parents {
		es = append(es, Entry{Path: d, Dir: true, Mode: 0o755})
	}
	es = append(es, Entry{Path: rel, Mode: 0o755, Data: data})
	return Image{
		Ref:     ref,
		Entries: es,
		Config: Config{
			Entrypoint: []string{inImage},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}, nil
}

// BuildTestServers writes the TestServers images, from the programs in
// binDir, into outDir.
func BuildTestServers(binDir, outDir string) ([]Archive, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	var out []Archive
	for _, s := range TestServers {
		img, err := Program(s.Ref, filepath.Join(binDir, s.Binary), s.Path)
		if err != nil {
			return nil, fmt.Errorf("%w (make tools builds it)", err)
		}
		a, err := WriteArchive(img, filepath.Join(outDir, archiveName(s.Ref)))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
