// Package images builds the dev cluster's container images without a
// registry or a container engine and imports them into containerd.
//
// An image is written as an OCI image layout in a tar (oci-layout, index.json
// and content-addressed blobs: one uncompressed layer, the image config and
// the manifest). The index entry carries the annotation
// io.containerd.image.name, so `ctr images import` registers the image under
// its full reference. Layers are reproducible: the same inputs give the same
// digests.
//
// The dev cluster's own images:
//
//   - kubemesos.local/busybox:latest — Debian's static busybox with a symlink
//     per applet (sh, sleep, httpd, wget, ...), for examples and tests.
//   - kubemesos.local/pause:latest — the pod sandbox image: a static Go
//     program (hack/images/pause) that reaps zombies and exits on SIGTERM or
//     SIGINT.
//
// The test-server images (TestServers) each hold one upstream program that
// `make tools` builds from the pinned k8s.io/kubernetes module, at the path
// its upstream image uses: agnhost (webhooks, conversion webhooks and the
// other end-to-end servers), the sample API server and etcd.
package images
