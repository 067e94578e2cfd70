"""Soak: 50 websocket sessions over every page for an hour, with faults (issue 14).

    python -m bench.soak                     # 60 min, 50 sessions, 400 MB memory limit
    python -m bench.soak --minutes 20        # shorter (the fault windows scale, see below)
    python -m bench.soak --minutes 3 --sessions 8   # a smoke run

The real server (bench/serve.py: ``streamlit run Home.py`` with the shipped config, on the
simulated market, clock pinned at 2026-11-20 11:30 ET and running on) with
``OPTIONS_DASH_MEMORY_LIMIT_MB=400`` (the memory governor on), ``MALLOC_ARENA_MAX=2`` (the
README's setting for small instances) and fault injection
(``BENCH_FAULT_FILE``). ``--sessions`` websocket sessions (bench/ws_client.py, default 50)
start spread over Home and the seven pages and each moves to the next page every ``--dwell``
seconds (default 45, staggered), following the pages' live fragments in between.

Fault schedule (minutes from the start, for a 60-minute run; shorter runs scale the starts with
the length and keep 2-minute windows when the run is >= 20 min, else 10 % of it each):

* **down** 15–17: every provider call waits 8 s (a black-holed network) and fails;
* **slow** 30–32: every provider call waits 1.5 s, then answers;
* **bad link**, once a minute: a visitor opens Home with a ``?wl=`` of 100,000 invalid entries
  (~400 KB), then leaves.

Measured: RSS slope over the last 30 minutes (least squares, MB/min; over the last half for
shorter runs), p95 page time outside the fault windows, the slowest view inside them, errors
per session (uncaught exceptions and error boxes; "source down" messages inside the down
window are expected and counted apart), upstream calls per key per TTL (bench.sessions'
allowance), the bad-link visitor's time, bytes and alert count. Targets: slope <= 0.2 MB/min,
zero uncaught exceptions, p95 <= 2 s outside faults, every faulted view within the page
deadline (12 s) plus one upstream timeout. Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import time

import numpy as np

from bench import ws_client
from bench.common import write
from bench.server import LOGS, MB, Server
from bench.sessions import PAGE_NAMES, per_key_calls

MEMORY_LIMIT_MB = 400
PAGE_DEADLINE_S = 12.0
FAULT_TIMEOUT_S = 8.0
TARGETS = {"rss_slope_mb_min": 0.2, "p95_s": 2.0, "uncaught": 0,
           "faulted_max_s": PAGE_DEADLINE_S + FAULT_TIMEOUT_S}
BAD_LINK = "wl=" + ",".join(f"{i % 100:02d}$" for i in range(100_000))


def schedule(minutes: float) -> list[tuple[str, float, float]]:
    """[(mode, start s, end s)] of the fault windows for a run of ``minutes``."""
    total = minutes * 60
    width = 120.0 if minutes >= 20 else 0.1 * total
    return [("down", 0.25 * total, 0.25 * total + width),
            ("slow", 0.50 * total, 0.50 * total + width)]


def in_window(t: float, windows, pad: float = 0.0) -> str | None:
    for mode, a, b in windows:
        if a - pad <= t <= b + pad:
            return mode
    return None


async def _faults(fault_file: pathlib.Path, windows, t0: float, until: float) -> None:
    while time.time() < until:
        mode = in_window(time.time() - t0, windows) or "ok"
        fault_file.write_text(mode)
        await asyncio.sleep(1.0)
    fault_file.write_text("ok")


async def _visitor(base: str, index: int, n: int, dwell: float, t0: float, until: float,
                   views: list) -> None:
    """One session: starts on page ``index % 8``, moves to the next page every ``dwell`` s."""
    await asyncio.sleep(dwell * index / n)
    page = index % len(PAGE_NAMES)
    s = ws_client.Session(base, PAGE_NAMES[page], timeout=120)
    try:
        run = await s.open()
        views.append(_view(index, PAGE_NAMES[page], run, t0))
        while time.time() < until:
            await asyncio.sleep(dwell)
            page = (page + 1) % len(PAGE_NAMES)
            try:
                run = await s.navigate(PAGE_NAMES[page])
                views.append(_view(index, PAGE_NAMES[page], run, t0))
            except Exception as exc:  # noqa: BLE001 - a lost view is an error of the session
                views.append({"session": index, "page": PAGE_NAMES[page], "t": time.time() - t0,
                              "seconds": None, "ok": False, "exceptions": [repr(exc)],
                              "errors": []})
                await s.close()
                s = ws_client.Session(base, PAGE_NAMES[page], timeout=120)
                await s.open()
    finally:
        await s.close()


def _view(index: int, page: str, run: ws_client.Run, t0: float) -> dict:
    return {"session": index, "page": page or "Home", "t": round(time.time() - t0, 1),
            "seconds": round(run.seconds, 3), "ok": run.ok, "exceptions": run.exceptions,
            "errors": run.errors, "bytes": run.bytes}


async def _bad_links(base: str, t0: float, until: float, out: list) -> None:
    while time.time() < until:
        await asyncio.sleep(60)
        if time.time() >= until:
            return
        s = ws_client.Session(base, "", BAD_LINK, timeout=120)
        try:
            run = await s.open()
            out.append({"t": round(time.time() - t0, 1), "seconds": round(run.seconds, 3),
                        "bytes": run.bytes, "alerts": run.elements.get("alert", 0),
                        "exceptions": run.exceptions, "ok": run.ok})
        except Exception as exc:  # noqa: BLE001 - recorded
            out.append({"t": round(time.time() - t0, 1), "error": repr(exc)})
        finally:
            await s.close()


def slope(samples: list[tuple[float, int]], last_s: float) -> tuple[float | None, float]:
    """(least-squares RSS slope in MB/min over the last ``last_s`` seconds, span in s)."""
    if not samples:
        return None, 0.0
    end = samples[-1][0]
    recent = [(t, b) for t, b in samples if t >= end - last_s]
    if len(recent) < 3:
        return None, 0.0
    t = (np.array([r[0] for r in recent]) - recent[0][0]) / 60.0
    b = np.array([r[1] for r in recent]) / MB
    return float(np.polyfit(t, b, 1)[0]), recent[-1][0] - recent[0][0]


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


async def soak(srv: Server, fault_file: pathlib.Path, minutes: float, sessions: int,
               dwell: float) -> dict:
    windows = schedule(minutes)
    t0 = time.time()
    until = t0 + minutes * 60
    before = srv.wait_stats(t0)
    views: list[dict] = []
    bad: list[dict] = []
    await asyncio.gather(
        _faults(fault_file, windows, t0, until), _bad_links(srv.base, t0, until, bad),
        *(_visitor(srv.base, i, sessions, dwell, t0, until, views) for i in range(sessions)))
    after = srv.wait_stats(time.time())
    window_s = time.time() - t0
    rss_samples = [(t, b) for t, b in srv.samples if t >= t0]
    last = min(30 * 60, window_s / 2) if minutes < 60 else 30 * 60
    rss_slope, span = slope(rss_samples, last)
    # a view counts as faulted when it ran in a fault window (or within one timeout after it)
    clean = [v for v in views if v["seconds"] is not None
             and not in_window(v["t"], windows, pad=FAULT_TIMEOUT_S + PAGE_DEADLINE_S)]
    faulted = [v for v in views if v["seconds"] is not None
               and in_window(v["t"], windows, pad=FAULT_TIMEOUT_S + PAGE_DEADLINE_S)]
    uncaught = sum(len(v["exceptions"]) for v in views)
    down_errors = sum(len(v["errors"]) for v in faulted)
    clean_errors = sum(len(v["errors"]) for v in clean)
    per_session = {}
    for v in views:
        row = per_session.setdefault(v["session"], {"views": 0, "uncaught": 0, "errors": 0})
        row["views"] += 1
        row["uncaught"] += len(v["exceptions"])
        row["errors"] += len(v["errors"])
    by_page = {}
    for v in clean:
        by_page.setdefault(v["page"], []).append(v["seconds"])
    per_key = per_key_calls(before.get("key_calls", {}), after.get("key_calls", {}), window_s)
    peak = max((b for _, b in rss_samples), default=0)
    result = {
        "minutes": minutes, "sessions": sessions, "dwell_s": dwell,
        "memory_limit_mb": MEMORY_LIMIT_MB, "fault_windows": windows,
        "views": len(views), "views_clean": len(clean), "views_faulted": len(faulted),
        "p95_clean_s": _p([v["seconds"] for v in clean], 0.95),
        "median_clean_s": _p([v["seconds"] for v in clean], 0.5),
        "p95_by_page_clean_s": {p: _p(s, 0.95) for p, s in sorted(by_page.items())},
        "slowest_clean": [{k: v[k] for k in ("session", "page", "t", "seconds")} for v in
                          sorted(clean, key=lambda v: -v["seconds"])[:40]],
        "faulted_max_s": max((v["seconds"] for v in faulted), default=None),
        "faulted_p95_s": _p([v["seconds"] for v in faulted], 0.95),
        "failed_views": sum(1 for v in views if v["seconds"] is None),
        "uncaught_exceptions": uncaught, "error_boxes_clean": clean_errors,
        "error_boxes_faulted": down_errors,
        "errors_per_session_max": max((r["uncaught"] + r["errors"] for r in
                                       per_session.values()), default=0),
        "errors_per_session_mean": round(statistics.mean(
            r["uncaught"] + r["errors"] for r in per_session.values()), 2) if per_session else 0,
        "rss_start_mb": round(rss_samples[0][1] / MB, 1) if rss_samples else None,
        "rss_end_mb": round(rss_samples[-1][1] / MB, 1) if rss_samples else None,
        "rss_peak_mb": round(peak / MB, 1),
        "rss_slope_mb_min": None if rss_slope is None else round(rss_slope, 3),
        "rss_slope_span_min": round(span / 60, 1),
        "rss_series_mb": [(round(t - t0), round(b / MB, 1)) for t, b in rss_samples[::150]],
        "upstream_per_key": per_key,
        "upstream_within_ttl_bound": all(r["ok"] for r in per_key.values()),
        "bad_links": bad,
        "breakers": after.get("breakers"), "governor": after.get("governor"),
        "sample_errors": [e for v in views for e in v["exceptions"] + v["errors"]][:10],
    }
    result["targets"] = TARGETS
    result["met"] = {
        "rss_slope": result["rss_slope_mb_min"] is not None
        and result["rss_slope_mb_min"] <= TARGETS["rss_slope_mb_min"],
        "uncaught": uncaught == 0,
        "p95_clean": (result["p95_clean_s"] or 0) <= TARGETS["p95_s"],
        "faulted_within_deadline": (result["faulted_max_s"] or 0) <= TARGETS["faulted_max_s"],
        "under_memory_limit": peak / MB < MEMORY_LIMIT_MB,
        "no_failed_views": result["failed_views"] == 0,
    }
    return result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--dwell", type=float, default=45.0, help="seconds on each page")
    ap.add_argument("--out", default="soak", help="result file name in bench/results/")
    args = ap.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    fault_file = LOGS / "soak.fault"
    fault_file.write_text("ok")
    env = {"OPTIONS_DASH_MEMORY_LIMIT_MB": str(MEMORY_LIMIT_MB),
           "MALLOC_ARENA_MAX": "2",  # README's advice for small instances (fewer glibc arenas)
           "BENCH_FAULT_FILE": str(fault_file), "BENCH_FAULT_TIMEOUT": str(FAULT_TIMEOUT_S),
           "OPTIONS_DASH_PAGE_DEADLINE": str(PAGE_DEADLINE_S)}
    started = time.time()
    with Server("soak", env=env, stats_every=5.0) as srv:
        result = asyncio.run(soak(srv, fault_file, args.minutes, args.sessions, args.dwell))
    result["command"] = "python -m bench.soak " + " ".join(argv or __import__("sys").argv[1:])
    result["wall_s"] = round(time.time() - started, 1)
    path = write(args.out, result)
    summary = {k: result[k] for k in (
        "minutes", "sessions", "views", "p95_clean_s", "faulted_max_s", "uncaught_exceptions",
        "error_boxes_clean", "error_boxes_faulted", "failed_views", "rss_start_mb",
        "rss_end_mb", "rss_peak_mb", "rss_slope_mb_min", "upstream_within_ttl_bound")}
    print(summary, "\nmet:", result["met"], "\n->", path)
    return result


if __name__ == "__main__":
    main()
