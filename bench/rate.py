#!/usr/bin/env python3
"""The generator's cost at a fixed rate: CPU, context switches and system calls per request.

In CI the generator shares a small runner with the service it measures, so what it burns at a gate's
usual rate is taken from the service. This runs, alternating in each round:

  - perfgate's open model (`arrival_rate: RATE`, `max_connections: CONNS`), one or two binaries;
  - perfgate's closed model at the same rate (RATE users, a constant 1 s think time), the same binaries;
  - `oha -q RATE --latency-correction -c CONNS` (the peer's fixed-rate mode), when oha is found;

against nginx serving a 200-byte JSON (1 worker, pinned to core 0; the generators pinned to core 1),
or with `--target stall-demo` against `perfgate serve-demo --stall-every 5s --stall-for 500ms` (each
run then starts 0.5 s after a stall, so every run sees the same stalls). Every generator runs under
`perf stat -e task-clock,context-switches,raw_syscalls:sys_enter` (software events and a tracepoint,
so they work on VMs without hardware counters); CPU per request is task-clock over the requests the
tool completed. Prints medians over rounds and ratios (of same-round pairs), and perfgate's mean send
lag (`generator.mean_lag_ms`) and, against the stalling demo, the corrected p99 of both tools.

    python3 bench/rate.py --head target/release/perfgate [--base OLD_BINARY] [--rate 2000] \\
        [--seconds 20] [--rounds 3] [--conns 50] [--target nginx|stall-demo] [--no-closed] [--no-open] \\
        [--users 50000 --sources 127.0.0.2,127.0.0.3 --nofile 200000] [--shards 3 --nginx-workers 4]

`--shards N` runs each perfgate job as N shard processes of one run (`--shard I/N`, one `--start-at`,
then `perfgate merge`), all pinned to core 1: the way past a per-process descriptor limit
(RLIMIT_NOFILE) on one machine. Their CPU is the sum of the processes' (from wait4, not perf), their
peak RSS the sum of each one's peak (an upper bound of the peak of the sum). `--nginx-workers K`
starts nginx with K worker processes sharing the port (`reuseport`), each with its own descriptors.

nginx and oha: `apt-get install nginx-light` and `cargo install oha --locked --root bench/.tools`
(bench/speed.sh installs both). Needs root or perf_event_paranoid <= 1 for the tracepoint; without
it the system-call column is empty.
"""

import argparse
import datetime
import json
import os
import pwd
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import speed_report  # noqa: E402  (HdrHistogram decoding and the tools' output parsers)

EVENTS = "task-clock,context-switches,raw_syscalls:sys_enter"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pin(core):
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


def start_nginx(work, workers=1):
    """nginx serving a 200-byte JSON at /data.json, and at /unique/data.json with a response head that
    differs on every response (a random X-Request-Id, as services that tag responses send)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        sys.exit("rate.py: nginx missing (apt-get install nginx-light, or run bench/speed.sh once)")
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "www"))
    os.makedirs(os.path.join(d, "tmp"))
    doc = {"status": "ok", "service": "perfgate-bench", "items": [1, 2, 3], "pad": ""}
    doc["pad"] = "x" * (200 - len(json.dumps(doc, separators=(",", ":"))))
    open(os.path.join(d, "www", "data.json"), "w").write(json.dumps(doc, separators=(",", ":")))
    port = free_port()
    master = "on" if workers > 1 else "off"
    # A master running as root switches its workers to `nobody`, who cannot read a 0700 temp folder.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if workers > 1 and os.geteuid() == 0 else ""
    reuse = " reuseport" if workers > 1 else ""
    conf = f"""daemon off; master_process {master}; worker_processes {workers}; pid {d}/nginx.pid; {user}
error_log {d}/error.log warn;
worker_rlimit_nofile {max(20000, resource.getrlimit(resource.RLIMIT_NOFILE)[0])};
events {{ worker_connections 120000; multi_accept on; }}
http {{ access_log off; sendfile on; tcp_nodelay on; keepalive_timeout 300s;
  keepalive_requests 1000000000; client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  types {{ application/json json; }}
  server {{ listen 127.0.0.1:{port} backlog=65535{reuse}; root {d}/www; location / {{ }}
    location /unique/ {{ alias {d}/www/; add_header X-Request-Id $request_id; }} }} }}
"""
    open(os.path.join(d, "nginx.conf"), "w").write(conf)
    p = subprocess.Popen(pin(0) + [nginx, "-p", d, "-c", os.path.join(d, "nginx.conf")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if not wait_port(port):
        sys.exit("rate.py: nginx did not start")
    return p, f"http://127.0.0.1:{port}", "/data.json"


def start_demo(perfgate, work):
    port = free_port()
    log = open(os.path.join(work, "demo.log"), "w")
    p = subprocess.Popen(pin(0) + [perfgate, "serve-demo", "--port", str(port), "--no-base-latency",
                                   "--stall-every", "5s", "--stall-for", "500ms"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait_port(port, 20):
        sys.exit("rate.py: the demo did not start")
    return p, f"http://127.0.0.1:{port}", "/api/health"


def perf_stat(path):
    """task-clock (ms), context switches, system calls from `perf stat -x,` output."""
    out = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) < 3 or not f[0] or f[0].startswith("<"):
            continue
        try:
            out[f[2]] = float(f[0])
        except ValueError:
            pass
    return out.get("task-clock"), out.get("context-switches"), out.get("raw_syscalls:sys_enter")


def gate(path, kind, rate, seconds, conns, task_path, users=None, sources=None):
    src = f", source_addresses: [{sources}]" if sources else ""
    if kind == "open":
        load = f"{{arrival_rate: {rate}, run_time: {seconds}s, max_connections: {conns}{src}}}"
        think = ""
    else:
        # `users` users with a constant think time that makes `rate` requests per second.
        users = users or rate
        load = f"{{users: {users}, spawn_rate: {min(max(rate, 100), 5000)}, run_time: {seconds}s{src}}}"
        think = f"    think_time: {users / rate * 1000:.0f}ms\n"
    open(path, "w").write(
        f"version: 1\nname: rate-{kind}\nload: {load}\nscenarios:\n  Bench:\n{think}"
        f"    tasks:\n      - request: GET {task_path}\n")


def run(cmd, stem, work):
    """Runs one generator under perf stat; returns the perf figures."""
    stat = os.path.join(work, stem + ".perf")
    with open(os.path.join(work, stem + ".out"), "w") as out, open(os.path.join(work, stem + ".err"), "w") as err:
        p = subprocess.Popen(["perf", "stat", "-x,", "-o", stat, "-e", EVENTS, "--"] + pin(1) + cmd,
                             stdout=out, stderr=err)
        # wait4's figures cover perf and the generator it waited for (the peak is the larger one's).
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    ms, cs, sc = perf_stat(stat)
    return {"rc": p.returncode, "cpu_ms": ms, "cs": cs, "syscalls": sc, "rss_mib": ru.ru_maxrss / 1024.0}


def run_shards(cmd, n, stem, work):
    """Runs `cmd` as n shards of one run, started together, and merges them into stem.json; returns
    the summed CPU time and peak RSS of the shard processes (wait4)."""
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    procs = []
    for i in range(1, n + 1):
        out = os.path.join(work, f"{stem}-s{i}.json")
        args = cmd + ["--out", out, "--shard", f"{i}/{n}", "--run-id", stem, "--start-at", start]
        with open(os.path.join(work, f"{stem}-s{i}.err"), "w") as err:
            procs.append((subprocess.Popen(pin(1) + args, stdout=subprocess.DEVNULL, stderr=err), out))
    cpu_s, rss_kib, rcs = 0.0, 0, []
    for p, _ in procs:
        _, status, ru = os.wait4(p.pid, 0)
        rcs.append(os.waitstatus_to_exitcode(status))
        cpu_s += ru.ru_utime + ru.ru_stime
        rss_kib += ru.ru_maxrss
    merged = os.path.join(work, stem + ".json")
    m = subprocess.run([cmd[0], "merge"] + [o for _, o in procs] + ["--out", merged],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if m.returncode != 0:
        print(f"merge failed: {m.stderr.strip()}", file=sys.stderr)
    return {"rc": next((rc for rc in rcs if rc != 0), 0), "cpu_ms": cpu_s * 1000.0, "cs": None, "syscalls": None, "rss_mib": rss_kib / 1024.0,
            "shard_rcs": rcs}


def wait_stall(base_url):
    host, port = base_url.split("//")[1].split(":")
    a = argparse.Namespace(host=host, port=int(port), path="/api/health", every=5.0, min_stall=0.2, offset=0.5)
    speed_report.cmd_wait_stall(a)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head", required=True, help="perfgate binary")
    ap.add_argument("--base", help="a second perfgate binary (an older build)")
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--target", choices=["nginx", "stall-demo"], default="nginx")
    ap.add_argument("--no-closed", action="store_true", help="leave out the closed-model runs")
    ap.add_argument("--no-open", action="store_true", help="leave out the open-model runs (and oha)")
    ap.add_argument("--users", type=int, help="closed model: this many users, the think time set for --rate "
                    "(default: --rate users, 1 s)")
    ap.add_argument("--sources", help="load.source_addresses, e.g. 127.0.0.2,127.0.0.3 (many users)")
    ap.add_argument("--nofile", type=int, help="raise RLIMIT_NOFILE of nginx and the generators to this (root)")
    ap.add_argument("--locust", help="a locust executable (pip install locust): also run the closed-model gate "
                    "as a locustfile, one process (-u users -r spawn rate, --headless)")
    ap.add_argument("--shards", type=int, default=1, help="run each perfgate job as this many shard processes "
                    "of one run, merged (past a per-process descriptor limit)")
    ap.add_argument("--nginx-workers", type=int, default=1, help="nginx worker processes (reuseport)")
    ap.add_argument("--out", help="keep raw outputs here (default: a temporary directory)")
    a = ap.parse_args()
    if a.nofile:
        # Inherited by nginx and every generator started from here.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, a.nofile))
        except (ValueError, OSError) as e:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            sys.exit(f"rate.py: cannot raise RLIMIT_NOFILE to {a.nofile} ({e}); the hard limit is {hard}, "
                     "raising it needs CAP_SYS_RESOURCE (root outside a restricted container)")
    work = a.out or tempfile.mkdtemp(prefix="perfgate-rate-")
    os.makedirs(work, exist_ok=True)
    oha = os.path.join(HERE, ".tools", "bin", "oha")
    oha = oha if os.path.exists(oha) else shutil.which("oha")
    bins = {"head": os.path.abspath(a.head)}
    if a.base:
        bins["base"] = os.path.abspath(a.base)
    server, url, path = start_nginx(work, a.nginx_workers) if a.target == "nginx" else start_demo(bins["head"], work)
    kinds = ([] if a.no_open else ["open"]) + ([] if a.no_closed else ["closed"])
    for k in kinds:
        gate(os.path.join(work, f"{k}.yaml"), k, a.rate, a.seconds, a.conns, path, a.users,
             ", ".join(a.sources.split(",")) if a.sources else None)
    jobs = [(f"{b}-{k}", b, k) for k in kinds for b in bins] + ([("oha", None, "open")] if oha and not a.no_open else [])
    if a.locust and "closed" in kinds:
        users = a.users or a.rate
        open(os.path.join(work, "locustfile.py"), "w").write(
            "from locust import HttpUser, constant, task\n\n\n"
            f"class Bench(HttpUser):\n    wait_time = constant({users / a.rate})\n\n"
            f"    @task\n    def get(self):\n        self.client.get('{path}')\n")
        jobs.append(("locust", None, "closed"))
    rows = []
    try:
        for r in range(1, a.rounds + 1):
            order = jobs[r - 1:] + jobs[:r - 1]  # rotate the order from round to round
            for label, b, k in order:
                if a.target == "stall-demo":
                    wait_stall(url)
                stem = f"{label}-r{r}"
                if b:
                    res = os.path.join(work, stem + ".json")
                    cmd = [bins[b], "run", os.path.join(work, f"{k}.yaml"), "--host", url, "--quiet"]
                    f = run_shards(cmd, a.shards, stem, work) if a.shards > 1 else run(cmd + ["--out", res], stem, work)
                    try:
                        f.update(speed_report.perfgate_stats(res))
                        load = json.load(open(res))["load"]
                        g = load["generator"]
                        f["peak_users"] = load.get("peak_users")
                        doc = json.load(open(res))
                        f["failures"] = sum(q["phases"][ph].get("failures", 0) for q in doc["requests"]
                                            for ph in ("ramp_up", "steady"))
                        f["trusted"] = g.get("untrusted") is None
                        f["late_pct"] = 100.0 * g.get("late_sends", 0) / max(1, g.get("planned_sends", 0))
                    except Exception as e:  # noqa: BLE001 - a failed run is shown, not fatal
                        f["error"] = str(e)
                elif label == "locust":
                    users = a.users or a.rate
                    csv = os.path.join(work, stem)
                    cmd = [a.locust, "-f", os.path.join(work, "locustfile.py"), "--headless", "-u", str(users),
                           "-r", str(min(max(a.rate, 100), 5000)), "-t", f"{a.seconds}s", "--host", url,
                           "--csv", csv, "--only-summary", "--loglevel", "WARNING"]
                    f = run(cmd, stem, work)
                    try:
                        import csv as csvmod
                        rows_ = list(csvmod.DictReader(open(csv + "_stats.csv")))
                        agg = [r_ for r_ in rows_ if r_["Name"] == "Aggregated"][0]
                        f.update(requests=int(agg["Request Count"]), p99_ms=float(agg["99%"]))
                    except Exception as e:  # noqa: BLE001
                        f["error"] = str(e)
                else:
                    cmd = [oha, "--no-tui", "--output-format", "json", "--worker-threads", "1", "-z",
                           f"{a.seconds}s", "-c", str(a.conns), "-q", str(a.rate), "--latency-correction", url + path]
                    f = run(cmd, stem, work)
                    try:
                        f.update(speed_report.oha_stats(os.path.join(work, stem + ".out")))
                    except Exception as e:  # noqa: BLE001
                        f["error"] = str(e)
                f.update(label=label, round=r)
                rows.append(f)
                n = f.get("requests") or 0
                per = f"{f['cpu_ms'] * 1000 / n:.1f} µs/req" if n and f.get("cpu_ms") else "n/a"
                print(f"[round {r}] {label:13s} rc={f['rc']} requests {n} cpu {per}"
                      f" lag {f.get('mean_lag_ms')} p99 {f.get('p99_ms')} rss {f.get('rss_mib', 0):.1f} MiB"
                      f" late {f.get('late_pct')} % peak users {f.get('peak_users')} trusted {f.get('trusted')}"
                      f" failures {f.get('failures')}",
                      file=sys.stderr, flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait()
    json.dump(rows, open(os.path.join(work, "rows.json"), "w"), indent=1)

    def per_req(f, key):
        n = f.get("requests") or 0
        v = f.get(key)
        return None if not n or v is None else v / n

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    labels = [j[0] for j in jobs]
    print(f"\n{a.rate}/s for {a.seconds} s against {a.target} ({url}), {a.rounds} rounds, "
          f"generators pinned to core 1, {os.cpu_count()} cores; raw outputs {work}\n")
    print("| generator | requests | CPU µs/request | % of a core | context switches/request | system calls/request | send lag mean (ms) | late sends | p99 (ms) | peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for lab in labels:
        fs = [f for f in rows if f["label"] == lab]
        cpu = med([per_req(f, "cpu_ms") for f in fs])
        pct = med([f["cpu_ms"] / 10.0 / a.seconds for f in fs if f.get("cpu_ms")])
        cs = med([per_req(f, "cs") for f in fs])
        sc = med([per_req(f, "syscalls") for f in fs])
        lag = med([f.get("mean_lag_ms") for f in fs])
        p99 = med([f.get("p99_ms") for f in fs])
        rss = med([f.get("rss_mib") for f in fs])
        late = med([f.get("late_pct") for f in fs])

        def fmt(x, spec):
            return "n/a" if x is None else format(x, spec)

        print(f"| {lab} | {fmt(med([f.get('requests') for f in fs]), '.0f')} | {fmt(cpu and cpu * 1000, '.1f')} "
              f"| {fmt(pct, '.1f')} | {fmt(cs, '.2f')} | {fmt(sc, '.2f')} | {fmt(lag, '.3f')} | {fmt(late, '.2f')} % "
              f"| {fmt(p99, '.2f')} | {fmt(rss, '.1f')} |")
    print()

    def ratio(x, y, key):
        rs = []
        for r in range(1, a.rounds + 1):
            fx = [f for f in rows if f["label"] == x and f["round"] == r]
            fy = [f for f in rows if f["label"] == y and f["round"] == r]
            if fx and fy:
                vx, vy = per_req(fx[0], key), per_req(fy[0], key)
                if vx and vy:
                    rs.append(vx / vy)
        return med(rs)

    pairs = []
    for k in kinds:
        if "base" in bins:
            pairs.append((f"head-{k}", f"base-{k}"))
        if oha and not a.no_open:
            pairs.append((f"head-{k}", "oha"))
        if a.locust and k == "closed":
            pairs.append((f"head-{k}", "locust"))
    for x, y in pairs:
        r = ratio(x, y, "cpu_ms")
        if r is not None:
            print(f"CPU per request {x} / {y}: {r:.2f} (median of same-round ratios)")


if __name__ == "__main__":
    main()
