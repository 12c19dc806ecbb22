#!/usr/bin/env bash
# Builds what the upstream end-to-end suite's images need beyond `make tools`, from the
# k8s.io/kubernetes module pinned in hack/tools, into bin/:
#   nnp               test/images/nonewprivs (the nonewprivs image's program)
#   ginkgo            the ginkgo CLI of the version e2e.test is built with (hack/ginkgo)
#   test-images/      upstream files the images carry: agnhost/porter's certificate and key,
#                     kitten/ and nautilus/ (picture, data.json)
# Cached per pin (hash of hack/tools/go.mod + go.sum, hack/ginkgo/go.mod + go.sum and this
# script) in $KUBEMESOS_TOOLS_CACHE (default ~/.cache/kubemesos/tools), like build-tools.sh.
# The images themselves are assembled by `kubemesos up --test-images` (devcluster/images).
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(dirname "$(dirname "$self")")
tools=$root/hack/tools
pin=$(cat "$tools/go.mod" "$tools/go.sum" "$root/hack/ginkgo/go.mod" "$root/hack/ginkgo/go.sum" "$self" | sha256sum | cut -c1-16)
cache=${KUBEMESOS_TOOLS_CACHE:-$HOME/.cache/kubemesos/tools}/test-images-$pin
mkdir -p "$root/bin"
if [ "$(cat "$root/bin/.test-images-pin" 2>/dev/null)" = "$pin" ] && [ -x "$root/bin/nnp" ] && [ -x "$root/bin/ginkgo" ] && [ -d "$root/bin/test-images" ]; then
  echo "test images: bin/ is current (pin $pin)"; exit 0
fi
ginkgo_version=$(cd "$tools" && go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)
want=$(grep -oE 'github.com/onsi/ginkgo/v2 v[0-9.]+' "$root/hack/ginkgo/go.mod" | head -1 | cut -d' ' -f2)
if [ "$ginkgo_version" != "$want" ]; then
  echo "test images: hack/ginkgo pins ginkgo $want but hack/tools (e2e.test) uses $ginkgo_version; update hack/ginkgo/go.mod" >&2
  exit 1
fi
if [ ! -d "$cache/files" ] || [ ! -x "$cache/nnp" ] || [ ! -x "$cache/ginkgo" ]; then
  mkdir -p "$cache"
  echo "test images: building nnp and ginkgo $ginkgo_version"
  (cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/nnp.tmp" k8s.io/kubernetes/test/images/nonewprivs)
  (cd "$root/hack/ginkgo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo)
  src=$(cd "$tools" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images
  rm -rf "$cache/files.tmp" && mkdir -p "$cache/files.tmp/agnhost" "$cache/files.tmp/kitten" "$cache/files.tmp/nautilus"
  cp "$src/agnhost/porter/localhost.crt" "$src/agnhost/porter/localhost.key" "$cache/files.tmp/agnhost/"
  cp "$src/kitten/html/kitten.jpg" "$src/kitten/html/data.json" "$cache/files.tmp/kitten/"
  cp "$src/nautilus/html/nautilus.jpg" "$src/nautilus/html/data.json" "$cache/files.tmp/nautilus/"
  chmod -R u+w "$cache/files.tmp"
  mv "$cache/nnp.tmp" "$cache/nnp" && mv "$cache/ginkgo.tmp" "$cache/ginkgo"
  rm -rf "$cache/files" && mv "$cache/files.tmp" "$cache/files"
fi
cp -f "$cache/nnp" "$root/bin/nnp" && cp -f "$cache/ginkgo" "$root/bin/ginkgo"
rm -rf "$root/bin/test-images" && cp -r "$cache/files" "$root/bin/test-images"
echo "$pin" > "$root/bin/.test-images-pin"
echo "test images: bin/ ready (pin $pin): nnp ginkgo test-images/"
