#!/usr/bin/env python3
"""Detection-quality benchmark for perfgate's regression verdict (Python 3 standard library only).

For each mode (duet: base and head loaded together, interleaved; sequential: base run, then head run
against the saved base; served: perfgate starts both builds itself with --serve/--baseline-serve, in
its default rounds, each round a fresh pair of processes) and each injected effect (0 = A/A: the same
build twice, in two processes; N = +N % on `GET /api/modules` of head), it runs TRIALS trials against
fresh backends, with a CPU-burning neighbour process on the machine, and counts how often perfgate
calls the `GET /api/modules` p95 budget a regression, inconclusive or a pass, and how often an A/A
interval excludes zero (the honesty check: at most as often as the confidence level allows).

Targets (--target): `demo` (the embedded demo: latency from a sleep), `cpu-demo` (the demo burning
2 ms of CPU per request: latency from work, --cpu-work), `fastapi` (bench/fastapi/app.py under uvicorn
in its own venv under target/bench, installed from PyPI on first use; the regression is a calibrated
CPU cost per request).

    python3 bench/detection.py                                     # full protocol: 20 trials x 30 s
    python3 bench/detection.py --trials 3 --seconds 10             # smoke run, about 10 minutes
    python3 bench/detection.py --trials 10 --seconds 20 --modes duet
    python3 bench/detection.py --target fastapi --modes served --seconds 90 --effects 0,10
    python3 bench/detection.py --target cpu-demo --modes served --seconds 30 --effects 0,10

See bench/README.md for what the numbers mean. Every process it starts (demo servers, perfgate runs,
the CPU hog) runs in its own process group and is killed on exit, also on Ctrl-C.
"""

import argparse
import json
import math
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_GATE = BENCH / "detection.yaml"
GATES = {"demo": DEFAULT_GATE, "cpu-demo": BENCH / "detection-cpu.yaml", "fastapi": BENCH / "detection-fastapi.yaml"}
VENV = ROOT / "target" / "bench" / "fastapi-venv"
GATE = DEFAULT_GATE  # --gate
ROUTE = "GET /api/modules"  # the slowed route (serve-demo --slow-route, BENCH_ROUTE)
NAME = ROUTE  # the request name whose comparison is counted (--name)
METRIC = "p95"  # --metric
# Outcome labels as `perfgate` prints them (src/verdict/compare.rs, Change::label).
LABELS = {
    "REGRESSION": "regression",
    "inconclusive": "inconclusive",
    "marginal": "inconclusive",
    "pass": "pass",
    "warn": "warn",
    "improved": "improved",
}
# `  REGRESSION   GET /api/modules: p95 +3% vs base: 19.05 ms -> 20.83 ms (+9.3%); worse by ... [gate:23]`
LINE = None  # compiled in main() from NAME and METRIC


def comparison_line():
    return re.compile(
        r"^\s*(?P<label>\S+)\s+" + re.escape(NAME) + r": " + re.escape(METRIC) + r" (?P<budget>\S+) vs base: "
        r"(?P<values>.*?); (?P<reason>.*?)\s+\[[^\]]*\]\s*$"
    )


VALUES = re.compile(r"^(?P<base>[\d.]+)\s*ms -> (?P<head>[\d.]+)\s*ms(?: \((?P<delta>[+-]?[\d.]+)%\))?")
CI = re.compile(r"\[(?P<lo>[+-]?[\d.]+)%, (?P<hi>[+-]?[\d.]+)%\]")
# `generator: 0.26 s CPU (4.3% of 2 cores); 0 of 2054 planned sends late by more than 10 ms` (newer builds)
GENERATOR = re.compile(r"generator: [\d.]+ s CPU \((?P<cpu>[\d.]+)% of \d+ cores?\); (?P<late>\d+) of (?P<planned>\d+) planned")
MODE_LINE = re.compile(r"Compared with base \((?P<mode>duet|sequential)")

# Bounds: nothing waits forever.
READY_TIMEOUT_S = 15.0
KILL_GRACE_S = 5.0
RUN_SLACK_S = 90.0  # beyond --seconds, for ramp-up, grace, writing files
MAX_CONSECUTIVE_ERRORS = 3


class Interrupted(BaseException):
    """SIGTERM (or SIGHUP) arrived: clean up like on Ctrl-C."""


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Procs:
    """Every child process, each the leader of its own process group, so killing the group also kills
    whatever it started. `stop` is idempotent and bounded in time."""

    def __init__(self):
        self.live = []

    def start(self, argv, stdout, stderr):
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # own session and process group: Ctrl-C goes to us, we stop them
        )
        self.live.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            for sig, wait in ((signal.SIGINT, 2.0), (signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(reversed(self.live)):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                log(f"warning: could not stop pid {p.pid}: {e}")

    def run(self, argv, stdout_path, stderr_path, timeout):
        """Runs to completion (bounded by `timeout`); returns the exit code or None on timeout."""
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            p = self.start(argv, out, err)
            try:
                return p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
            finally:
                self.stop(p)


def build(args):
    if args.perfgate:
        exe = Path(args.perfgate).resolve()
        if not os.access(exe, os.X_OK):
            sys.exit(f"error: --perfgate {exe} is not an executable")
        return exe
    log("building: cargo build --release (once)")
    r = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, timeout=1800)
    if r.returncode != 0:
        sys.exit(f"error: cargo build --release failed with exit code {r.returncode}")
    exe = ROOT / "target" / "release" / "perfgate"
    # A private copy: a concurrent `cargo build` must not swap the binary in the middle of the benchmark.
    copy = args.out / "perfgate"
    with open(exe, "rb") as src, open(copy, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    copy.chmod(0o755)
    return copy


def start_demo(procs, exe, factor, seed, log_path):
    """A demo backend on a free loopback port (`--port 0`); returns (process, url) once it answers."""
    argv = [str(exe), "serve-demo", "--port", "0", "--demo-seed", str(seed)]
    if factor != 1.0:
        argv += ["--slow-route", f"{ROUTE}={factor:g}"]
    f = open(log_path, "wb")
    try:
        p = procs.start(argv, subprocess.DEVNULL, f)
    finally:
        f.close()
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = None
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"demo exited with {p.returncode}: {Path(log_path).read_text(errors='replace')[-500:]}")
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", Path(log_path).read_text(errors="replace"))
        if m:
            url = m.group(1)
            try:
                with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        return p, url, argv
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.1)
    procs.stop(p)
    raise RuntimeError(f"demo did not answer within {READY_TIMEOUT_S:.0f} s ({url or 'no address printed'})")


def fastapi_python():
    """The benchmark venv's Python, creating the venv from bench/fastapi/requirements.txt on first use."""
    py = VENV / "bin" / "python"
    if not py.exists():
        log(f"installing FastAPI and uvicorn into {VENV} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(BENCH / "fastapi" / "requirements.txt")],
                       check=True, timeout=900)
    return py


def serve_command(exe, target, factor):
    """The --serve command of one build of the target (`{port}` filled in by perfgate)."""
    if target == "fastapi":
        return (f"cd {shlex.quote(str(BENCH / 'fastapi'))} && BENCH_COST={factor:g} exec "
                f"{shlex.quote(str(fastapi_python()))} -m uvicorn app:app --host 127.0.0.1 --port {{port}} "
                f"--log-level warning")
    # No --demo-seed: perfgate starts a fresh pair of processes per round from this one command, and a
    # fixed seed would make every round's process draw the same latencies, freezing the sampling
    # noise the rounds are there to show (the interval would then be too narrow across trials).
    cmd = f"exec {shlex.quote(str(exe))} serve-demo --port {{port}}"
    if target == "cpu-demo":
        cmd += " --cpu-work 2ms --no-base-latency"
    if factor != 1.0:
        cmd += f" --slow-route {shlex.quote(f'{ROUTE}={factor:g}')}"
    return cmd


def route_samples(path):
    """Sanity numbers from a results JSON: steady-phase requests and failures of ROUTE, interrupted flag."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    for r in d.get("requests", []):
        if r.get("name") == NAME:
            s = r["phases"]["steady"]
            return {"requests": s["requests"], "failures": s["failures"], "interrupted": d.get("interrupted")}
    return {"requests": 0, "failures": 0, "interrupted": d.get("interrupted")}


def coarse_values(text):
    """The latencies (µs) of one of perfgate's per-second histograms (src/metrics/coarse.rs: base64 of
    varint pairs, bucket delta and count; 32 buckets per doubling), each bucket's values spread
    geometrically inside it."""
    import base64
    raw = base64.b64decode(text + "=" * (-len(text) % 4)) if text else b""
    ints, v, shift = [], 0, 0
    for byte in raw:
        v |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            ints.append(v)
            v, shift = 0, 0
    out, bucket = [], 0
    for delta, count in zip(ints[0::2], ints[1::2]):
        bucket += delta
        lo, hi = 2 ** (bucket / 32), 2 ** ((bucket + 1) / 32)
        out += [lo * (hi / lo) ** ((j + 0.5) / count) for j in range(count)]
    return out


def steady_latencies(path):
    """Every steady-phase latency (µs) of NAME in a results JSON, from its per-second histograms."""
    d = json.loads(Path(path).read_text())
    out = []
    for p in d.get("series", []):
        if p.get("ramp_up") or p.get("dt", 0) <= 0.5:
            continue
        for n in p.get("names", []):
            if n.get("name") == NAME:
                out += coarse_values(n.get("hist", ""))
    return out


def metric_of(xs):
    """METRIC (pNN or avg) of a list of latencies."""
    if METRIC == "avg":
        return sum(xs) / len(xs)
    q = float(METRIC[1:]) / 100
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def iid_se(base_json, head_json, reps=200, seed=0):
    """The standard error of log(head / base) of METRIC if every request were an independent sample
    (a bootstrap over requests): the sampling noise of the metric itself at this sample count. Honest
    intervals are seldom narrower (requests are not independent and processes differ; pairing cancels
    only the noise both sides share); None for metrics other than avg and pNN."""
    if METRIC != "avg" and not re.fullmatch(r"p\d+(\.\d+)?", METRIC):
        return None
    try:
        b, h = steady_latencies(base_json), steady_latencies(head_json)
    except (OSError, ValueError):
        return None
    if len(b) < 20 or len(h) < 20:
        return None
    rng = random.Random(seed)
    logs = [math.log(metric_of(rng.choices(h, k=len(h)))) - math.log(metric_of(rng.choices(b, k=len(b))))
            for _ in range(reps)]
    return statistics.stdev(logs)


def power_bound(change_pct, budget_pct, se):
    """The power of a one-sided 95 % z test of `change > budget` at standard error `se` (log scale)."""
    gap = math.log1p(change_pct / 100) - math.log1p(budget_pct / 100)
    return statistics.NormalDist().cdf(gap / se - 1.6449)


def parse_comparison(text):
    """The ROUTE p95 comparison line of `perfgate run`/`compare` output, or None."""
    mode = MODE_LINE.search(text)
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        out = {
            "outcome": LABELS.get(m.group("label"), m.group("label")),
            "reason": m.group("reason"),
            "reported_mode": mode.group("mode") if mode else None,
            "budget": m.group("budget"),
        }
        v = VALUES.match(m.group("values"))
        if v:
            out["base_p95"] = float(v.group("base"))
            out["head_p95"] = float(v.group("head"))
            out["delta_pct"] = float(v.group("delta")) if v.group("delta") else None
        ci = CI.search(m.group("reason"))
        if ci:
            lo, hi = float(ci.group("lo")), float(ci.group("hi"))
            # Every interval is printed signed as the metric moves (+ = head higher).
            out["ci"] = [lo, hi]
        out["perfgate_notes"] = [n.strip()[len("note: "):] for n in text.splitlines() if n.strip().startswith("note: ")]
        return out
    return None


def trial(procs, exe, args, mode, effect, index, seed, tdir):
    """One trial: fresh demos, one duet run or a base run then a head run, a compare; returns a record."""
    tdir.mkdir(parents=True, exist_ok=True)
    rec = {"mode": mode, "effect": effect, "trial": index, "seed": seed, "target": args.target,
           "seconds": args.seconds}
    factor = 1.0 + effect / 100.0
    demos = []
    try:
        if mode == "served":
            # perfgate starts both builds (fresh processes per round) and stops them.
            base_json, head_json = tdir / "base.json", tdir / "head.json"
            head_cmd = serve_command(exe, args.target, factor)
            base_cmd = serve_command(exe, args.target, 1.0)
            cmd = [str(exe), "run", str(GATE), "--serve", head_cmd, "--baseline-serve", base_cmd,
                   "--run-time", f"{args.seconds}s", "-q", "--seed", str(seed),
                   "--out", str(head_json), "--baseline-out", str(base_json)]
            rec["demos"] = []
            rec["commands"] = [shlex.join(cmd)]
            timeout = args.seconds * 2 + RUN_SLACK_S
            rc = procs.run(cmd, tdir / "run.out", tdir / "run.err", timeout)
            rec["exit_codes"] = [rc]
            run_out = (tdir / "run.out").read_text(errors="replace")
            cmds = [cmd]
            if rc is None:
                raise RuntimeError(f"perfgate run did not finish within {timeout:.0f} s")
            if rc not in (0, 1):
                raise RuntimeError(f"perfgate run exited with {rc}: " + tail(tdir / "run.err"))
        else:
            bp, base_url, base_argv = start_demo(procs, exe, 1.0, seed * 2 + 1, tdir / "demo-base.log")
            demos.append(bp)
            hp, head_url, head_argv = start_demo(procs, exe, factor, seed * 2 + 2, tdir / "demo-head.log")
            demos.append(hp)
            rec["demos"] = [shlex.join(base_argv), shlex.join(head_argv)]
            base_json, head_json = tdir / "base.json", tdir / "head.json"
            common = ["--run-time", f"{args.seconds}s", "-q", "--seed", str(seed)]
            if args.users:
                common += ["--users", str(args.users)]
            timeout = args.seconds + RUN_SLACK_S
            cmds = []
            if mode == "duet":
                cmd = [str(exe), "run", str(GATE), "--host", head_url, "--baseline-host", base_url, *common,
                       "--out", str(head_json), "--baseline-out", str(base_json)]
                cmds.append(cmd)
                rc = procs.run(cmd, tdir / "run.out", tdir / "run.err", timeout)
                rec["exit_codes"] = [rc]
                run_out = (tdir / "run.out").read_text(errors="replace")
            else:
                cmd = [str(exe), "run", str(GATE), "--host", base_url, *common, "--out", str(base_json)]
                cmds.append(cmd)
                rc1 = procs.run(cmd, tdir / "base.out", tdir / "base.err", timeout)
                rec["exit_codes"] = [rc1]
                if rc1 not in (0, 1):
                    raise RuntimeError(f"base run exited with {rc1}: " + tail(tdir / "base.err"))
                cmd = [str(exe), "run", str(GATE), "--host", head_url, "--baseline", str(base_json), *common,
                       "--out", str(head_json)]
                cmds.append(cmd)
                rc = procs.run(cmd, tdir / "run.out", tdir / "run.err", timeout)
                rec["exit_codes"].append(rc)
                run_out = (tdir / "run.out").read_text(errors="replace")
            rec["commands"] = [shlex.join(c) for c in cmds]
            if rc is None:
                raise RuntimeError(f"perfgate run did not finish within {timeout:.0f} s")
            if rc not in (0, 1):
                raise RuntimeError(f"perfgate run exited with {rc}: " + tail(tdir / "run.err"))
    finally:
        for p in demos:
            procs.stop(p)
    # The verdict, twice: as the run printed it, and re-judged from the saved files by `perfgate compare`.
    from_run = parse_comparison(run_out)
    cmd = [str(exe), "compare", str(base_json), str(head_json), "--gate", str(GATE)]
    crc = procs.run(cmd, tdir / "compare.out", tdir / "compare.err", 60)
    from_compare = parse_comparison((tdir / "compare.out").read_text(errors="replace"))
    rec["commands"].append(shlex.join(cmd))
    rec["compare_exit_code"] = crc
    verdict = from_run or from_compare
    if verdict is None:
        raise RuntimeError(f"no `{NAME}: {METRIC}` comparison line in the output (see {tdir})")
    rec.update(verdict)
    notes = []
    if from_run and from_compare and from_run["outcome"] != from_compare["outcome"]:
        notes.append(f"run said {from_run['outcome']}, compare said {from_compare['outcome']}")
    judged = "duet" if mode == "served" else mode
    if verdict.get("reported_mode") != judged:
        notes.append(f"perfgate judged it as {verdict.get('reported_mode')}, expected {judged}")
    if from_compare and from_compare.get("reported_mode") != judged:
        notes.append(f"compare judged it as {from_compare.get('reported_mode')}, expected {judged}")
    expected_rc = 1 if verdict["outcome"] == "regression" else 0
    if rc != expected_rc:
        notes.append(f"exit code {rc} but the {NAME} {METRIC} comparison is {verdict['outcome']} (other checks?)")
    # Generator health as perfgate printed it (when this build prints it): CPU share and late sends.
    gens = []
    for out in ([tdir / "base.out", tdir / "run.out"] if mode == "sequential" else [tdir / "run.out"]):
        g = GENERATOR.search(out.read_text(errors="replace")) if out.exists() else None
        if g:
            gens.append({"cpu_pct": float(g.group("cpu")), "late": int(g.group("late")), "planned": int(g.group("planned"))})
    if gens:
        rec["generator"] = gens
    rec["iid_se"] = iid_se(base_json, head_json, seed=seed)
    rec["base_samples"] = route_samples(base_json)
    rec["head_samples"] = route_samples(head_json)
    try:
        rec["rounds"] = json.loads(Path(head_json).read_text()).get("load", {}).get("rounds", 1)
    except (OSError, ValueError):
        rec["rounds"] = None
    rec["notes"] = notes
    return rec


def tail(path, n=400):
    try:
        return Path(path).read_text(errors="replace").strip()[-n:]
    except OSError:
        return ""


def fmt_effect(e):
    return "A/A" if e == 0 else f"+{e:g}%"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f2(x, spec=".2f", suffix=""):
    return "-" if x is None else f"{x:{spec}}{suffix}"


def excludes_zero(records):
    """How many trials' intervals lie wholly on one side of zero (for A/A: the honesty count)."""
    return sum(1 for r in records if r.get("ci") and (r["ci"][0] > 0 or r["ci"][1] < 0))


def one_sided_misses(records):
    """(lower bound above zero, upper bound below zero) counts. perfgate's interval is the family's two
    one-sided bounds, each at the stated confidence (95 %: each bound is wrong at most 5 % of the time
    in an A/A run; the pair is a 90 % two-sided interval), so each count is held to 1/20 on its own."""
    above = sum(1 for r in records if r.get("ci") and r["ci"][0] > 0)
    below = sum(1 for r in records if r.get("ci") and r["ci"][1] < 0)
    return above, below


# One-sided 95 % t quantiles by degrees of freedom (scipy.stats.t.ppf(0.95, df)).
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833}


def z_scores(records, confidence=0.95):
    """Each A/A trial's change over its standard error, recovered from its interval (centre and half
    width on the log scale; rounds: t with K - 1 df at one comparison). Across honest trials these
    spread like t: root mean square about sqrt(df / (df - 2)), 1.13 for 9 df, 1.29 for 5."""
    out = []
    for r in records:
        ci, k = r.get("ci"), r.get("rounds") or 0
        if not ci or k < 2 or ci[0] <= -100:
            continue
        lo, hi = math.log1p(ci[0] / 100), math.log1p(ci[1] / 100)
        half = (hi - lo) / 2
        t = T95.get(k - 1, 1.645)
        if half > 0:
            out.append(((lo + hi) / 2) / (half / t))
    return out


def summarize(records, modes, effects):
    rows = []
    header = ("mode", "effect", "trials", "REGRESSION", "inconcl.", "pass", "warn", "improved", "errors", "rate",
              "CI excl. 0", "base p95", "head p95", "delta", "delta range", "samples/side")
    for mode in modes:
        for effect in effects:
            rs = [r for r in records if r["mode"] == mode and r["effect"] == effect]
            if not rs:
                continue
            ok = [r for r in rs if "error" not in r]
            n_reg = sum(r["outcome"] == "regression" for r in ok)
            n_inc = sum(r["outcome"] == "inconclusive" for r in ok)
            n_pass = sum(r["outcome"] == "pass" for r in ok)
            n_warn = sum(r["outcome"] == "warn" for r in ok)
            n_impr = sum(r["outcome"] == "improved" for r in ok)
            deltas = [r["delta_pct"] for r in ok if r.get("delta_pct") is not None]
            spread = f"{min(deltas):+.1f}..{max(deltas):+.1f}%" if deltas else "-"
            kind = "false alarms" if effect == 0 else "detected"
            rate = f"{kind} {n_reg}/{len(ok)}" if ok else "-"
            samples = med([min(r["base_samples"]["requests"], r["head_samples"]["requests"])
                           for r in ok if r.get("base_samples") and r.get("head_samples")])
            rows.append((mode, fmt_effect(effect), str(len(rs)), str(n_reg), str(n_inc), str(n_pass), str(n_warn),
                         str(n_impr), str(len(rs) - len(ok)), rate, f"{excludes_zero(ok)}/{len(ok)}",
                         f2(med([r.get("base_p95") for r in ok]), suffix=" ms"),
                         f2(med([r.get("head_p95") for r in ok]), suffix=" ms"),
                         f2(med(deltas), "+.1f", "%"), spread,
                         f2(samples, ".0f")))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 or i == 9 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def goals(records, modes, effects):
    """The issue's goals, scaled to the number of trials run (1/20 = 5 %)."""
    out = []

    def verdict(met, n):
        return "no trials" if n == 0 else ("met" if met else "MISSED")

    def count(mode, effect, outcome):
        ok = [r for r in records if r["mode"] == mode and r["effect"] == effect and "error" not in r]
        return sum(r["outcome"] == outcome for r in ok), len(ok)

    if "duet" in modes and 0 in effects:
        k, n = count("duet", 0, "regression")
        out.append(f"duet A/A false alarms {k}/{n} (goal <= 5%, i.e. <= 1/20): {verdict(k <= 0.05 * n, n)}")
    if "duet" in modes and 10 in effects:
        k, n = count("duet", 10, "regression")
        out.append(f"duet +10% detections {k}/{n} (goal >= 95%, i.e. >= 19/20): {verdict(k >= 0.95 * n, n)}")
    if "duet" in modes and 5 in effects:
        k, n = count("duet", 5, "regression")
        out.append(f"duet +5% detections {k}/{n} (goal >= 95%, i.e. >= 19/20): {verdict(k >= 0.95 * n, n)}")
    if "served" in modes and 0 in effects:
        k, n = count("served", 0, "regression")
        ok = [r for r in records if r["mode"] == "served" and r["effect"] == 0 and "error" not in r]
        x = excludes_zero(ok)
        above, below = one_sided_misses(ok)
        out.append(f"served A/A false alarms {k}/{n} (goal <= 1/20): {verdict(k <= 0.05 * n, n)}; "
                   f"A/A intervals excluding zero {x}/{n}: lower bound above zero {above}/{n}, upper bound "
                   f"below zero {below}/{n} (each bound is a one-sided 95 % bound: goal <= 1/20 each): "
                   f"{verdict(max(above, below) <= 0.05 * n, n)}")
        zs = z_scores(ok)
        if zs:
            rms = math.sqrt(sum(z * z for z in zs) / len(zs))
            out.append(f"served A/A z-scores (change over its standard error) over {len(zs)} trials: rms {rms:.2f}, "
                       f"max |z| {max(abs(z) for z in zs):.2f} (honest: rms about 1.1-1.3 for 9-5 degrees of freedom)")
    for effect in (e for e in effects if e > 0 and "served" in modes):
        k, n = count("served", effect, "regression")
        out.append(f"served {fmt_effect(effect)} detections {k}/{n} (goal >= 19/20): {verdict(k >= 0.95 * n, n)}")
    out += information_bounds(records, modes, effects)
    if "sequential" in modes and 0 in effects:
        k, n = count("sequential", 0, "regression")
        i, _ = count("sequential", 0, "inconclusive")
        out.append(f"sequential A/A regressions called {k}/{n}, inconclusive {i}/{n} (goal <= 5% regressions): "
                   f"{verdict(k <= 0.05 * n, n)}")
    return out


def perfgate_se(r):
    """The standard error behind a trial's printed interval (log scale): half its width over t with
    K - 1 degrees of freedom for rounds; None without rounds (the blocks' df is not printed)."""
    ci, k = r.get("ci"), r.get("rounds") or 0
    if not ci or k < 2 or ci[0] <= -100:
        return None
    half = (math.log1p(ci[1] / 100) - math.log1p(ci[0] / 100)) / 2
    return half / T95.get(k - 1, 1.645)


def information_bounds(records, modes, effects):
    """For each detection cell: how much the metric's own sampling noise allows. With every request an
    independent sample (`iid_se`, the most optimistic case), a one-sided 95 % test of the cell's median
    realised change against its budget has the power printed; and the run time at which that reaches
    the goal's 95 %. perfgate's own standard error (rounds) is printed beside it."""
    out = []
    for mode in modes:
        for effect in (e for e in effects if e > 0):
            ok = [r for r in records if r["mode"] == mode and r["effect"] == effect and "error" not in r]
            ses = [r["iid_se"] for r in ok if r.get("iid_se")]
            changes = [r["delta_pct"] for r in ok if r.get("delta_pct") is not None]
            budgets = {r.get("budget") for r in ok}
            if not ses or not changes or len(budgets) != 1:
                continue
            budget = next(iter(budgets)) or ""
            if not re.fullmatch(r"\+[\d.]+%", budget):
                continue
            b, change, se = float(budget[1:-1]), med(changes), med(ses)
            bound = power_bound(change, b, se)
            gap = math.log1p(change / 100) - math.log1p(b / 100)
            line = (f"{mode} {fmt_effect(effect)}: realised {change:+.1f}% (median of {len(changes)}) against the "
                    f"{budget} budget; the {METRIC}'s sampling noise alone, every request an independent "
                    f"sample, is a standard error of {100 * se:.1f} points (median of {len(ses)})")
            own = [x for x in (perfgate_se(r) for r in ok) if x]
            if own:
                line += f" (perfgate's, from the rounds: {100 * med(own):.1f})"
            line += (f": a one-sided 95% test at that error decides the median change in {100 * bound:.0f}% "
                     f"of trials")
            if bound < 0.95 and gap > 0:
                need = gap / (2 * 1.6449)
                factor = (se / need) ** 2
                run_s = med([r.get("seconds") for r in ok])
                line += (f"; 95% needs {100 * need:.1f} points, about {factor:.1f}x the samples"
                         + (f" (about {factor * run_s:.0f} s at this rate)" if run_s else ""))
            out.append(line)
    return out


def rejudge(args, modes, effects):
    """Judges the saved trials of an earlier benchmark run again (a pure function of the saved files)."""
    exe = Path(args.perfgate or ROOT / "target" / "release" / "perfgate").resolve()
    src = args.rejudge.resolve() / "trials.jsonl"
    records = []
    procs = Procs()
    for line in src.read_text().splitlines():
        rec = json.loads(line)
        if "error" in rec or rec["mode"] not in modes or rec["effect"] not in effects:
            continue
        tdir = Path(rec["dir"])
        cmd = [str(exe), "compare", str(tdir / "base.json"), str(tdir / "head.json"), "--gate", str(GATE)]
        procs.run(cmd, tdir / "rejudge.out", tdir / "rejudge.err", 60)
        verdict = parse_comparison((tdir / "rejudge.out").read_text(errors="replace"))
        if verdict is None:
            rec = {**rec, "error": "no comparison line when judged again"}
        else:
            for k in ("ci", "delta_pct", "base_p95", "head_p95"):
                rec.pop(k, None)
            rec.update(verdict)
            if rec.get("seconds") is None:
                m = re.search(r"--run-time (\d+)s", " ".join(rec.get("commands", [])))
                rec["seconds"] = int(m.group(1)) if m else None
            # Of this run's --metric, which may differ from the one the trials were run for.
            rec["iid_se"] = iid_se(tdir / "base.json", tdir / "head.json", seed=rec.get("seed", 0))
        records.append(rec)
    print(f"perfgate detection benchmark, judged again: {src} with {exe}")
    print(f"target {args.target}, gate {os.path.relpath(GATE, ROOT)}, budget `{NAME}` {METRIC}")
    print()
    print(summarize(records, modes, effects))
    print()
    for g in goals(records, modes, effects):
        print(g)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--perfgate", metavar="PATH", help="use this perfgate binary instead of `cargo build --release`")
    ap.add_argument("--trials", type=int, default=20, help="trials per mode and effect (default 20)")
    ap.add_argument("--seconds", type=int, default=30, help="run time of each perfgate run (default 30)")
    ap.add_argument("--modes", default="duet,sequential", help="comma-separated: duet, sequential, served")
    ap.add_argument("--target", choices=sorted(GATES), default="demo",
                    help="what to measure: demo (default), cpu-demo, fastapi (served mode only for the last two)")
    ap.add_argument("--effects", default="0,10,25", help="latency injected on GET /api/modules of head, percent; 0 = A/A")
    ap.add_argument("--hog", action=argparse.BooleanOptionalAction, default=True,
                    help="run one CPU-burning neighbour process during the trials (default on)")
    ap.add_argument("--out", type=Path, help="directory for raw results (default target/bench/detection-TIMESTAMP)")
    ap.add_argument("--gate", type=Path,
                    help="gate file (default bench/detection.yaml, -cpu.yaml or -fastapi.yaml by --target); it must have a `GET /api/modules` p95 budget")
    ap.add_argument("--name", default=ROUTE, help="request name whose comparison is counted (default GET /api/modules)")
    ap.add_argument("--metric", default="p95", help="metric of that comparison (default p95)")
    ap.add_argument("--users", type=int, help="override the gate's users (--users)")
    ap.add_argument("--rejudge", type=Path, metavar="DIR",
                    help="measure nothing: judge the saved trials of an earlier run (DIR/trials.jsonl) again with "
                         "this perfgate (`perfgate compare` on each trial's base.json and head.json) and summarize")
    ap.add_argument("--seed", type=int, default=1, help="seed of the trial order, perfgate runs and demos (default 1)")
    args = ap.parse_args()

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("duet", "sequential", "served") for m in modes):
        ap.error("--modes takes duet, sequential and/or served")
    if args.target != "demo" and modes != ["served"]:
        ap.error(f"--target {args.target} runs in served mode only (perfgate starts both builds): --modes served")
    try:
        effects = [float(e) for e in args.effects.split(",") if e.strip()]
    except ValueError:
        ap.error("--effects takes percentages such as 0,10,25")
    effects = [int(e) if e.is_integer() else e for e in effects]
    if not effects or any(e < 0 or e > 1000 for e in effects):
        ap.error("--effects must be between 0 and 1000")
    if not 1 <= args.trials <= 1000:
        ap.error("--trials must be between 1 and 1000")
    if not 2 <= args.seconds <= 3600:
        ap.error("--seconds must be between 2 and 3600")
    if args.out is None:
        args.out = ROOT / "target" / "bench" / time.strftime("detection-%Y%m%d-%H%M%S")
    args.out = args.out.resolve()
    global GATE, NAME, METRIC, LINE
    NAME, METRIC = args.name, args.metric
    LINE = comparison_line()
    GATE = (args.gate or GATES[args.target]).resolve()
    if not GATE.is_file():
        ap.error(f"--gate {GATE}: no such file")
    args.out.mkdir(parents=True, exist_ok=True)

    # Ctrl-C raises KeyboardInterrupt even when the parent started us with SIGINT ignored (a background
    # job of a non-interactive shell); SIGTERM and SIGHUP clean up the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if args.rejudge:
        return rejudge(args, modes, effects)
    started = time.monotonic()
    command = shlex.join([sys.executable, *sys.argv])
    procs = Procs()
    records = []
    interrupted = None
    try:
        exe = build(args)
        rng = random.Random(args.seed)
        # Round-robin: every round runs each mode x effect once, in a shuffled order, so a slow drift of
        # the machine spreads over all cells instead of landing on one.
        cells = [(m, e) for m in modes for e in effects]
        total = len(cells) * args.trials
        estimate = args.trials * sum((args.seconds + (15 if m == "served" else 4)) * (2 if m == "sequential" else 1)
                                     for m, _ in cells)
        log(f"{total} trials of {args.seconds} s; about {estimate / 60:.0f} min; raw results in {args.out}")
        hog = None
        if args.hog:
            hog = procs.start([sys.executable, "-c", "while True: pass"], subprocess.DEVNULL, subprocess.DEVNULL)
            log(f"CPU hog started (pid {hog.pid}) on this {os.cpu_count()}-CPU machine")
        done, errors_in_row = 0, 0
        with open(args.out / "trials.jsonl", "w") as jl:
            for rnd in range(args.trials):
                order = cells[:]
                rng.shuffle(order)
                for mode, effect in order:
                    done += 1
                    seed = args.seed * 1_000_003 + done
                    tdir = args.out / f"{mode}-{fmt_effect(effect).replace('/', '').replace('%', 'pct').replace('+', 'plus')}-{rnd + 1:02d}"
                    t0 = time.monotonic()
                    if hog is not None and hog.poll() is not None:
                        raise RuntimeError(f"the CPU hog exited with {hog.returncode}")
                    try:
                        rec = trial(procs, exe, args, mode, effect, rnd + 1, seed, tdir)
                        errors_in_row = 0
                    except Exception as e:  # a failed trial is recorded; MAX_CONSECUTIVE_ERRORS stops the run
                        rec = {"mode": mode, "effect": effect, "trial": rnd + 1, "seed": seed, "error": str(e)}
                        errors_in_row += 1
                    rec["wall_s"] = round(time.monotonic() - t0, 1)
                    rec["dir"] = str(tdir)
                    records.append(rec)
                    jl.write(json.dumps(rec) + "\n")
                    jl.flush()
                    head = f"[{done:>3}/{total}] {mode:<10} {fmt_effect(effect):>4} trial {rnd + 1:>2}/{args.trials}:"
                    if "error" in rec:
                        log(f"{head} ERROR {rec['error']}")
                        if errors_in_row >= MAX_CONSECUTIVE_ERRORS:
                            raise RuntimeError(f"{errors_in_row} trials in a row failed; stopping")
                    else:
                        ci = rec.get("ci")
                        log(f"{head} {rec['outcome']:<12} p95 {f2(rec.get('base_p95'))} -> {f2(rec.get('head_p95'))} ms "
                            f"({f2(rec.get('delta_pct'), '+.1f', '%')}"
                            f"{f', CI [{ci[0]:+.1f}%, {ci[1]:+.1f}%]' if ci else ''}), "
                            f"n={rec['base_samples']['requests'] if rec.get('base_samples') else '?'}"
                            f"/{rec['head_samples']['requests'] if rec.get('head_samples') else '?'}, "
                            f"{rec['wall_s']:.0f} s" + "".join(f"; NOTE {n}" for n in rec["notes"]))
    except KeyboardInterrupt:
        interrupted = "Ctrl-C"
    except Interrupted as e:
        interrupted = str(e)
    except RuntimeError as e:
        interrupted = str(e)
    finally:
        # Ignore further signals while the children are stopped (bounded: a few seconds per child).
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all()

    wall = time.monotonic() - started
    print(f"perfgate detection benchmark: {command}")
    print(f"target {args.target}, gate {os.path.relpath(GATE, ROOT)}, budget `{NAME}` {METRIC} (slowed route {ROUTE}); {args.trials} trials x {args.seconds} s per mode "
          f"and effect; CPU hog {'on' if args.hog else 'off'}; {os.cpu_count()} CPUs; seed {args.seed}")
    if interrupted:
        print(f"STOPPED EARLY ({interrupted}): {len(records)} trials done")
    if records:
        print()
        print(summarize(records, modes, effects))
        print()
        print("rate: A/A = false alarms (REGRESSION on the same demo twice), A/B = detections (REGRESSION called).")
        print("base/head p95, delta: medians over trials of the GET /api/modules p95 perfgate printed; delta range: min..max.")
        for g in goals(records, modes, effects):
            print(g)
        notes = [(r, n) for r in records for n in r.get("notes", [])]
        for r, n in notes[:20]:
            print(f"note: {r['mode']} {fmt_effect(r['effect'])} trial {r['trial']}: {n}")
        gens = [g for r in records for g in r.get("generator", [])]
        if gens:
            print(f"generator (as perfgate reported it): CPU {statistics.median(g['cpu_pct'] for g in gens):.1f}% "
                  f"of the cores median, {max(g['cpu_pct'] for g in gens):.1f}% max; late sends (> 10 ms) "
                  f"{max(g['late'] / max(g['planned'], 1) for g in gens) * 100:.2f}% max of a run")
        seen = {}
        for r in records:
            for n in r.get("perfgate_notes", []):
                seen.setdefault(n, []).append(f"{r['mode']} {fmt_effect(r['effect'])}")
        for n, where in seen.items():
            print(f"perfgate note ({len(where)} trials, e.g. {where[0]}): {n}")
        errors = [r for r in records if "error" in r]
        for r in errors[:10]:
            print(f"error: {r['mode']} {fmt_effect(r['effect'])} trial {r['trial']}: {r['error']}")
        example = {}
        for r in records:
            if r.get("commands") and (r["mode"], r["effect"] == 0) not in example:
                example[(r["mode"], r["effect"] == 0)] = r
        for (mode, _), r in sorted(example.items(), key=lambda kv: (kv[0][0], not kv[0][1])):
            print(f"example {mode} {fmt_effect(r['effect'])} trial (demos, then perfgate):")
            for c in r.get("demos", []) + r["commands"]:
                print(f"  {c}")
    print(f"raw results: {args.out} (trials.jsonl, one directory per trial)")
    print(f"total wall time: {wall / 60:.1f} min")
    if interrupted:
        return 130 if interrupted == "Ctrl-C" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
