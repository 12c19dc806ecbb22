package images

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// References of the images of one upstream program each, built by `make
// tools` into the bin directory, at the path its upstream image uses: the
// test servers (from the pinned k8s.io/kubernetes module, hack/tools) and the
// cluster add-ons (hack/addons).
const (
	// AgnhostRef is the upstream end-to-end test server (webhook,
	// crd-conversion-webhook, netexec, ...): /agnhost.
	AgnhostRef = "kubemesos.local/agnhost:latest"
	// SampleAPIServerRef is k8s.io/sample-apiserver, an aggregated API
	// server for wardle.example.com: /kube-sample-apiserver.
	SampleAPIServerRef = "kubemesos.local/sample-apiserver:latest"
	// EtcdRef is etcd, the sample API server's storage: /usr/local/bin/etcd.
	EtcdRef = "kubemesos.local/etcd:latest"
	// CoreDNSRef is CoreDNS, the cluster DNS: /coredns.
	CoreDNSRef = "kubemesos.local/coredns:v1.12.4"
	// MetricsServerRef is metrics-server, the resource metrics API:
	// /metrics-server.
	MetricsServerRef = "kubemesos.local/metrics-server:v0.8.0"
)

// BinaryImage is a program in the tools' bin directory and the image it
// goes into.
type BinaryImage struct {
	Ref string
	// Binary is the file name in the bin directory.
	Binary string
	// Path is where the image holds it (absolute), also its entrypoint.
	Path string
	// Aliases are the names the upstream end-to-end suite (e2e.test of the
	// pinned k8s.io/kubernetes) pulls the image by, so its tests find it
	// on an agent without a registry.
	Aliases []string
}

// UpstreamPause is the name the upstream end-to-end suite gives the pause
// image its pods run (imageutils.GetPauseImageName of the pinned module).
const UpstreamPause = "registry.k8s.io/pause:3.10.2"

// Addons are the images of the cluster add-ons every dev cluster runs.
var Addons = []BinaryImage{
	{Ref: CoreDNSRef, Binary: "coredns", Path: "/coredns"},
	{Ref: MetricsServerRef, Binary: "metrics-server", Path: "/metrics-server"},
}

// TestServers are the images end-to-end tests run as pods.
var TestServers = []BinaryImage{
	// The suite asks for sample-apiserver 1.29.2; this one is the pinned
	// module's (newer), serving the same wardle.example.com API.
	{Ref: SampleAPIServerRef, Binary: "sample-apiserver", Path: "/kube-sample-apiserver", Aliases: []string{SuiteSampleAPIServer}},
	// The etcd the pinned module is tested with (3.6.8).
	{Ref: EtcdRef, Binary: "etcd", Path: "/usr/local/bin/etcd", Aliases: []string{SuiteEtcd}},
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
	t := BaseTree()
	if err := t.File(inImage, 0o755, data); err != nil {
		return Image{}, fmt.Errorf("images: %s: %w", ref, err)
	}
	return Image{
		Ref:     ref,
		Entries: t.Entries(),
		Config: Config{
			Entrypoint: []string{inImage},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}, nil
}

// BuildBinaryImages writes the images of list, from the programs in binDir,
// into outDir.
func BuildBinaryImages(list []BinaryImage, binDir, outDir string) ([]Archive, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	var out []Archive
	for _, s := range list {
		img, err := Program(s.Ref, filepath.Join(binDir, s.Binary), s.Path)
		if err != nil {
			return nil, fmt.Errorf("%w (make tools builds it)", err)
		}
		a, err := WriteArchive(img, filepath.Join(outDir, archiveName(s.Ref)))
		if err != nil {
			return nil, err
		}
		a.Aliases = s.Aliases
		out = append(out, a)
	}
	return out, nil
}
