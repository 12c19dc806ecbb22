#!/usr/bin/env bash
# Builds the real Kubernetes components and etcd pinned in hack/tools into bin/.
# Idempotent: binaries are cached per pin (hash of hack/tools/go.mod + go.sum) in
# $KUBEMESOS_TOOLS_CACHE (default ~/.cache/kubemesos/tools), so a second run, or a
# fresh clone on the same machine, only copies them.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(dirname "$(dirname "$self")")
cd "$root/hack/tools"
k8s_version=$(grep -oE 'k8s.io/kubernetes v[0-9.]+' go.mod | head -1 | cut -d' ' -f2)
minor=$(echo "$k8s_version" | cut -d. -f2)
pin=$(cat go.mod go.sum etcd/main.go "$self" | sha256sum | cut -c1-16)
cache=${KUBEMESOS_TOOLS_CACHE:-$HOME/.cache/kubemesos/tools}/$pin
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd agnhost sample-apiserver)
mkdir -p "$root/bin"
if [ "$(cat "$root/bin/.tools-pin" 2>/dev/null)" = "$pin" ]; then
  ok=1; for b in "${bins[@]}"; do [ -x "$root/bin/$b" ] || ok=0; done
  [ $ok = 1 ] && { echo "tools: bin/ is current (pin $pin)"; exit 0; }
fi
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
mkdir -p "$cache"
for b in "${bins[@]}"; do
  if [ ! -x "$cache/$b" ]; then
    case $b in
      etcd) pkg=./etcd ;;
      # The upstream test servers (admission and conversion webhooks, an
      # aggregated API server) that end-to-end tests run in pods.
      agnhost) pkg=k8s.io/kubernetes/test/images/agnhost ;;
      sample-apiserver) pkg=k8s.io/sample-apiserver ;;
      *) pkg=k8s.io/kubernetes/cmd/$b ;;
    esac
    echo "tools: building $b ($k8s_version)"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache/$b.tmp" "$pkg"
    mv "$cache/$b.tmp" "$cache/$b"
  fi
  cp -f "$cache/$b" "$root/bin/$b.tmp" && mv -f "$root/bin/$b.tmp" "$root/bin/$b"
done
echo "$pin" > "$root/bin/.tools-pin"
echo "tools: bin/ ready (pin $pin): ${bins[*]}"
