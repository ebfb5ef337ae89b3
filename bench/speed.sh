#!/usr/bin/env bash
# perfgate's engine speed against wrk and oha, on one machine, in one invocation (see bench/README.md).
#
#   bash bench/speed.sh                           # 3 rounds x 20 s, plus the extra measurements (~13 min + build)
#   bash bench/speed.sh --rounds 1 --seconds 5 --open-seconds 10 --rss-seconds 5,20   # smoke run (~2 min)
#   bash bench/speed.sh --perfgate target/release/perfgate --no-extra
#
# What it does:
#   1. installs what is missing: nginx and wrk (apt), oha (`cargo install oha --locked` into bench/.tools;
#      on failure it goes on without oha and says so); builds perfgate (`cargo build --release`) unless
#      --perfgate is given, and runs a private copy of the binary;
#   2. waits until the machine is quiet: no `bench/detection.py` and no cargo/rustc running (polls
#      every 30 s, up to --wait-minutes);
#   3. starts nginx (1 worker, access_log off, keep-alive, keepalive_requests 10^9, sendfile,
#      tcp_nodelay) serving a 200-byte JSON on 127.0.0.1, pinned to core 0; runs the generators pinned to
#      core 1, one thread each (`wrk -t1`, `oha --worker-threads 1`; perfgate's runtime sizes itself
#      from the affinity mask), at 10 and 50 connections, each tool once per round, the order rotating
#      from round to round;
#   4. extra measurements for the issue's goals: perfgate's peak RSS over a 10 s and a 60 s run; p50 of
#      perfgate and wrk against `perfgate serve-demo --no-base-latency --latency 20ms`; the open model
#      (200/s, 30 s, 50 connections) against the demo stalling 500 ms every 5 s, perfgate's corrected
#      p99 against `oha -q 200 --latency-correction`;
#   5. prints the table (medians over rounds; ratios are medians of same-round ratios) and the goals
#      with PASS/MISS. Raw outputs go to --out (default target/bench/speed-TIMESTAMP/).
#
# CPU per request is user+sys of the generator process from the OS (GNU time) divided by the requests it
# completed; peak RSS is GNU time's maximum resident set size. Every process this script starts runs in
# its own process group and is stopped by the EXIT/INT/TERM trap.

set -euo pipefail

ROUNDS=3
SECONDS_PER_RUN=20
PERFGATE=""
OUT=""
EXTRA=1
USE_OHA=1
WAIT_MINUTES=40
CONNS="10 50"
RSS_SHORT=10
RSS_LONG=60
OPEN_RATE=200
OPEN_SECONDS=30
OPEN_CONNS=50
P50_LATENCY=20ms

ARGS="$*"
usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
  cat <<EOF
Options:
  --rounds N          rounds of the alternating comparison, and of the p50 and open-model runs ($ROUNDS)
  --seconds S         length of each saturation and p50 run ($SECONDS_PER_RUN)
  --perfgate PATH     the perfgate binary (default: cargo build --release, then a private copy)
  --out DIR           where raw outputs go (default target/bench/speed-TIMESTAMP)
  --conns "A B"       connection counts of the saturation table ("$CONNS")
  --no-extra          only the saturation table (no RSS, p50 and open-model runs)
  --no-oha            do not install or run oha
  --wait-minutes M    wait at most M minutes for a quiet machine, then measure anyway ($WAIT_MINUTES; 0: no wait)
  --open-seconds S    length of each open-model run; a multiple of 5 s ($OPEN_SECONDS)
  --rss-seconds A,B   lengths of the short and the long peak-RSS run ($RSS_SHORT,$RSS_LONG)
  -h, --help          this text
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --perfgate) PERFGATE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --no-extra) EXTRA=0; shift ;;
    --no-oha) USE_OHA=0; shift ;;
    --wait-minutes) WAIT_MINUTES="$2"; shift 2 ;;
    --open-seconds) OPEN_SECONDS="$2"; shift 2 ;;
    --rss-seconds) RSS_SHORT="${2%,*}"; RSS_LONG="${2#*,}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "speed.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
REPORT="$HERE/speed_report.py"
TOOLS="$HERE/.tools"
OUT="${OUT:-$ROOT/target/bench/speed-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RUNS="$OUT/runs.jsonl"
: > "$RUNS"
log() { printf '[speed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------------
# Process groups, the stop trap, stop_group and nap.
# shellcheck source=bench/procs.sh
source "$HERE/procs.sh"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() { # port, seconds
  local port="$1" n=$(( $2 * 10 ))
  for _ in $(seq "$n"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Pinning: server on core 0, generator on core 1, when there are two cores and taskset.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0)
  PIN_GEN=(taskset -c 1)
  PINNING="server on core 0, generator on core 1"
else
  PIN_SERVER=()
  PIN_GEN=()
  PINNING="no pinning (taskset missing or a single core)"
fi

# ---------------------------------------------------------------------------------------------------
# 1. Tools
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then echo "speed.sh: $* missing; install it (apt-get install $*)" >&2; return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
NGINX="$(command -v nginx || true)"
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
  log "installing nginx"
  apt_install nginx-light || apt_install nginx
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
fi
if ! command -v wrk >/dev/null; then log "installing wrk"; apt_install wrk; fi
if [ ! -x /usr/bin/time ]; then log "installing GNU time"; apt_install time; fi

OHA=""
OHA_NOTE=""
if [ "$USE_OHA" = 1 ]; then
  if [ -x "$TOOLS/bin/oha" ]; then OHA="$TOOLS/bin/oha"
  elif command -v oha >/dev/null; then OHA="$(command -v oha)"
  else
    log "installing oha: cargo install oha --locked --root bench/.tools (a few minutes)"
    if cargo install oha --locked --root "$TOOLS" >"$OUT/oha-install.log" 2>&1; then
      OHA="$TOOLS/bin/oha"
    else
      OHA_NOTE="oha could not be installed (see $OUT/oha-install.log): the table goes on without it"
      log "$OHA_NOTE"
    fi
  fi
else
  OHA_NOTE="oha left out (--no-oha)"
fi

BUILT=0
if [ -z "$PERFGATE" ]; then
  BUILT=1
  log "building perfgate: cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
  PERFGATE="$ROOT/target/release/perfgate"
fi
# A private copy, so a concurrent rebuild cannot swap the binary mid-run.
cp "$PERFGATE" "$OUT/perfgate"
PG="$OUT/perfgate"

WRK_VERSION="$(wrk --version 2>&1 | head -1 | sed 's/ Copyright.*//' || true)"
NGINX_VERSION="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
OHA_VERSION="$([ -n "$OHA" ] && "$OHA" --version 2>&1 | head -1 || echo "oha not available")"
if [ "$BUILT" = 1 ]; then
  PG_COMMIT="built here from $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ -n "$(cd "$ROOT" && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null || true)" ]; then
    PG_COMMIT="$PG_COMMIT + uncommitted changes in src/ or Cargo.*"
  fi
else
  PG_COMMIT="given, modified $(date -r "$PERFGATE" '+%Y-%m-%d %H:%M')"
fi
PG_VERSION="$("$PG" --version 2>&1) (binary $PERFGATE, $PG_COMMIT)"

# oha's flags moved between versions: --output-format json (1.6+) or --json (older).
# One runtime thread where the version has the option (it defaults to the physical cores, whatever the
# affinity mask says).
OHA_JSON=()
OHA_THREADS=()
if [ -n "$OHA" ]; then
  if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then OHA_JSON=(--output-format json)
  else OHA_JSON=(--json); fi
  if "$OHA" --help 2>&1 | grep -q -- '--worker-threads'; then OHA_THREADS=(--worker-threads 1); fi
fi

# ---------------------------------------------------------------------------------------------------
# 2. Wait for a quiet machine
busy() {
  local what=""
  pgrep -f 'detection\.py' >/dev/null 2>&1 && what="$what detection.py"
  pgrep -x cargo >/dev/null 2>&1 && what="$what cargo"
  pgrep -x rustc >/dev/null 2>&1 && what="$what rustc"
  echo "$what"
}
QUIET_NOTE="no build or detection.py when measuring began"
if [ "$WAIT_MINUTES" -gt 0 ]; then
  deadline=$(( $(date +%s) + WAIT_MINUTES * 60 ))
  while :; do
    b="$(busy)"
    [ -z "$b" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      QUIET_NOTE="NOT quiet: still running after $WAIT_MINUTES min:$b"
      log "$QUIET_NOTE; measuring anyway"
      break
    fi
    log "waiting for a quiet machine (running:$b); next look in 30 s"
    nap 30
  done
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "measuring; load average $LOAD_BEFORE"

# ---------------------------------------------------------------------------------------------------
# Servers
NGINX_PORT=""
NGINX_PGID=""
start_nginx() {
  local dir="$OUT/nginx"
  mkdir -p "$dir/www" "$dir/tmp"
  # 200 bytes of JSON.
  python3 - "$dir/www/data.json" <<'EOF'
import json, sys
doc = {"status": "ok", "service": "perfgate-bench", "items": [1, 2, 3], "pad": ""}
doc["pad"] = "x" * (200 - len(json.dumps(doc, separators=(",", ":"))))
text = json.dumps(doc, separators=(",", ":"))
assert len(text) == 200
open(sys.argv[1], "w").write(text)
EOF
  NGINX_PORT="$(free_port)"
  cat > "$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nopush off;
  tcp_nodelay on;
  keepalive_timeout 300s;
  keepalive_requests 1000000000;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  types { application/json json; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $dir/www;
    location / { }
  }
}
EOF
  "${PIN_SERVER[@]}" "$NGINX" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  NGINX_PGID=$!
  PGIDS+=("$NGINX_PGID")
  wait_port "$NGINX_PORT" 10 || { cat "$dir/stdout.log" "$dir/error.log" >&2 2>/dev/null; echo "nginx did not start" >&2; exit 1; }
}

DEMO_PORT=""
DEMO_PGID=""
start_demo() { # extra serve-demo arguments
  DEMO_PORT="$(free_port)"
  "${PIN_SERVER[@]}" "$PG" serve-demo --port "$DEMO_PORT" "$@" >"$OUT/demo-$DEMO_PORT.log" 2>&1 &
  DEMO_PGID=$!
  PGIDS+=("$DEMO_PGID")
  wait_port "$DEMO_PORT" 20 || { cat "$OUT/demo-$DEMO_PORT.log" >&2; echo "the demo did not start" >&2; exit 1; }
}

# ---------------------------------------------------------------------------------------------------
# One measured run: GNU time around the pinned generator, in its own process group.
#   measure KIND TOOL CONNS ROUND LABEL -- command...
# The command's stdout goes to $OUT/KIND-TOOL-CONNS-rROUND[-LABEL].out; perfgate writes its results JSON.
measure() {
  local kind="$1" tool="$2" conns="$3" round="$4" label="$5"
  shift 6
  local base="$OUT/$kind-$tool-c$conns-r$round${label:+-$label}"
  local rc=0
  log "run: $kind $tool ${conns} conns round $round${label:+ ($label)}"
  local b
  b="$(busy)"
  [ -z "$b" ] || echo "$kind $tool $conns conns round $round${label:+ $label}: running:$b; load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/busy.log"
  /usr/bin/time -f '%U %S %M %e' -o "$base.time" "${PIN_GEN[@]}" "$@" >"$base.out" 2>"$base.err" &
  local g=$!
  PGIDS+=("$g")
  wait "$g" || rc=$?
  forget "$g"
  local output="$base.out"
  [ "$tool" = perfgate ] && output="$base.json"
  echo "$*" > "$base.cmd"
  python3 "$REPORT" record --kind "$kind" --tool "$tool" --conns "$conns" --round "$round" \
    ${label:+--label "$label"} --output "$output" --time "$base.time" --exit-code "$rc" >> "$RUNS"
  # perfgate exits 3 when it saturated its core: expected here, the results file is still read.
  case "$tool:$rc" in
    perfgate:0|perfgate:1|perfgate:3|wrk:0|oha:0) ;;
    *) log "warning: $tool exited $rc (see $base.err)" ;;
  esac
}

run_perfgate() { # kind conns round label gate seconds host [extra args]
  local kind="$1" conns="$2" round="$3" label="$4" gate="$5" secs="$6" host="$7"
  shift 7
  local base="$OUT/$kind-perfgate-c$conns-r$round${label:+-$label}"
  measure "$kind" perfgate "$conns" "$round" "$label" -- \
    "$PG" run "$gate" --host "$host" --run-time "${secs}s" --quiet --out "$base.json" "$@"
}
run_wrk() { # kind conns round label seconds url
  measure "$1" wrk "$2" "$3" "$4" -- wrk -t1 -c"$2" -d"$5"s --latency "$6"
}
run_oha() { # kind conns round label seconds url [extra args]
  local kind="$1" conns="$2" round="$3" label="$4" secs="$5" url="$6"
  shift 6
  measure "$kind" oha "$conns" "$round" "$label" -- \
    "$OHA" --no-tui "${OHA_JSON[@]}" "${OHA_THREADS[@]}" -z "${secs}s" -c "$conns" "$@" "$url"
}

# Gates
SAT_GATE="$OUT/speed.yaml"
cat > "$SAT_GATE" <<'EOF'
# bench/speed.sh: one task, no think time (closed model; --users sets the connections).
version: 1
name: speed
load: {users: 10, run_time: 20s}
scenarios:
  Bench:
    tasks:
      - request: GET /data.json
EOF
DEMO_GATE="$OUT/speed-demo.yaml"
cat > "$DEMO_GATE" <<'EOF'
# bench/speed.sh: p50 against the demo with a fixed delay (closed model, no think time).
version: 1
name: speed-demo
load: {users: 10, run_time: 20s}
scenarios:
  Bench:
    tasks:
      - request: GET /api/health
EOF
OPEN_GATE="$OUT/speed-open.yaml"
cat > "$OPEN_GATE" <<EOF
# bench/speed.sh: the open model at a fixed rate against a stalling demo.
version: 1
name: speed-open
load: {arrival_rate: $OPEN_RATE, run_time: ${OPEN_SECONDS}s, max_connections: $OPEN_CONNS}
scenarios:
  Bench:
    tasks:
      - request: GET /api/health
EOF
"$PG" validate "$SAT_GATE" >/dev/null
"$PG" validate "$DEMO_GATE" >/dev/null
"$PG" validate "$OPEN_GATE" >/dev/null

TOOLS_LIST=(perfgate wrk)
[ -n "$OHA" ] && TOOLS_LIST+=(oha)
N_TOOLS=${#TOOLS_LIST[@]}

START=$(date +%s)
# ---------------------------------------------------------------------------------------------------
# 3. Saturation: nginx on core 0, each tool once per round and connection count, order rotating.
start_nginx
URL="http://127.0.0.1:$NGINX_PORT/data.json"
HOST="http://127.0.0.1:$NGINX_PORT"
for round in $(seq "$ROUNDS"); do
  for conns in $CONNS; do
    for k in $(seq 0 $(( N_TOOLS - 1 ))); do
      tool="${TOOLS_LIST[$(( (k + round - 1) % N_TOOLS ))]}"
      case "$tool" in
        perfgate) run_perfgate sat "$conns" "$round" "" "$SAT_GATE" "$SECONDS_PER_RUN" "$HOST" --users "$conns" ;;
        wrk) run_wrk sat "$conns" "$round" "" "$SECONDS_PER_RUN" "$URL" ;;
        oha) run_oha sat "$conns" "$round" "" "$SECONDS_PER_RUN" "$URL" ;;
      esac
    done
  done
done

# ---------------------------------------------------------------------------------------------------
# 4. Extra measurements
if [ "$EXTRA" = 1 ]; then
  # Peak RSS: a short and a long run at 10 connections against nginx.
  run_perfgate rss 10 1 short "$SAT_GATE" "$RSS_SHORT" "$HOST" --users 10
  run_perfgate rss 10 1 long "$SAT_GATE" "$RSS_LONG" "$HOST" --users 10
  stop_group "$NGINX_PGID"

  # p50 against the demo with a fixed delay, perfgate and wrk alternating.
  start_demo --no-base-latency --latency "$P50_LATENCY"
  DHOST="http://127.0.0.1:$DEMO_PORT"
  for round in $(seq "$ROUNDS"); do
    if [ $(( round % 2 )) = 1 ]; then order="perfgate wrk"; else order="wrk perfgate"; fi
    for tool in $order; do
      case "$tool" in
        perfgate) run_perfgate p50 10 "$round" "" "$DEMO_GATE" "$SECONDS_PER_RUN" "$DHOST" --users 10 ;;
        wrk) run_wrk p50 10 "$round" "" "$SECONDS_PER_RUN" "$DHOST/api/health" ;;
      esac
    done
  done
  stop_group "$DEMO_PGID"

  # Open model against the stalling demo, perfgate and oha alternating; each run starts 0.5 s after a
  # stall ends, so every run sees the same six stalls (at 4.0-4.5 s, 9.0-9.5 s, ... 29.0-29.5 s of a 30 s run).
  start_demo --no-base-latency --stall-every 5s --stall-for 500ms
  DHOST="http://127.0.0.1:$DEMO_PORT"
  OPEN_TOOLS="perfgate"
  [ -n "$OHA" ] && OPEN_TOOLS="perfgate oha"
  for round in $(seq "$ROUNDS"); do
    order="$OPEN_TOOLS"
    [ $(( round % 2 )) = 0 ] && [ -n "$OHA" ] && order="oha perfgate"
    for tool in $order; do
      python3 "$REPORT" wait-stall --port "$DEMO_PORT" --offset 0.5
      case "$tool" in
        perfgate) run_perfgate open "$OPEN_CONNS" "$round" "" "$OPEN_GATE" "$OPEN_SECONDS" "$DHOST" ;;
        oha) run_oha open "$OPEN_CONNS" "$round" "" "$OPEN_SECONDS" "$DHOST/api/health" -q "$OPEN_RATE" --latency-correction ;;
      esac
    done
  done
  stop_group "$DEMO_PGID"
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
ELAPSED=$(( $(date +%s) - START ))

# ---------------------------------------------------------------------------------------------------
# 5. Report
cat > "$OUT/meta.json" <<EOF
{"rss_short_s": $RSS_SHORT, "rss_long_s": $RSS_LONG, "open_rate": $OPEN_RATE, "open_conns": $OPEN_CONNS,
 "p50_latency": "$P50_LATENCY"}
EOF
{
  echo "# perfgate speed benchmark"
  echo
  echo "command:    bash bench/speed.sh $ARGS" | sed 's/ *$//'
  echo "perfgate:   $PG_VERSION"
  echo "peers:      $WRK_VERSION; $OHA_VERSION; $NGINX_VERSION (1 worker, 200-byte JSON, keep-alive)"
  echo "machine:    $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $PINNING"
  echo "load avg:   $LOAD_BEFORE at the start, $LOAD_AFTER at the end ($QUIET_NOTE)"
  echo "protocol:   $ROUNDS rounds x ${SECONDS_PER_RUN} s per tool and connection count, order rotating; wall time ${ELAPSED} s"
  [ -n "$OHA_NOTE" ] && echo "note:       $OHA_NOTE"
  if [ -s "$OUT/busy.log" ]; then
    echo "disturbed:  $(wc -l < "$OUT/busy.log") runs started while a build or detection.py ran (see busy.log)"
  else
    echo "disturbed:  no build or detection.py seen at the start of any run"
  fi
  python3 "$REPORT" report --runs "$RUNS" --meta "$OUT/meta.json"
  echo
  echo "raw outputs: $OUT"
} | tee "$OUT/report.md"
