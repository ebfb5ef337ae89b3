#!/usr/bin/env python3
"""User-space instructions per request, from `valgrind --tool=callgrind` (repeatable, unlike time).

Runs each generator under callgrind against nginx (1 worker, a 200-byte JSON, pinned to core 0; see
bench/rate.py) at a fixed connection count without think time, twice (S and 2S seconds), and prints the
instructions callgrind counted (the whole process: start-up, the run, the reports) over the requests
each run completed, and both runs pooled. The figure moves by a few per cent with the rate a run
reached under callgrind (fewer requests per wake-up cost more each), so compare tools within one
invocation. perfgate's figure is the one-task gate's; wrk's is `wrk -t1` (its own C event loop), the
floor a load generator in user space is compared with. Both kinds of response head are measured:
nginx's own, which repeat byte for byte within a second (perfgate then compares a head with the last
one instead of parsing it), and heads with a random X-Request-Id, which every tool must parse. The
kernel's share (system calls, TCP on loopback) is not counted here: see bench/rate.py for the whole
cost.

    python3 bench/instructions.py --head target/release/perfgate [--base OLD_BINARY] [--seconds 10] \\
        [--conns 10] [--no-wrk]
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rate  # noqa: E402  (nginx and pinning)
import speed_report  # noqa: E402


def callgrind(cmd, out_prefix):
    """Runs cmd under callgrind; returns the instructions it counted (all threads)."""
    # taskset outside: valgrind does not follow an exec into the program it starts.
    subprocess.call(rate.pin(1) + ["valgrind", "--tool=callgrind", "--separate-threads=no",
                                   f"--callgrind-out-file={out_prefix}.cg"] + cmd,
                    stdout=open(out_prefix + ".out", "w"), stderr=open(out_prefix + ".err", "w"))
    total = 0
    for f in glob.glob(out_prefix + ".cg*"):
        for line in open(f):
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    return total


def wrk_requests(path):
    m = re.search(r"(\d+) requests in", open(path).read())
    return int(m.group(1)) if m else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head", required=True)
    ap.add_argument("--base")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("instructions.py: valgrind missing (apt-get install valgrind)")
    work = a.out or tempfile.mkdtemp(prefix="perfgate-instr-")
    os.makedirs(work, exist_ok=True)
    server, url, path = rate.start_nginx(work)
    rows = []
    # Each tool runs twice, for S and 2S seconds: the difference is instructions per request without
    # the start-up and the reports (which a short run would spread over few requests).
    durations = (a.seconds, 2 * a.seconds)
    try:
        bins = [("head", a.head)] + ([("base", a.base)] if a.base else [])
        for heads, target in (("repeated", path), ("unique", "/unique" + path)):
            for label, b in bins:
                runs = []
                for secs in durations:
                    gate = os.path.join(work, f"one-{heads}-{secs}s.yaml")
                    open(gate, "w").write(
                        f"version: 1\nname: instructions\nload: {{users: {a.conns}, run_time: {secs}s}}\n"
                        f"scenarios:\n  Bench:\n    tasks:\n      - request: GET {target}\n")
                    res = os.path.join(work, f"{label}-{heads}-{secs}s.json")
                    ir = callgrind([os.path.abspath(b), "run", gate, "--host", url, "--quiet", "--out", res],
                                   os.path.join(work, f"{label}-{heads}-{secs}s"))
                    runs.append((ir, speed_report.perfgate_stats(res)["requests"]))
                rows.append((label, heads, runs))
            if not a.no_wrk and shutil.which("wrk"):
                runs = []
                for secs in durations:
                    prefix = os.path.join(work, f"wrk-{heads}-{secs}s")
                    ir = callgrind(["wrk", "-t1", f"-c{a.conns}", f"-d{secs}s", url + target], prefix)
                    runs.append((ir, wrk_requests(prefix + ".out")))
                rows.append(("wrk", heads, runs))
    finally:
        os.killpg(server.pid, 15)
        server.wait()
    print(f"\nuser-space instructions per request, callgrind, {a.conns} connections, {durations[0]} s and"
          f" {durations[1]} s against nginx; raw outputs {work}\n")
    print("response heads: `repeated` = nginx's own (the same bytes but for the Date, once a second);"
          " `unique` = a random X-Request-Id in every head. Per request = instructions over requests of"
          " each run; pooled = both runs' instructions over both runs' requests\n")
    print("| generator | response heads | requests (S, 2S) | per request (S, 2S) | pooled |")
    print("| --- | --- | --- | --- | --- |")
    per = {}
    for label, heads, runs in rows:
        (i1, n1), (i2, n2) = runs
        pooled = (i1 + i2) / (n1 + n2) if n1 + n2 else None
        per[(label, heads)] = pooled
        each = ", ".join(f"{i / n:,.0f}" if n else "n/a" for i, n in runs)
        print(f"| {label} | {heads} | {n1}, {n2} | {each} | {f'{pooled:,.0f}' if pooled else 'n/a'} |")
    print()
    for heads in ("repeated", "unique"):
        for x, y in (("head", "base"), ("head", "wrk")):
            if per.get((x, heads)) and per.get((y, heads)):
                print(f"{x}/{y}, {heads} heads, pooled: {per[(x, heads)] / per[(y, heads)]:.2f}")


if __name__ == "__main__":
    main()
