"""Shared bench helpers: machine facts, result files, simple statistics."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import time

import psutil

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),  # wall time of the run itself
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def write(name: str, payload: dict) -> pathlib.Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str))
    return path


def timed(fn, repeat: int) -> dict:
    """Median / p95 / min wall time of ``fn()`` over ``repeat`` runs, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 4),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 4),
            "min_ms": round(samples[0], 4), "runs": repeat}
