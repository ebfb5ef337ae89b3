# shellcheck shell=bash
# Process bookkeeping shared by bench/speed.sh and bench/soak.sh (sourced, not run).
# Job control gives every background job its own process group (pgid = $!): a script adds the group
# to PGIDS, and the EXIT/INT/TERM trap stops each listed group together with everything it started.
set -m
PGIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local g
  for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  sleep 0.5
  for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget() { # remove a stopped group from the list
  local g="$1" keep=() x
  for x in "${PGIDS[@]}"; do [ "$x" = "$g" ] || keep+=("$x"); done
  PGIDS=("${keep[@]}")
}

stop_group() { # TERM, up to 5 s, then KILL
  local g="$1"
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 -- "-$g" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
  wait "$g" 2>/dev/null || true
  forget "$g"
}

nap() { # sleep in a background job, so a signal's trap runs at once rather than after the sleep
  sleep "$1" &
  local g=$!
  PGIDS+=("$g")
  wait "$g" || true
  forget "$g"
}
