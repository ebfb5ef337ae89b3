#!/usr/bin/env bash
# The cost of the live view (issue 20): the generator's CPU per request of `perfgate run` against the
# demo, without --web and with --web and BROWSERS open pages (curl reading the event stream, as a
# browser does), median of ROUNDS runs each, alternating. Prints each run, the medians and the ratio.
#
#   bash bench/web.sh [PERFGATE_BINARY] [ROUNDS] [BROWSERS]
#
# Every run is bounded (--run-time plus a timeout); the demo and the streams are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
exe="${1:-target/release/perfgate}"
rounds="${2:-3}"
browsers="${3:-1}"
[ -x "$exe" ] || { echo "no perfgate binary at $exe (cargo build --release)" >&2; exit 2; }
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$exe" serve-demo --port 0 2>"$work/demo.log" &
pids+=("$!")
for _ in $(seq 50); do
  url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/demo.log" | head -1 || true)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the demo did not start" >&2; exit 1; }
users=20
secs="${SECS:-20}"
# No think time: the generator's per-request work dominates its CPU, as in a throughput run; the live
# view's cost is per second (one update built, whatever the rate), so a slow gate would overstate it.
cat >"$work/gate.yaml" <<'YAML'
version: 1
name: web-bench
load: {users: 20, spawn_rate: 100, run_time: 20s}
scenarios:
  Fast:
    think_time: 0s
    tasks:
      - request: GET /api/health
      - request: GET /api/modules
targets:
  - select: total
    p95: < 500ms
YAML
port=$((20000 + RANDOM % 20000))
per_request() { # generator CPU microseconds per request, and requests, from a results file
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
n = sum(q["phases"]["ramp_up"]["requests"] + q["phases"]["steady"]["requests"] for q in r["requests"])
cpu = r["load"]["generator"]["cpu_s"]
print(f"{cpu * 1e6 / max(n, 1):.2f} {n} {cpu}")' "$1"
}
run() { # run MODE ROUND -> "us_per_request requests cpu_s"
  local mode="$1" r="$2" web=()
  [ "$mode" = web ] && web=(--web "127.0.0.1:$port" --web-linger 0s)
  timeout $((secs + 60)) "$exe" run "$work/gate.yaml" --host "$url" --users "$users" --spawn-rate 100 \
    --run-time "${secs}s" --seed "$r" -q --out "$work/$mode-$r.json" "${web[@]}" >/dev/null 2>"$work/$mode-$r.err" &
  local run_pid=$!
  local streams=()
  if [ "$mode" = web ]; then
    for _ in $(seq 50); do grep -q "live view at" "$work/$mode-$r.err" 2>/dev/null && break; sleep 0.1; done
    for b in $(seq "$browsers"); do
      timeout $((secs + 30)) curl -sN "http://127.0.0.1:$port/events" >"$work/stream-$r-$b.txt" 2>/dev/null &
      streams+=("$!")
    done
  fi
  wait "$run_pid" || true
  for s in "${streams[@]}"; do kill "$s" 2>/dev/null || true; wait "$s" 2>/dev/null || true; done
  if [ "$mode" = web ]; then
    local updates
    updates="$(grep -c '^data: ' "$work/stream-$r-1.txt" || true)"
    echo "    (browser 1 of $browsers read $updates updates)" >&2
  fi
  per_request "$work/$mode-$r.json"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "perfgate $("$exe" --version | awk '{print $2}'), GET /api/health + /api/modules without think time, $users users, ${secs}s per run, $browsers open page(s), demo at $url, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %14s %9s %7s\n' round mode 'us CPU/req' requests cpu_s
: >"$work/plain.txt"; : >"$work/web.txt"
for r in $(seq "$rounds"); do
  for mode in plain web; do
    read -r us n cpu <<<"$(run "$mode" "$r")"
    printf '%-6s %-8s %14s %9s %7s\n' "$r" "$mode" "$us" "$n" "$cpu"
    echo "$us" >>"$work/$mode.txt"
  done
done
plain="$(median <"$work/plain.txt")"
web="$(median <"$work/web.txt")"
echo "median CPU per request: without --web $plain us, with --web $web us; ratio $(python3 -c "print(f'{$web / $plain:.3f}')") (goal: below 1.05); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
