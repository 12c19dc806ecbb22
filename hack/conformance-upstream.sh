#!/usr/bin/env bash
# `make conformance-upstream`: runs the upstream Kubernetes conformance tests (e2e.test of the
# k8s.io/kubernetes module pinned in hack/tools) with `kubemesos conformance --upstream`: a
# parallel pass (ginkgo, PROCS processes) and a second pass of the Serial and Disruptive specs,
# JUnit XML, logs and summary.txt in _output/conformance/.
#
#   make conformance-upstream                                # brings its own cluster up and down
#   FOCUS='DNS.*\[Conformance\]' make conformance-upstream   # FOCUS / SKIP: ginkgo regexps
#   PROCS=2 SERIAL=false TIMEOUT=10m make conformance-upstream  # processes; no serial pass; ginkgo timeout per pass
#
# Against a running cluster (`make up UP_FLAGS=--test-images` in another shell, or
# KUBEMESOS_DIR naming one): the tests use it and leave it up. Otherwise the script starts
# `kubemesos up --test-images` (AGENTS agents, default 2) in .kubemesos-conformance and tears it
# down at the end; one cluster of this kind at a time on a host.
#
# e2e.test is built once per pin into the tools cache (a few minutes on 2 cores).
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(dirname "$(dirname "$self")")
dir=${KUBEMESOS_DIR:-$root/.kubemesos}
out=${OUT:-$root/_output/conformance}
cd "$root/hack/tools"
k8s_version=$(grep -oE 'k8s.io/kubernetes v[0-9.]+' go.mod | head -1 | cut -d' ' -f2)
minor=$(echo "$k8s_version" | cut -d. -f2)
pin=$(cat go.mod go.sum | sha256sum | cut -c1-16)
cache=${KUBEMESOS_TOOLS_CACHE:-$HOME/.cache/kubemesos/tools}/e2e-$pin
if [ ! -x "$cache/e2e.test" ]; then
  echo "conformance: building e2e.test ($k8s_version)"
  mkdir -p "$cache"
  CGO_ENABLED=0 go test -c -o "$cache/e2e.test.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/test/e2e
  mv "$cache/e2e.test.tmp" "$cache/e2e.test"
fi
cd "$root"
# bin/e2e.test is what `kubemesos conformance --upstream` runs by default.
cmp -s "$cache/e2e.test" bin/e2e.test || { cp -f "$cache/e2e.test" bin/e2e.test.tmp && mv -f bin/e2e.test.tmp bin/e2e.test; }
mkdir -p "$out"
if [ ! -s "$dir/env" ]; then
  dir=$root/.kubemesos-conformance
  echo "conformance: no cluster in ${KUBEMESOS_DIR:-$root/.kubemesos}; starting one in $dir"
  # shellcheck source=hack/lib/cluster.sh
  source hack/lib/cluster.sh
  trap cluster_down EXIT
  trap 'exit 130' INT TERM
  cluster_up "$dir" "$out/up.log" --agents "${AGENTS:-2}" --test-images || exit 1
fi
# shellcheck disable=SC1090
source "$dir/env"
set +e
bin/kubemesos conformance --upstream --kubeconfig "$KUBECONFIG" --e2e-test bin/e2e.test --ginkgo bin/ginkgo \
  --out "$out" --focus "${FOCUS:-\[Conformance\]}" --skip "${SKIP:-\[Flaky\]}" --procs "${PROCS:-3}" --serial="${SERIAL:-true}" --timeout "${TIMEOUT:-3h}"
rc=$?
set -e
exit "$rc"
