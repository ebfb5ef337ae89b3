#!/usr/bin/env python3
"""Memory per request name: peak RSS of `perfgate run` for gates of 1 to N request names.

Each gate has one scenario whose tasks are N requests `GET /api/health?n=K`, each its own request
name, run against `perfgate serve-demo` on a free loopback port for a few seconds without think
time, so every name is requested (about requests / N times). For each binary and name count it
prints perfgate's peak RSS (getrusage of the child), the requests it sent, and the RSS of
`perfgate validate` of the same gate (the gate model's own share); then KiB per name above the
one-name run, and the ratio of the binaries' figures when two are given.

    python3 bench/names.py --perfgate target/release/perfgate [--base OLD_BINARY] \\
        [--names 1,2000,20000] [--seconds 10] [--users 20]
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gate_text(n, seconds, users):
    lines = [
        "version: 1",
        f"load: {{users: {users}, spawn_rate: 1000, run_time: {seconds}s}}",
        "scenarios:",
        "  Many:",
        "    tasks:",
    ]
    lines += [f"      - request: GET /api/health?n={k}" for k in range(n)]
    return "\n".join(lines) + "\n"


def peak_rss_kib(cmd):
    """Runs cmd, returns (exit code, its own peak RSS in KiB, its output)."""
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return p.returncode, usage.ru_maxrss, out.read()


def requests_in(text):
    for line in text.splitlines():
        if line.strip().startswith("Aggregated"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perfgate", required=True)
    ap.add_argument("--base", help="a second binary measured in the same invocation (e.g. the previous build)")
    ap.add_argument("--names", default="1,2000,20000")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--users", type=int, default=20)
    a = ap.parse_args()
    bins = [("head", a.perfgate)] + ([("base", a.base)] if a.base else [])
    counts = [int(x) for x in a.names.split(",")]
    port = free_port()
    demo = subprocess.Popen(
        [a.perfgate, "serve-demo", "--port", str(port), "--no-base-latency"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        rows = {}
        with tempfile.TemporaryDirectory() as d:
            for n in counts:
                g = os.path.join(d, f"g{n}.yaml")
                with open(g, "w") as f:
                    f.write(gate_text(n, a.seconds, a.users))
                for label, b in bins:
                    _, vrss, vout = peak_rss_kib([b, "validate", g])
                    code, rss, out = peak_rss_kib(
                        [b, "run", g, "--host", f"http://127.0.0.1:{port}", "-q", "--out", os.path.join(d, "r.json")]
                    )
                    if code not in (0, 1):
                        print(f"{label} {n} names: exit {code}\n{out[-2000:]}", file=sys.stderr)
                    rows[(label, n)] = (rss, vrss, requests_in(out), code)
                    print(f"  {label:4} {n:6} names: run peak RSS {rss / 1024:8.1f} MiB, validate {vrss / 1024:6.1f} MiB, "
                          f"{requests_in(out)} requests, exit {code}", flush=True)
    finally:
        demo.terminate()
        demo.wait()
    print()
    print("| binary | names | requests | run peak RSS MiB | validate RSS MiB | KiB per name above 1 name |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, _ in bins:
        one = rows.get((label, counts[0]))
        for n in counts:
            rss, vrss, reqs, _ = rows[(label, n)]
            per = "" if n == counts[0] or not one else f"{(rss - one[0]) / (n - counts[0]):.1f}"
            print(f"| {label} | {n} | {reqs} | {rss / 1024:.1f} | {vrss / 1024:.1f} | {per} |")
    if a.base:
        print()
        for n in counts:
            print(f"{n} names: head/base peak RSS {rows[('head', n)][0] / rows[('base', n)][0]:.3f}")


if __name__ == "__main__":
    main()
