#!/usr/bin/env bash
# `make up`: brings up a local kubemesos cluster, runs manifests/examples/hello.yaml
# on it, prints the pods next to the Mesos tasks that run them, and stays up until
# Ctrl-C (which tears everything down).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${KUBEMESOS_DIR:-.kubemesos}
agents=${AGENTS:-2}
# shellcheck source=hack/lib/cluster.sh
source hack/lib/cluster.sh
trap 'cluster_down; exit 130' INT TERM
# shellcheck disable=SC2086 # UP_FLAGS holds further flags of kubemesos up (e.g. --test-images)
cluster_up "$dir" "" --agents "$agents" ${UP_FLAGS:-} || exit 1
# shellcheck disable=SC1090
source "$dir/env"
kubectl=bin/kubectl
until $kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done
$kubectl apply -f manifests/examples/hello.yaml
echo "waiting for deployment/hello to become available..."
$kubectl rollout status deployment/hello --timeout=300s
echo
bin/kubemesos status --namespace default
echo
echo "The cluster stays up. In another shell:  source $dir/env && bin/kubectl get pods -o wide"
echo "Press Ctrl-C to stop it."
wait "$cluster_pid"
