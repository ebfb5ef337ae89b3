#!/usr/bin/env bash
# Sharded against single-process runs of the same total load (issue "Distributed runs"): the merged
# counts, throughput and percentiles of N shards must agree with one process's within run-to-run
# noise. One demo backend (`perfgate serve-demo`) serves all of them; every run is bounded in time.
#
#   bash bench/shards.sh [PERFGATE_BINARY] [ROUNDS]
#
# Prints, per round, one process with all users and then 2 shards with half each (started together
# with --start-at, merged): the Aggregated row's requests and p50/p90/p95/p99 (exact HdrHistograms).
# On a 2-core machine the demo shares the cores with the generators, so this checks that a merge
# equals one process at the same load, not that shards add generator capacity (that needs machines).
set -euo pipefail
cd "$(dirname "$0")/.."
exe="${1:-target/release/perfgate}"
rounds="${2:-3}"
[ -x "$exe" ] || { echo "no perfgate binary at $exe (cargo build --release)" >&2; exit 2; }
work="$(mktemp -d)"
demo_pid=""
cleanup() { [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$exe" serve-demo --port 0 2>"$work/demo.log" &
demo_pid=$!
for _ in $(seq 50); do
  url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/demo.log" | head -1 || true)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the demo did not start" >&2; exit 1; }
users=60
secs=20
total() {
  # The Aggregated row of `perfgate report`: requests, p50, p95, p99 (exact, from HdrHistograms).
  "$exe" report "$1" --gate gates/prismq.yaml 2>/dev/null | awk '/^ Aggregated/ {print $2, $8, $9, $10, $11}'
}
echo "perfgate $("$exe" --version | awk '{print $2}'), prismq gate, $users users in all, ${secs}s, demo at $url, $(nproc) CPUs"
printf '%-6s %-10s %9s %8s %8s %8s %8s\n' round run requests p50_ms p90_ms p95_ms p99_ms
for r in $(seq "$rounds"); do
  timeout 120 "$exe" run gates/prismq.yaml --host "$url" --users "$users" --spawn-rate 60 --run-time "${secs}s" \
    --seed "$r" -q --out "$work/one.json" >/dev/null 2>&1 || true
  read -r n p50 p90 p95 p99 <<<"$(total "$work/one.json")"
  printf '%-6s %-10s %9s %8s %8s %8s %8s\n' "$r" single "$n" "$p50" "$p90" "$p95" "$p99"
  start="$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%S.%3NZ)"
  pids=()
  for i in 1 2; do
    timeout 120 "$exe" run gates/prismq.yaml --host "$url" --users "$users" --spawn-rate 60 --run-time "${secs}s" \
      --seed "$r" --shard "$i/2" --run-id "bench-$r" --start-at "$start" -q --out "$work/s$i.json" >/dev/null 2>&1 &
    pids+=("$!")
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  "$exe" merge "$work/s1.json" "$work/s2.json" --out "$work/merged.json" 2>/dev/null
  read -r n p50 p90 p95 p99 <<<"$(total "$work/merged.json")"
  printf '%-6s %-10s %9s %8s %8s %8s %8s\n' "$r" "2 shards" "$n" "$p50" "$p90" "$p95" "$p99"
done
