#!/usr/bin/env bash
# Soak: gates/prismq.yaml against the embedded demo backend for a long run, watching perfgate's own memory
# and the steadiness of the load it drives (see bench/README.md). Not run in CI.
#
#   bash bench/soak.sh                      # 10 minutes
#   bash bench/soak.sh --minutes 3          # a shorter look
#   bash bench/soak.sh --perfgate target/release/perfgate --gate gates/prismq.yaml --users 150
#
# It starts `perfgate serve-demo` on a free loopback port, runs `perfgate run GATE --run-time Nm --out ...`
# against it, samples perfgate's VmRSS (/proc/PID/status) every 10 s, and at the end prints: RSS at 1 min,
# half-way and the end, its slope, and per minute the requests, errors and p95 from the results' per-second
# series, with a verdict on whether each of them is steady. Raw files go to --out
# (default target/bench/soak-TIMESTAMP/). Every process it starts is stopped by the EXIT/INT/TERM trap.

set -euo pipefail

MINUTES=10
PERFGATE=""
OUT=""
GATE=""
USERS=""
INTERVAL=10
REPORT_ONLY=""

while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --perfgate) PERFGATE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --gate) GATE="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --report) REPORT_ONLY="$2"; shift 2 ;;
    -h|--help)
      sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
      echo "Options: --minutes N (10, whole minutes)  --perfgate PATH (default: cargo build --release)"
      echo "         --gate FILE (gates/prismq.yaml)  --users N (the gate's)  --interval S (RSS sampling, 10)"
      echo "         --out DIR  --report DIR (print the report of a finished soak again)"
      exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$MINUTES" in ''|*[!0-9]*|0) echo "soak.sh: --minutes takes a whole number of minutes, at least 1" >&2; exit 2 ;; esac

# The report: report DIR MINUTES EXIT_CODE GATE INTERVAL (also `--report DIR` for a finished soak).
report() {
python3 - "$1" "$2" "$3" "$4" "$5" <<'EOF'
import json, statistics, sys

out, minutes, rc, gate, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = []
for line in open(f"{out}/rss.tsv").read().splitlines()[1:]:
    t, pg, demo = (line.split("\t") + ["", ""])[:3]
    rows.append((float(t), int(pg), int(demo) if demo else None))
try:
    res = json.load(open(f"{out}/results.json"))
except (OSError, ValueError) as e:
    print(f"no results file: {e}")
    res = None

def at(sec):
    """The RSS sample nearest to `sec` seconds."""
    during = [r for r in rows if r[0] < minutes * 60 - 1] or rows
    return min(during, key=lambda r: abs(r[0] - sec)) if during else None

def mib(kib):
    return f"{kib / 1024:.1f} MiB"

print()
print(f"# perfgate soak: {minutes} min of {gate} against the demo (perfgate exit {rc})")
print()
print(f"## perfgate's own memory (VmRSS from /proc/PID/status, sampled every {interval} s)")
marks = sorted({60, minutes * 30, minutes * 60})
for m in marks:
    r = at(m)
    if r:
        print(f"  at {m / 60:4.1f} min (sample at {r[0]:6.1f} s): {mib(r[1])}" + (f"   demo {mib(r[2])}" if r[2] else ""))
flat = None
if rows:
    peak = max(r[1] for r in rows)
    # Samples under load: from about 1 min to just before the run time (the last sample may catch
    # perfgate writing its results and freeing memory).
    during = [r for r in rows if r[0] < minutes * 60 - 1] or rows
    after = [r for r in during if r[0] >= 55] or during
    first, last = after[0][1], after[-1][1]

    def slope_kib_per_min(pts):
        """Least-squares slope of RSS over time, KiB per minute."""
        if len(pts) < 3:
            return 0.0
        xs = [r[0] / 60 for r in pts]
        ys = [float(r[1]) for r in pts]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0

    growth = (last - first) / first if first else 0.0
    # A leak keeps growing; a warm-up (connection buffers, allocator arenas, the results series) levels
    # off. The second half of the run tells them apart: flat = it grows by less than 5 %.
    half = [r for r in during if r[0] >= minutes * 30 - 1] or during
    h_first, h_last = half[0][1], half[-1][1]
    h_growth = (h_last - h_first) / h_first if h_first else 0.0
    flat = abs(h_growth) <= 0.05
    print(f"  peak {mib(peak)}; from 1 min to the last sample under load {growth * 100:+.1f} % "
          f"({mib(first)} -> {mib(last)}), slope {slope_kib_per_min(after):+.0f} KiB/min")
    print(f"  second half of the run: {h_growth * 100:+.1f} % ({mib(h_first)} -> {mib(h_last)}), "
          f"slope {slope_kib_per_min(half):+.0f} KiB/min")
    print(f"  RSS flat (the second half grows by less than 5 %): {'YES' if flat else 'NO'}"
          f"{'' if abs(growth) <= 0.10 else '  (but more than 10 % from 1 min to the end: a warm-up, or a slow leak)'}")

steady = {}
if res:
    series = res.get("series", [])
    load = res.get("load", {})
    print()
    print(f"  run: {load.get('duration_s', 0):.1f} s, peak {load.get('peak_users')} users, ramp-up {load.get('ramp_up_s', 0):.1f} s, "
          f"generator CPU {load.get('generator', {}).get('cpu_pct') or 0:.1f} % of all cores, "
          f"late sends {load.get('generator', {}).get('late_sends', 0)} of {load.get('generator', {}).get('planned_sends', 0)}")
    per = {}
    for p in series:
        m = min(int(max(p["t"] - 1e-9, 0) // 60), minutes - 1)
        d = per.setdefault(m, {"req": 0, "err": 0, "secs": 0.0, "p95": [], "ramp": 0.0})
        d["req"] += p["requests"]
        d["err"] += p["failures"]
        d["secs"] += p["dt"]
        if p.get("ramp_up"):
            d["ramp"] += p["dt"]
        if p["requests"]:
            d["p95"].append(p["p95_ms"])
    print()
    print("## Per minute (from the results' per-second series; p95 = median of the per-second p95s)")
    print()
    print("| minute | requests | req/s | errors | error % | p95 ms (median of seconds) | p95 ms (worst second) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rates, errp, p95s = [], [], []
    for m in sorted(per):
        d = per[m]
        rate = d["req"] / d["secs"] if d["secs"] else 0.0
        ep = d["err"] * 100 / d["req"] if d["req"] else 0.0
        p95 = statistics.median(d["p95"]) if d["p95"] else 0.0
        worst = max(d["p95"]) if d["p95"] else 0.0
        note = f" (ramp-up {d['ramp']:.0f} s)" if d["ramp"] else ""
        print(f"| {m + 1}{note} | {d['req']:,} | {rate:.1f} | {d['err']:,} | {ep:.2f} | {p95:.1f} | {worst:.1f} |")
        if not d["ramp"] or d["ramp"] < 0.2 * d["secs"]:
            rates.append(rate); errp.append(ep); p95s.append(p95)

    def spread(xs):
        mid = statistics.median(xs)
        return max(abs(x - mid) / mid for x in xs) if mid else 0.0

    print()
    if len(rates) >= 2:
        s_rate, s_p95 = spread(rates), spread(p95s)
        e_rng = max(errp) - min(errp)
        steady = {
            "requests": s_rate <= 0.10,
            "errors": e_rng <= 2.0,
            "p95": s_p95 <= 0.20,
        }
        print(f"  requests/s per minute within ±10 % of their median: {'YES' if steady['requests'] else 'NO'} (widest {s_rate * 100:.1f} %)")
        print(f"  error % per minute within 2 points of each other:    {'YES' if steady['errors'] else 'NO'} (range {e_rng:.2f} points)")
        print(f"  p95 per minute within ±20 % of its median:          {'YES' if steady['p95'] else 'NO'} (widest {s_p95 * 100:.1f} %)")
        print("  (minutes mostly spent in the ramp-up are left out of these checks)")
    else:
        print("  too few full minutes to judge steadiness")
print()
if not steady or flat is None:
    verdict = "not judged (fewer than two full minutes after the ramp-up)"
else:
    verdict = "STEADY" if flat and all(steady.values()) else "NOT STEADY"
print(f"soak verdict: {verdict}")
print(f"raw files: {out}")
EOF
}

if [ -n "$REPORT_ONLY" ]; then
  # shellcheck disable=SC1091
  . "$REPORT_ONLY/soak.env"
  report "$REPORT_ONLY" "$MINUTES" "$RC" "$GATE" "$INTERVAL"
  exit 0
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
GATE="${GATE:-$ROOT/gates/prismq.yaml}"
OUT="${OUT:-$ROOT/target/bench/soak-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Every background job in its own process group, stopped by the trap (procs.sh).
# shellcheck source=bench/procs.sh
source "$HERE/procs.sh"

if [ -z "$PERFGATE" ]; then
  log "building perfgate: cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
  PERFGATE="$ROOT/target/release/perfgate"
fi
cp "$PERFGATE" "$OUT/perfgate"   # a private copy: a concurrent rebuild cannot swap it
PG="$OUT/perfgate"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
"$PG" serve-demo --port "$PORT" >"$OUT/demo.log" 2>&1 &
DEMO=$!
PGIDS+=("$DEMO")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

ARGS=(run "$GATE" --host "http://127.0.0.1:$PORT" --run-time "$(( MINUTES * 60 ))s" --quiet --out "$OUT/results.json")
[ -n "$USERS" ] && ARGS+=(--users "$USERS")
echo "$PG ${ARGS[*]}" > "$OUT/command.txt"
log "soak: $MINUTES min of $(basename "$GATE") against the demo on port $PORT; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PG" "${ARGS[@]}" >"$OUT/perfgate.out" 2>"$OUT/perfgate.err" &
RUN=$!
PGIDS+=("$RUN")

# Sample VmRSS of perfgate itself (and of the demo, for comparison) every INTERVAL seconds.
printf 't_s\tperfgate_rss_kib\tdemo_rss_kib\n' > "$OUT/rss.tsv"
t0=$(date +%s.%N)
n=0
rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
while kill -0 "$RUN" 2>/dev/null; do
  now=$(date +%s.%N)
  el=$(awk -v a="$now" -v b="$t0" 'BEGIN {printf "%.1f", (a - b)}')
  r="$(rss_of "$RUN")"
  [ -n "$r" ] || break
  printf '%s\t%s\t%s\n' "$el" "$r" "$(rss_of "$DEMO")" >> "$OUT/rss.tsv"
  if [ $(( n % (60 / INTERVAL > 0 ? 60 / INTERVAL : 1) )) = 0 ]; then
    log "t=${el}s perfgate RSS $(( r / 1024 )) MiB"
  fi
  n=$(( n + 1 ))
  # Sleep until t0 + n * INTERVAL, in steps of at most 0.5 s so the end of the run is seen quickly.
  while kill -0 "$RUN" 2>/dev/null; do
    step=$(awk -v t0="$t0" -v n="$n" -v i="$INTERVAL" -v now="$(date +%s.%N)" \
      'BEGIN {d = t0 + n * i - now; if (d <= 0) exit 1; printf "%.3f", (d < 0.5 ? d : 0.5)}') || break
    sleep "$step"
  done
done
rc=0
wait "$RUN" || rc=$?
forget "$RUN"
log "perfgate exited $rc (0 pass, 1 a target or budget missed, 3 untrusted run)"
printf 'MINUTES=%q\nRC=%q\nGATE=%q\nINTERVAL=%q\n' "$MINUTES" "$rc" "$GATE" "$INTERVAL" > "$OUT/soak.env"
report "$OUT" "$MINUTES" "$rc" "$GATE" "$INTERVAL"
