# Sourced by hack/up.sh and hack/conformance-upstream.sh (from the repository root).
#
# cluster_up DIR LOG ARGS...: starts `bin/kubemesos up --dir DIR ARGS...` in the background, its
# output into LOG (the terminal when LOG is empty), sets cluster_pid and waits up to 300 s for
# DIR/env. cluster_down stops it: kubemesos up tears the cluster down on SIGINT.
cluster_up() {
  local dir=$1 log=$2
  shift 2
  # A cluster that was torn down leaves its env file: wait for the new one's.
  rm -f "$dir/env"
  if [ -n "$log" ]; then
    bin/kubemesos up --dir "$dir" "$@" >"$log" 2>&1 &
  else
    bin/kubemesos up --dir "$dir" "$@" &
  fi
  cluster_pid=$!
  for _ in $(seq 1 300); do
    [ -s "$dir/env" ] && return 0
    kill -0 "$cluster_pid" 2>/dev/null || { echo "kubemesos up exited${log:+; see $log}" >&2; return 1; }
    sleep 1
  done
  echo "the cluster did not come up in 300 s${log:+; see $log}" >&2
  return 1
}

cluster_down() {
  [ -n "${cluster_pid:-}" ] || return 0
  kill -INT "$cluster_pid" 2>/dev/null || true
  wait "$cluster_pid" 2>/dev/null || true
}
