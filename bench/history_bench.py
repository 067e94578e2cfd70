"""Recorder and history benchmark (issue 16).

Measures, on the simulated market:

1. recorder cost per snapshot: wall ms for the whole universe (fetch included) and for the
   writes alone, bytes written per symbol per snapshot;
2. bytes on disk per symbol per day: one full session (every 5 min + after the close);
3. query times, cold (fresh fetch layer) and warm (cached): a 10-session level history and an
   OI-change heatmap (ΔOI of the next 6 expiries vs the previous session's recording);
4. RSS with the recorder on vs off: child processes load the same pages' data through the
   fetch layer (each symbol's nearest chain); "on" then records the full universe three times
   (3 snapshots, 5 min apart); "fetch" fetches exactly what "on" records, without writing, so
   on − fetch is the cost of recording itself and fetch − off the data it pulls into the
   (bounded) caches.

Run: ``.venv/bin/python -m bench.history_bench`` (``--quick``: fewer symbols and days).
Results: ``bench/results/history.json`` (``history_quick.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

from bench import common  # noqa: E402
from core import clock, config, fetch, recorder  # noqa: E402
from core.analytics import history  # noqa: E402

DAY = dt.date(2026, 11, 20)
QUERY_AT = "2026-11-20 11:30"


def snapshot_cost(root, universe, n: int) -> dict:
    store = recorder.Store(root, budget_bytes=1 << 40)
    rec = recorder.Recorder(store, universe, expiries=6)
    writes: list[float] = []
    real = store.write_snapshot

    def timed_write(*a, **kw):
        t = time.perf_counter()
        out = real(*a, **kw)
        writes.append(time.perf_counter() - t)
        return out

    store.write_snapshot = timed_write
    totals, sizes = [], []
    for i in range(n):
        at = clock.session_open(DAY) + dt.timedelta(minutes=60 + 5 * i)
        clock.pin(at)
        r = rec.record(at)
        totals.append(r.seconds * 1000)
        sizes.append(r.bytes / max(r.symbols, 1))
    per = len(universe)
    return {"symbols": per, "snapshots": n,
            "total_ms_median": sorted(totals)[n // 2],
            "per_symbol_ms": sorted(totals)[n // 2] / per,
            "write_ms_per_symbol": 1000 * sum(writes) / len(writes),
            "bytes_per_symbol_snapshot": sum(sizes) / len(sizes),
            "chains_per_symbol": r.chains / max(r.symbols, 1)}


def bytes_per_day(root, symbols) -> dict:
    store = recorder.Store(root, budget_bytes=1 << 40)
    rec = recorder.Recorder(store, symbols, expiries=6)
    times = rec.schedule(DAY)
    t = time.perf_counter()
    for at in times:
        clock.pin(at)
        rec.record(at)
    spent = time.perf_counter() - t
    size = store.size_bytes()
    return {"snapshots": len(times), "symbols": len(symbols), "bytes_total": size,
            "bytes_per_symbol_day": size / len(symbols), "seconds": round(spent, 1)}


def queries(root, days: int, repeat: int) -> dict:
    recorder.simulate_days(root, days, ["SPY"], every_minutes=30, expiries=6,
                           end=DAY - dt.timedelta(days=1))
    os.environ["OPTIONS_DASH_RECORD_DIR"] = str(root)
    config.reload()
    clock.pin(QUERY_AT)
    out = {}
    for name, fn in (("level_history_10", lambda: fetch.level_history("SPY", 10)),
                     ("oi_change_heatmap", lambda: history.oi_change_grid(
                         fetch.oi_change("SPY", n=6).frame))):
        cold = []
        for _ in range(repeat):
            fetch.reset()
            fetch.chains("SPY", n=6)  # the live chains a page already holds
            t = time.perf_counter()
            fn()
            cold.append((time.perf_counter() - t) * 1000)
        warm = common.timed(fn, repeat)
        out[name] = {"cold_ms_median": sorted(cold)[len(cold) // 2], "warm": warm}
    out["sessions"] = days
    return out


def rss_child(mode: str, universe: list[str]) -> None:
    import psutil

    clock.pin(clock.session_open(DAY) + dt.timedelta(hours=1))
    for sym in universe:  # what the pages load: each symbol's nearest chain and levels
        e = fetch.expirations(sym)[0]
        fetch.chain(sym, e)
        fetch.key_levels(sym, e)
    base = psutil.Process().memory_info().rss
    if mode == "on":
        with tempfile.TemporaryDirectory() as root:
            rec = recorder.Recorder(recorder.Store(root), universe)
            for i in range(3):
                clock.advance(300)
                rec.record()
    elif mode == "fetch":  # the same chains and levels as "on", fetched but not written
        hard = fetch.settings().max_strikes_hard
        for i in range(3):
            clock.advance(300)
            for sym in universe:
                for e in recorder.select_expiries(fetch.expirations(sym), clock.today(),
                                                  config.settings().record_expiries):
                    fetch.chain(sym, e, strikes=hard)
                    fetch.key_levels(sym, e)
    import pyarrow as pa

    rss = psutil.Process().memory_info().rss
    budget = fetch.budget_stats()
    pool = pa.default_memory_pool()
    print(json.dumps({"mode": mode, "rss_mb": rss / 2**20, "rss_before_mb": base / 2**20,
                      "cache_mb": budget["bytes"] / 2**20, "arrow_pool": pool.backend_name,
                      "arrow_peak_mb": pool.max_memory() / 2**20,
                      "arrow_held_mb": pool.bytes_allocated() / 2**20}))


def rss(universe: list[str]) -> dict:
    out = {}
    for mode in ("off", "fetch", "on"):
        proc = subprocess.run([sys.executable, "-m", "bench.history_bench", "--rss-child", mode,
                               "--symbols", ",".join(universe)], capture_output=True, text=True,
                              check=True, cwd=recorder.ROOT)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["delta_mb"] = out["on"]["rss_mb"] - out["off"]["rss_mb"]
    out["recording_only_mb"] = out["on"]["rss_mb"] - out["fetch"]["rss_mb"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rss-child", choices=("on", "off", "fetch"))
    ap.add_argument("--symbols", default="")
    args = ap.parse_args()
    universe = recorder.default_universe()
    if args.rss_child:
        rss_child(args.rss_child, args.symbols.split(",") if args.symbols else universe)
        return
    if args.quick:
        universe = universe[:6]
    with tempfile.TemporaryDirectory() as tmp:
        cost = snapshot_cost(os.path.join(tmp, "cost"), universe, 2 if args.quick else 3)
        print("snapshot", cost, flush=True)
        day = bytes_per_day(os.path.join(tmp, "day"), ["SPY", "AAPL"] if not args.quick
                            else ["SPY"])
        print("day", day, flush=True)
        q = queries(os.path.join(tmp, "q"), 10 if not args.quick else 4, 5)
        print("queries", q, flush=True)
    clock.pin(None)
    memory = rss(universe)
    print("rss", memory, flush=True)
    path = common.write("history_quick" if args.quick else "history",
                        {"snapshot": cost, "day": day, "queries": q, "rss": memory,
                         "command": "python -m bench.history_bench" +
                                    (" --quick" if args.quick else "")})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
