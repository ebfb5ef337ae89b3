#!/usr/bin/env python3
"""User-space instructions per request, from `valgrind --tool=callgrind` (repeatable, unlike time).

Runs each generator under callgrind against nginx (1 worker, a 200-byte JSON, pinned to core 0; see
bench/rate.py) for a few seconds at a fixed connection count without think time, and divides the
instructions callgrind counted (the whole process: start-up, the run, the reports) by the requests
it completed. perfgate's figure is the one-task gate's; wrk's is `wrk -t1` (its own C event loop),
the floor a load generator in user space is compared with. Both kinds of response head are measured:
nginx's own, which repeat byte for byte within a second (perfgate then compares a head with the last
one instead of parsing it), and heads with a random X-Request-Id, which every tool must parse. The kernel's share (system calls, TCP on
loopback) is not counted here: see bench/rate.py for the whole cost.

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
    try:
        bins = [("head", a.head)] + ([("base", a.base)] if a.base else [])
        for heads, target in (("repeated", path), ("unique", "/unique" + path)):
            gate = os.path.join(work, f"one-{heads}.yaml")
            open(gate, "w").write(f"version: 1\nname: instructions\nload: {{users: {a.conns}, run_time: {a.seconds}s}}\n"
                                  f"scenarios:\n  Bench:\n    tasks:\n      - request: GET {target}\n")
            for label, b in bins:
                res = os.path.join(work, f"{label}-{heads}.json")
                ir = callgrind([os.path.abspath(b), "run", gate, "--host", url, "--quiet", "--out", res],
                               os.path.join(work, f"{label}-{heads}"))
                n = speed_report.perfgate_stats(res)["requests"]
                rows.append((label, heads, ir, n))
            if not a.no_wrk and shutil.which("wrk"):
                ir = callgrind(["wrk", "-t1", f"-c{a.conns}", f"-d{a.seconds}s", url + target],
                               os.path.join(work, f"wrk-{heads}"))
                rows.append(("wrk", heads, ir, wrk_requests(os.path.join(work, f"wrk-{heads}.out"))))
    finally:
        os.killpg(server.pid, 15)
        server.wait()
    print(f"\nuser-space instructions per request, callgrind, {a.conns} connections, {a.seconds} s against nginx;"
          f" raw outputs {work}\n")
    print("response heads: `repeated` = nginx's own (the same bytes but for the Date, once a second);"
          " `unique` = a random X-Request-Id in every head\n")
    print("| generator | response heads | requests | instructions | per request |")
    print("| --- | --- | --- | --- | --- |")
    per = {}
    for label, heads, ir, n in rows:
        per[(label, heads)] = ir / n if n else None
        print(f"| {label} | {heads} | {n} | {ir:,} | {per[(label, heads)]:,.0f} |" if n
              else f"| {label} | {heads} | 0 | {ir:,} | n/a |")
    print()
    for heads in ("repeated", "unique"):
        for x, y in (("head", "base"), ("head", "wrk")):
            if per.get((x, heads)) and per.get((y, heads)):
                print(f"{x}/{y}, {heads} heads: {per[(x, heads)] / per[(y, heads)]:.2f}")

if __name__ == "__main__":
    main()
