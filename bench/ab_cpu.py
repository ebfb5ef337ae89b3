#!/usr/bin/env python3
"""Generator CPU per request of two perfgate binaries, alternating, against one demo backend.

Both binaries run the same one-task gate (`GET /api/health`, no think time, N users, S seconds)
against `perfgate serve-demo --no-base-latency` on a free loopback port, in alternating order for R
rounds; each run's CPU (user + system, from wait4) over the requests it completed is its cost. Prints
each run, the medians, and the median of the per-round ratios (runs of one round share the machine's
mood). A quick A/B check that a change did not make the engine dearer; bench/speed.sh is the full
comparison against wrk and oha.

    python3 bench/ab_cpu.py --head NEW --base OLD [--rounds 3] [--seconds 10] [--users 20]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, gate, port, out):
    p = subprocess.Popen(
        [binary, "run", gate, "--host", f"http://127.0.0.1:{port}", "-q", "--out", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, ru = os.wait4(p.pid, 0)
    with open(out) as f:
        r = json.load(f)
    reqs = sum(q["phases"][ph]["requests"] for q in r["requests"] for ph in ("ramp_up", "steady"))
    late = r.get("generator", {})
    return (ru.ru_utime + ru.ru_stime), reqs, os.waitstatus_to_exitcode(status), late


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--head", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--users", type=int, default=20)
    a = ap.parse_args()
    port = free_port()
    demo = subprocess.Popen(
        [a.base, "serve-demo", "--port", str(port), "--no-base-latency"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cost = {"head": [], "base": []}
    ratios = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as d:
            gate = os.path.join(d, "g.yaml")
            with open(gate, "w") as f:
                f.write(
                    f"version: 1\nload: {{users: {a.users}, run_time: {a.seconds}s}}\n"
                    "scenarios:\n  S:\n    tasks:\n      - request: GET /api/health\n"
                )
            for k in range(a.rounds):
                order = [("head", a.head), ("base", a.base)]
                if k % 2:
                    order.reverse()
                this = {}
                for label, b in order:
                    cpu, reqs, code, gen = run(b, gate, port, os.path.join(d, f"{label}.json"))
                    us = cpu / max(reqs, 1) * 1e6
                    this[label] = us
                    cost[label].append(us)
                    print(f"round {k + 1} {label}: {reqs} requests, {cpu:.2f} s CPU, {us:.1f} µs/request, exit {code}",
                          flush=True)
                ratios.append(this["head"] / this["base"])
    finally:
        demo.terminate()
        demo.wait()
    print(f"median µs CPU per request: head {statistics.median(cost['head']):.1f}, "
          f"base {statistics.median(cost['base']):.1f}; head/base (median of rounds) {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
