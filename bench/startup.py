#!/usr/bin/env python3
"""Start-up: time from exec of `perfgate run GATE` to the first request reaching the service.

A listener on a free loopback port notes when the first connection of each run arrives; the time
from just before exec to that accept is perfgate's start-up (reading and validating the gate,
planning, starting the runtime, connecting). Prints the median and range of N runs per binary,
their ratio when two binaries are given, and each binary's size.

    python3 bench/startup.py --perfgate target/release/perfgate [--base OTHER] [--gate gates/prismq.yaml] [--runs 20]
"""

import argparse
import os
import socket
import statistics
import subprocess
import threading
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def serve(sock, firsts, stop):
    """Answers every request with `{}` and notes the first accept after each reset."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = sock.accept()
        except socket.timeout:
            continue
        now = time.perf_counter()
        if firsts and firsts[-1] is None:
            firsts[-1] = now
        threading.Thread(target=answer, args=(c,), daemon=True).start()


def answer(c):
    c.settimeout(2)
    try:
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(ANSWER)
    except OSError:
        pass
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perfgate", required=True)
    ap.add_argument("--base")
    ap.add_argument("--gate", default=os.path.join(os.path.dirname(__file__), "..", "gates", "prismq.yaml"))
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    firsts, stop = [], threading.Event()
    threading.Thread(target=serve, args=(sock, firsts, stop), daemon=True).start()
    bins = [("head", a.perfgate)] + ([("base", a.base)] if a.base else [])
    times = {label: [] for label, _ in bins}
    # Alternate the binaries run by run, so a change in the machine's load falls on both.
    for _ in range(a.runs):
        for label, b in bins:
            firsts.append(None)
            t0 = time.perf_counter()
            subprocess.run(
                [b, "run", a.gate, "--host", f"http://127.0.0.1:{port}", "--run-time", "1s", "-q", "--users", "1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
            if firsts[-1] is not None:
                times[label].append((firsts[-1] - t0) * 1000)
    stop.set()
    for label, b in bins:
        t = times[label]
        size = os.path.getsize(b) / 1e6
        if not t:
            print(f"{label}: no request arrived")
            continue
        print(f"{label}: exec to first request median {statistics.median(t):.1f} ms "
              f"(min {min(t):.1f}, max {max(t):.1f}, {len(t)} runs); binary {size:.1f} MB ({b})")
    if a.base and times["head"] and times["base"]:
        print(f"head/base median {statistics.median(times['head']) / statistics.median(times['base']):.3f}")


if __name__ == "__main__":
    main()
