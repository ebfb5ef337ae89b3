#!/usr/bin/env python3
"""Statistics for bench/speed.sh (Python 3 standard library only).

Subcommands:
  record      parse one run (the tool's output plus `/usr/bin/time -f '%U %S %M %e'`) into a JSON line
  wait-stall  block until just after the demo's next stall window ends (phase-aligns open-model runs)
  report      read the JSON lines of all runs and print the table and the goal lines
  pg-stats    print a perfgate results file's count, rate and percentiles (a debugging aid)

perfgate's latencies come from its results JSON: the per-request-name HdrHistograms (V2 + deflate,
base64, microseconds) are decoded here and merged over both phases, so p50/p99 are computed exactly as
perfgate's own table computes them (highest equivalent value of the bucket at the quantile).
"""

import argparse
import base64
import http.client
import json
import math
import re
import statistics
import struct
import sys
import time
import zlib

# --------------------------------------------------------------------------------------------------
# HdrHistogram V2 (+deflate) decoding


def hdr_decode(text):
    """Buckets [(lowest_us, highest_equivalent_us, count)] of a base64 V2 or V2+deflate histogram."""
    raw = base64.b64decode(text)
    cookie, length = struct.unpack(">II", raw[:8])
    if cookie & 0xFFFFFF0F == 0x1C849304:  # V2 compressed: cookie, length, zlib stream
        raw = zlib.decompress(raw[8 : 8 + length])
    cookie, plen, _offset, sigfig, lowest, _highest, _ratio = struct.unpack(">IIIIqqd", raw[:40])
    if cookie & 0xFFFFFF0F != 0x1C849303:
        raise ValueError(f"not an HdrHistogram V2 encoding (cookie {cookie:#x})")
    payload = raw[40 : 40 + plen]
    unit = int(math.floor(math.log2(max(1, lowest))))
    half_mag = int(math.ceil(math.log2(2 * 10**sigfig))) - 1
    half = 1 << half_mag
    out, idx, i = [], 0, 0
    while i < len(payload):
        v, shift = 0, 0
        for k in range(9):  # ZigZag LEB128, at most 9 bytes, the 9th with all 8 bits
            byte = payload[i]
            i += 1
            if k == 8:
                v |= byte << shift
                break
            v |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        v = (v >> 1) ^ -(v & 1)
        if v < 0:  # a run of -v empty buckets
            idx += -v
            continue
        if v:
            bucket = (idx >> half_mag) - 1
            sub = (idx & (half - 1)) + half
            if bucket < 0:
                sub -= half
                bucket = 0
            lo = sub << (bucket + unit)
            out.append((lo, lo + (1 << (bucket + unit)) - 1, v))
        idx += 1
    return out


def hdr_merge(*lists):
    merged = {}
    for lst in lists:
        for lo, hi, c in lst:
            key = (lo, hi)
            merged[key] = merged.get(key, 0) + c
    return sorted((lo, hi, c) for (lo, hi), c in merged.items())


def hdr_quantile_us(buckets, q):
    total = sum(c for _, _, c in buckets)
    if not total:
        return 0
    want = max(1, math.ceil(q * total))
    run = 0
    for _, hi, c in buckets:
        run += c
        if run >= want:
            return hi
    return buckets[-1][1]


def perfgate_stats(path):
    with open(path) as f:
        r = json.load(f)
    lat, svc, reqs, fails = [], [], 0, 0
    for rq in r.get("requests", []):
        for phase in ("ramp_up", "steady"):
            st = rq["phases"][phase]
            reqs += st.get("requests", 0)
            fails += st.get("failures", 0)
            if st.get("requests"):
                lat.append(hdr_decode(st["histogram"]))
                if st.get("service_histogram"):
                    svc.append(hdr_decode(st["service_histogram"]))
    h = hdr_merge(*lat)
    s = hdr_merge(*svc) if svc else None
    load = r.get("load", {})
    gen = load.get("generator", {})
    dur = load.get("duration_s") or 0.0
    return {
        "requests": reqs,
        "errors": fails,
        "duration_s": dur,
        "rps": reqs / dur if dur else 0.0,
        "p50_ms": hdr_quantile_us(h, 0.50) / 1000.0,
        "p99_ms": hdr_quantile_us(h, 0.99) / 1000.0,
        "service_p99_ms": hdr_quantile_us(s, 0.99) / 1000.0 if s else None,
        "self_cpu_s": gen.get("cpu_s"),
        "arrivals": gen.get("arrivals"),
        "dropped": gen.get("dropped"),
        "untrusted": gen.get("untrusted"),
        "mean_lag_ms": gen.get("mean_lag_ms"),
        "max_lag_ms": gen.get("max_lag_ms"),
    }


# --------------------------------------------------------------------------------------------------
# Other tools' outputs

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"cannot read a wrk duration from {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk_stats(path):
    text = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"no request count in the wrk output {path}")
    reqs = int(m.group(1))
    dur = _ms(m.group(2) + m.group(3)) / 1000.0
    errors = 0
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        errors += sum(int(x) for x in e.groups())
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        errors += int(n.group(1))
    pct = {}
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for line in dist[1].splitlines()[1:]:
            mm = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
            if not mm:
                break
            pct[float(mm.group(1))] = _ms(mm.group(2))
    return {
        "requests": reqs,
        "errors": errors,
        "duration_s": dur,
        "rps": reqs / dur if dur else 0.0,
        "p50_ms": pct.get(50.0),
        "p99_ms": pct.get(99.0),
    }


def oha_stats(path):
    with open(path) as f:
        j = json.load(f)
    summ = j.get("summary", {})
    codes = j.get("statusCodeDistribution", {}) or {}
    errs = j.get("errorDistribution", {}) or {}
    ok = sum(codes.values())
    # Requests cut off by `-z` at the deadline did not complete: neither requests nor errors.
    errs = {k: v for k, v in errs.items() if "deadline" not in k}
    errors = sum(errs.values()) + sum(v for k, v in codes.items() if not str(k).startswith(("2", "3")))
    dur = summ.get("total") or 0.0
    pct = j.get("latencyPercentiles", {}) or {}

    def p(key):
        v = pct.get(key)
        return None if v is None else v * 1000.0

    return {
        "requests": ok + sum(errs.values()),
        "errors": errors,
        "duration_s": dur,
        "rps": (ok + sum(errs.values())) / dur if dur else 0.0,
        "p50_ms": p("p50"),
        "p99_ms": p("p99"),
    }


def cmd_record(a):
    rec = {"kind": a.kind, "tool": a.tool, "conns": a.conns, "round": a.round, "exit": a.exit_code}
    if a.label:
        rec["label"] = a.label
    try:
        parser = {"perfgate": perfgate_stats, "wrk": wrk_stats, "oha": oha_stats}[a.tool]
        rec.update(parser(a.output))
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
        rec["error"] = f"{type(e).__name__}: {e}"
    try:
        # GNU time writes "Command exited with non-zero status N" first when the command failed.
        fields = open(a.time).read().split()[-4:]
        user, sys_, rss_kib, wall = float(fields[0]), float(fields[1]), int(fields[2]), float(fields[3])
        rec.update(cpu_s=user + sys_, user_s=user, sys_s=sys_, rss_kib=rss_kib, wall_s=wall)
        if rec.get("requests"):
            rec["cpu_us_per_req"] = (user + sys_) * 1e6 / rec["requests"]
    except Exception as e:  # noqa: BLE001
        rec.setdefault("error", f"time: {type(e).__name__}: {e}")
    print(json.dumps(rec))


# --------------------------------------------------------------------------------------------------
# Phase alignment with the demo's stall windows


def cmd_wait_stall(a):
    """Probe GET PATH until one answer is held by a stall, then sleep until OFFSET s after its end.

    The demo's stall windows start at the server's start and recur every `--stall-every`; a probe that
    arrives inside a window is answered when the window ends, so its completion marks the end.
    """
    conn = http.client.HTTPConnection(a.host, a.port, timeout=a.every + 5)
    deadline = time.monotonic() + 3 * a.every + 5
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        conn.request("GET", a.path)
        conn.getresponse().read()
        t1 = time.monotonic()
        if t1 - t0 >= a.min_stall:
            conn.close()
            time.sleep(max(0.0, t1 + a.offset - time.monotonic()))
            return 0
        time.sleep(0.01)
    conn.close()
    print("wait-stall: no stall seen; starting unaligned", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------------
# The report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec, na="n/a"):
    return na if x is None else format(x, spec)


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def ok(r):
    return "error" not in r and r.get("requests")


def paired(runs, kind, conns, field, tool, peer, how):
    """Per-round pairs of tool vs peer (same kind, connections, round): ratio or difference."""
    by = {}
    for r in runs:
        if r["kind"] == kind and r["conns"] == conns and ok(r) and r.get(field) is not None:
            by.setdefault(r["round"], {})[r["tool"]] = r[field]
    out = []
    for rnd in sorted(by):
        d = by[rnd]
        if tool in d and peer in d:
            out.append(d[tool] / d[peer] if how == "ratio" else d[tool] - d[peer])
    return out


def verdict(passed):
    return "n/a" if passed is None else ("PASS" if passed else "MISS")


def cmd_report(a):
    runs = load_runs(a.runs)
    meta = json.load(open(a.meta)) if a.meta else {}
    tools = [t for t in ("perfgate", "wrk", "oha") if any(r["tool"] == t and r["kind"] == "sat" for r in runs)]
    conns_list = sorted({r["conns"] for r in runs if r["kind"] == "sat"})
    out = []
    w = out.append
    w("")
    w("## Throughput and cost at saturation (medians over rounds; ratios are medians of same-round ratios)")
    w("")
    w("| conns | tool | runs | req/s | CPU µs/req | (user + sys) | peak RSS MiB | req/s vs wrk | req/s vs oha | CPU vs wrk | CPU vs oha |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in conns_list:
        for t in tools:
            rs = [r for r in runs if r["kind"] == "sat" and r["conns"] == c and r["tool"] == t]
            good = [r for r in rs if ok(r)]
            rps = med([r["rps"] for r in good])
            cpu = med([r.get("cpu_us_per_req") for r in good])
            rss = med([r.get("rss_kib") for r in good])
            usr = med([r["user_s"] * 1e6 / r["requests"] for r in good if r.get("user_s") is not None])
            sys_ = med([r["sys_s"] * 1e6 / r["requests"] for r in good if r.get("sys_s") is not None])
            cells = []
            for field in ("rps", "cpu_us_per_req"):
                for peer in ("wrk", "oha"):
                    if t == peer:
                        cells.append("—")
                    else:
                        cells.append(fmt(med(paired(runs, "sat", c, field, t, peer, "ratio")), ".2f") + "×"
                                     if paired(runs, "sat", c, field, t, peer, "ratio") else "n/a")
            w(f"| {c} | {t} | {len(good)}/{len(rs)} | {fmt(rps, ',.0f')} | {fmt(cpu, '.1f')} | "
              f"({fmt(usr, '.1f')} + {fmt(sys_, '.1f')}) | "
              f"{fmt(rss / 1024 if rss else None, '.1f')} | " + " | ".join(cells) + " |")
    failed = [r for r in runs if not ok(r)]
    for r in failed:
        w(f"  failed run: {r['kind']} {r['tool']} {r['conns']} conns round {r['round']}: "
          f"{r.get('error', 'no requests')} (exit {r.get('exit')})")
    errs = [r for r in runs if ok(r) and r.get("errors")]
    for r in errs:
        w(f"  note: {r['kind']} {r['tool']} {r['conns']} conns round {r['round']}: {r['errors']} errors of {r['requests']}")
    w("")

    # ---- goals
    goals = []

    def goal(name, target, measured, passed, extra=""):
        goals.append((name, target, measured, verdict(passed), extra))

    def by_how_much(x, limit, upper=True):
        if x is None:
            return ""
        if upper and x > limit:
            return f"(over by {(x / limit - 1) * 100:.0f} %)"
        if not upper and x < limit:
            return f"(short by {(1 - x / limit) * 100:.0f} %)"
        return ""

    r_w = med(paired(runs, "sat", 10, "cpu_us_per_req", "perfgate", "wrk", "ratio"))
    goal("generator CPU per request vs wrk, 10 conns", "≤ 1.00×", fmt(r_w, ".2f") + "×" if r_w else "n/a",
         None if r_w is None else r_w <= 1.0, by_how_much(r_w, 1.0))
    r_o = med(paired(runs, "sat", 10, "cpu_us_per_req", "perfgate", "oha", "ratio"))
    goal("generator CPU per request vs oha, 10 conns", "≤ 0.70×", fmt(r_o, ".2f") + "×" if r_o else "n/a (no oha)",
         None if r_o is None else r_o <= 0.70, by_how_much(r_o, 0.70))
    q_w = med(paired(runs, "sat", 50, "rps", "perfgate", "wrk", "ratio"))
    goal("requests/s vs wrk, 50 conns", "≥ 0.90×", fmt(q_w, ".2f") + "×" if q_w else "n/a",
         None if q_w is None else q_w >= 0.90, by_how_much(q_w, 0.90, upper=False))

    pg10 = [r for r in runs if r["tool"] == "perfgate" and r["conns"] == 10 and r["kind"] in ("sat", "rss") and ok(r)]
    peak = max((r["rss_kib"] for r in pg10 if r.get("rss_kib")), default=None)
    if peak is not None:
        mib = peak / 1024
        extra = by_how_much(mib, 20.0)
        if 20e6 / 2**20 < mib <= 20.0:
            extra = "(within 20 MiB, but over 20 MB = 19.07 MiB)"
        goal("perfgate peak RSS, 10 conns (max over its runs)", "≤ 20 MiB", f"{mib:.1f} MiB over {len(pg10)} runs",
             mib <= 20.0, extra)
    else:
        goal("perfgate peak RSS, 10 conns", "≤ 20 MiB", "n/a", None)
    rss10 = med([r["rss_kib"] for r in runs if r["kind"] == "rss" and r.get("label") == "short" and ok(r)])
    rss60 = med([r["rss_kib"] for r in runs if r["kind"] == "rss" and r.get("label") == "long" and ok(r)])
    short_s = meta.get("rss_short_s", 10)
    long_s = meta.get("rss_long_s", 60)
    if rss10 and rss60:
        g = rss60 / rss10 - 1
        goal(f"perfgate peak RSS, {long_s} s run vs {short_s} s run, 10 conns", "within ±10 %",
             f"{rss10 / 1024:.1f} → {rss60 / 1024:.1f} MiB ({g * 100:+.1f} %)", abs(g) <= 0.10)
    else:
        goal(f"perfgate peak RSS, {long_s} s run vs {short_s} s run", "within ±10 %", "n/a", None)

    p50s = {t: med([r.get("p50_ms") for r in runs if r["kind"] == "p50" and r["tool"] == t and ok(r)])
            for t in ("perfgate", "wrk")}
    d = med(paired(runs, "p50", 10, "p50_ms", "perfgate", "wrk", "diff"))
    goal(f"p50 overhead vs wrk, demo with a fixed {meta.get('p50_latency', '20ms')} delay, 10 conns", "≤ 0.10 ms",
         (f"{d:+.3f} ms (perfgate p50 {fmt(p50s['perfgate'], '.3f')} ms, wrk p50 {fmt(p50s['wrk'], '.3f')} ms)"
          if d is not None else "n/a"),
         None if d is None else d <= 0.10, "" if d is None or d <= 0.10 else f"(over by {d - 0.10:.3f} ms)")

    op = [r for r in runs if r["kind"] == "open" and r["tool"] == "perfgate" and ok(r)]
    oo = [r for r in runs if r["kind"] == "open" and r["tool"] == "oha" and ok(r)]
    pp99 = med([r.get("p99_ms") for r in op])
    op99 = med([r.get("p99_ms") for r in oo])
    ratio = med(paired(runs, "open", meta.get("open_conns", 50), "p99_ms", "perfgate", "oha", "ratio"))
    rate = meta.get("open_rate", 200)
    if ratio is not None:
        svc = med([r.get("service_p99_ms") for r in op])
        goal(f"open model {rate}/s, stall 500 ms every 5 s: corrected p99 vs oha --latency-correction",
             "within ±10 %",
             f"{ratio:.2f}× (perfgate {pp99:.1f} ms, oha {op99:.1f} ms; perfgate uncorrected {fmt(svc, '.1f')} ms)",
             abs(ratio - 1) <= 0.10,
             "" if abs(ratio - 1) <= 0.10 else f"(off by {abs(ratio - 1) * 100:.0f} %)")
    else:
        goal(f"open model {rate}/s, stall 500 ms every 5 s: corrected p99 vs oha", "within ±10 %",
             f"perfgate {fmt(pp99, '.1f')} ms, oha {fmt(op99, '.1f', 'n/a (no oha)')}", None)

    w("## Goals")
    w("")
    width = max(len(g[0]) for g in goals)
    for name, target, measured, v, extra in goals:
        w(f"{v:4}  {name:<{width}}  goal {target:<13} measured {measured} {extra}".rstrip())
    w("")

    # ---- details of the extra runs
    w("## Details of the extra runs (per round)")
    for r in runs:
        if r["kind"] == "sat":
            continue
        bits = [f"{r['kind']:5} {r['tool']:8} {r['conns']:3} conns round {r['round']}"]
        if r.get("label"):
            bits.append(r["label"])
        if ok(r):
            bits.append(f"{r['requests']} req in {r['duration_s']:.1f} s ({r['rps']:,.0f}/s)")
            if r.get("p50_ms") is not None:
                bits.append(f"p50 {r['p50_ms']:.3f} ms")
            if r.get("p99_ms") is not None:
                bits.append(f"p99 {r['p99_ms']:.1f} ms")
            if r.get("service_p99_ms") is not None:
                bits.append(f"uncorrected p99 {r['service_p99_ms']:.1f} ms")
            if r.get("rss_kib"):
                bits.append(f"RSS {r['rss_kib'] / 1024:.1f} MiB")
            if r.get("errors"):
                bits.append(f"{r['errors']} errors")
            if r.get("kind") == "open" and r.get("mean_lag_ms") is not None:
                bits.append(f"send lag mean {r['mean_lag_ms']:.2f} ms, max {r['max_lag_ms']:.1f} ms")
            if r.get("dropped"):
                bits.append(f"{r['dropped']} dropped")
        else:
            bits.append(f"FAILED: {r.get('error', 'no requests')}")
        w("  " + ", ".join(bits))
    print("\n".join(out))


def cmd_pg_stats(a):
    print(json.dumps(perfgate_stats(a.results), indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("record")
    p.add_argument("--kind", required=True)
    p.add_argument("--tool", required=True, choices=["perfgate", "wrk", "oha"])
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--time", required=True)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--label")
    p = sub.add_parser("wait-stall")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/api/health")
    p.add_argument("--every", type=float, default=5.0)
    p.add_argument("--min-stall", type=float, default=0.1)
    p.add_argument("--offset", type=float, default=0.5)
    p = sub.add_parser("report")
    p.add_argument("--runs", required=True)
    p.add_argument("--meta")
    p = sub.add_parser("pg-stats")
    p.add_argument("results")
    a = ap.parse_args()
    return {"record": cmd_record, "wait-stall": cmd_wait_stall, "report": cmd_report, "pg-stats": cmd_pg_stats}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
