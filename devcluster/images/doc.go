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
// The upstream end-to-end suite's images (Suite) go into one layout with
// shared layers, each under the name e2e.test pulls: agnhost with a shell,
// dig and getent as its upstream image has them; busybox with every applet
// in /bin and bash as sh; glibc-dns-testing; nonewprivs and nonroot; nginx,
// kitten and nautilus served by agnhost's test-webserver; the sample API
// server and etcd (TestServers: one upstream program each). Programs come
// from the pinned k8s.io/kubernetes module (make tools,
// hack/build-test-images.sh), the rest from Debian packages: dynamically
// linked ones with the libraries the loader would load (HostFiles).
// Unavailable says why the images the suite names but no [Conformance] test
// runs are not built; Cover checks a suite's list against both.
package images
