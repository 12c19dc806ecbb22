#!/usr/bin/env bash
# `make conformance-upstream`: runs the upstream Kubernetes conformance tests (e2e.test of the
# k8s.io/kubernetes module pinned in hack/tools) against a running kubemesos cluster, writing
# JUnit XML and the log to _output/conformance/.
#
#   make up UP_FLAGS=--test-images        # in one shell: the test-server images under the
#                                         # names e2e.test pulls (agnhost, sample-apiserver, etcd, pause)
#   make conformance-upstream             # in another; FOCUS / SKIP override the ginkgo regexps
#   FOCUS='AdmissionWebhook.*\[Conformance\]' make conformance-upstream
#
# e2e.test is built once per pin into the tools cache (a few minutes on 2 cores).
# Images the suite needs and kubemesos does not build (nginx, httpd, the busybox of the suite)
# are not on the agents: the tests that run them fail with ErrImagePull.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
root=$(dirname "$(dirname "$self")")
dir=${KUBEMESOS_DIR:-$root/.kubemesos}
focus=${FOCUS:-'\[Conformance\]'}
skip=${SKIP:-'\[Serial\]|\[Disruptive\]|\[Flaky\]'}
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
[ -s "$dir/env" ] || { echo "conformance: no cluster in $dir (make up UP_FLAGS=--test-images first)" >&2; exit 1; }
# shellcheck disable=SC1090
source "$dir/env"
mkdir -p "$out"
echo "conformance: focus '$focus', skip '$skip'; results in $out"
set +e
"$cache/e2e.test" --kubeconfig "$KUBECONFIG" --provider skeleton --report-dir "$out" \
  --ginkgo.focus "$focus" --ginkgo.skip "$skip" --ginkgo.timeout 3h --ginkgo.no-color \
  --ginkgo.v 2>&1 | tee "$out/e2e.log"
rc=${PIPESTATUS[0]}
set -e
grep -E '^(Ran [0-9]+ of [0-9]+ Specs|(SUCCESS|FAIL)! )' "$out/e2e.log" || true
exit "$rc"
