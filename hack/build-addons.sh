#!/usr/bin/env bash
# Builds the cluster add-ons' programs (CoreDNS, metrics-server) into bin/.
# Each lives in its own module under hack/addons/<name> (its go.mod names the
# program with a `tool` line), so its dependencies never meet the pinned
# Kubernetes modules of hack/tools. Cached per pin (hash of the module's
# go.mod + go.sum and this script) in $KUBEMESOS_TOOLS_CACHE/addons.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(dirname "$(dirname "$self")")
mkdir -p "$root/bin"
for dir in "$root"/hack/addons/*/; do
  name=$(basename "$dir")
  pkg=$(awk '$1 == "tool" { print $2; exit }' "$dir/go.mod")
  [ -n "$pkg" ] || { echo "addons: $dir/go.mod names no tool" >&2; exit 1; }
  pin=$(cat "$dir/go.mod" "$dir/go.sum" "$self" | sha256sum | cut -c1-16)
  cache=${KUBEMESOS_TOOLS_CACHE:-$HOME/.cache/kubemesos/tools}/addons/$name-$pin
  if [ "$(cat "$root/bin/.$name-pin" 2>/dev/null)" = "$pin" ] && [ -x "$root/bin/$name" ]; then
    echo "addons: bin/$name is current (pin $pin)"; continue
  fi
  if [ ! -x "$cache/$name" ]; then
    echo "addons: building $name ($pkg)"
    mkdir -p "$cache"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cache/$name.tmp" "$pkg")
    mv "$cache/$name.tmp" "$cache/$name"
  fi
  cp -f "$cache/$name" "$root/bin/$name.tmp" && mv -f "$root/bin/$name.tmp" "$root/bin/$name"
  echo "$pin" > "$root/bin/.$name-pin"
  echo "addons: bin/$name ready (pin $pin)"
done
