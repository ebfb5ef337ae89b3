"""A small FastAPI service for perfgate's detection benchmark (bench/detection.py --target fastapi).

A few CPU-bound JSON endpoints in the shape of the reference dashboard backend (modules, runs,
health). Every request does real work in Python (hashing and JSON building), so its latency comes
from the CPU, the interpreter and the event loop, as a real backend's does, not from a sleep.

The regression is injected as a calibrated CPU cost: BENCH_COST=1.10 makes every request of
GET /api/modules do 10 % more of the same work (BENCH_ROUTE picks another route). Run:

    BENCH_COST=1.10 python -m uvicorn app:app --port 8000 --log-level warning
"""

import hashlib
import os

from fastapi import FastAPI

app = FastAPI()

# Units of work per request; one unit is one SHA-256 over 4 KiB (about 4 us on the benchmark machine: GET /api/modules does about 3 ms of work).
WORK = {"GET /api/modules": 800, "GET /api/runs": 400, "POST /api/runs": 500, "GET /api/health": 20}
COST = float(os.environ.get("BENCH_COST", "1.0"))
ROUTE = os.environ.get("BENCH_ROUTE", "GET /api/modules")
BLOCK = bytes(range(256)) * 16


def work(route: str) -> str:
    units = WORK[route]
    if route == ROUTE:
        units = round(units * COST)
    h = hashlib.sha256()
    for _ in range(units):
        h.update(BLOCK)
        h = hashlib.sha256(h.digest())
    return h.hexdigest()[:12]


@app.get("/api/health")
def health():
    return {"status": "ok", "digest": work("GET /api/health")}


@app.get("/api/modules")
def modules():
    digest = work("GET /api/modules")
    return {
        "modules": [
            {"id": f"m{i}", "name": f"module {i}", "enabled": i % 3 != 0, "version": f"1.{i}.0"} for i in range(20)
        ],
        "digest": digest,
    }


@app.get("/api/runs")
def runs():
    digest = work("GET /api/runs")
    return {"runs": [{"id": i, "module": f"m{i % 20}", "status": "done"} for i in range(30)], "digest": digest}


@app.post("/api/runs")
def start_run(body: dict):
    digest = work("POST /api/runs")
    return {"id": 1, "module": body.get("module_id", "m0"), "status": "queued", "digest": digest}
