"""Foundation benchmarks (issue 2): cache churn, single-flight, cached read vs st.cache_data,
greeks for 100k contracts, one simulated chain, and the import cost of ``core``.

    python -m bench.core_bench            # full
    python -m bench.core_bench --quick    # fewer repetitions

Writes bench/results/core.json. Runs on the simulated market with a pinned clock.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import os
import subprocess
import sys
import tracemalloc

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

import numpy as np  # noqa: E402

from bench.common import timed, write  # noqa: E402
from core import cache, clock, config, fetch  # noqa: E402
from core.analytics import greeks  # noqa: E402
from core.providers.simulated import SimulatedProvider  # noqa: E402

PINNED = "2026-11-20 11:30"


class Counting(SimulatedProvider):
    calls = 0

    def chain(self, symbol, expiry):
        type(self).calls += 1
        return super().chain(symbol, expiry)


def bench_churn(keys: int = 1000, budget_mb: int = 16) -> dict:
    os.environ["OPTIONS_DASH_CACHE_MB"] = str(budget_mb)
    config.reload()
    fetch.reset(SimulatedProvider())
    pairs = [(s, e) for s in ["SPY", "QQQ", "IWM", "^SPX", "^NDX", "^RUT", "AAPL", "MSFT", "NVDA",
                              "TSLA", "AMZN", "META", "GOOGL", "AMD", "NFLX", "JPM", "XOM", "DIA",
                              "COIN", "PLTR", "CRM", "BAC", "GS", "V", "MA", "UNH", "WMT", "HD",
                              "PG", "JNJ", "KO", "PEP", "CVX", "AVGO", "ORCL", "MU", "INTC", "ADBE",
                              "CRWD", "SNOW", "APP", "SMCI", "MSTR", "LLY", "COST", "CAT", "DE",
                              "BA", "DIS", "T", "VZ", "MCD", "NKE", "C", "WFC", "MS", "MRK", "PFE",
                              "ABBV", "GME", "F", "IBM", "UBER", "SHOP"]
             for e in fetch.expirations(s)][:keys]
    max_bytes = max_entries = 0
    for sym, expiry in pairs:
        fetch.chain(sym, expiry)
        b = fetch.budget_stats()
        max_bytes = max(max_bytes, b["bytes"])
        max_entries = max(max_entries, next(s["entries"] for s in cache.stats()
                                            if s["name"] == "chain"))
    chain_stats = next(s for s in cache.stats() if s["name"] == "chain")
    os.environ.pop("OPTIONS_DASH_CACHE_MB")
    config.reload()
    return {"keys": len(pairs), "budget_bytes": budget_mb * 2**20, "max_bytes_seen": max_bytes,
            "chain_max_entries": chain_stats["max_entries"], "max_chain_entries_seen": max_entries,
            "evictions_by_reason": chain_stats["evictions_by_reason"]}


def bench_single_flight(threads: int = 50) -> dict:
    Counting.calls = 0
    fetch.reset(Counting())
    expiry = fetch.expirations("NVDA")[0]
    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: fetch.chain("NVDA", expiry), range(threads)))
    return {"threads": threads, "upstream_chain_calls": Counting.calls}


def bench_cached_read(repeat: int) -> dict:
    """Our cached read (shared frame) vs st.cache_data (pickle round trip per hit)."""
    import streamlit as st
    logging.getLogger("streamlit").setLevel(logging.ERROR)

    fetch.reset(SimulatedProvider())
    expiry = fetch.expirations("SPY")[0]
    full = fetch.chain("SPY", expiry, strikes=200)

    @st.cache_data(ttl=60, max_entries=100, show_spinner=False)
    def st_chain(symbol, exp):
        return full.frame

    st_chain("SPY", expiry)

    def ours():
        return fetch.chain("SPY", expiry, strikes=200).frame

    def allocated(fn) -> int:
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak

    ours_t, st_t = timed(ours, repeat), timed(lambda: st_chain("SPY", expiry), repeat)
    ours_b, st_b = allocated(ours), allocated(lambda: st_chain("SPY", expiry))
    frame_bytes = int(full.frame.memory_usage(deep=True).sum())
    return {"frame_rows": len(full.frame), "frame_bytes": frame_bytes,
            "ours": {**ours_t, "bytes_allocated_per_hit": ours_b},
            "st_cache_data": {**st_t, "bytes_allocated_per_hit": st_b},
            "time_ratio": round(st_t["median_ms"] / ours_t["median_ms"], 1),
            "bytes_ratio": round(st_b / max(ours_b, 1), 1)}


def bench_greeks(n: int = 100_000, repeat: int = 20) -> dict:
    rng = np.random.default_rng(0)
    S = 500.0
    K = rng.uniform(300, 700, n)
    T = rng.uniform(1 / 365, 2, n)
    iv = rng.uniform(0.1, 0.8, n)
    is_call = rng.random(n) < 0.5
    return {"contracts": n, **timed(lambda: greeks.greeks(S, K, T, 0.04, 0.012, iv, is_call),
                                    repeat)}


def bench_sim_chain(repeat: int = 200) -> dict:
    provider = SimulatedProvider()
    expiry = provider.expirations("SPY")[0]
    provider.chain("SPY", expiry)
    rows = len(provider.chain("SPY", expiry).frame)
    far = provider.expirations("SPY")[-1]
    return {"symbol": "SPY", "rows": rows,
            "nearest": timed(lambda: provider.chain("SPY", expiry), repeat),
            "farthest": timed(lambda: provider.chain("SPY", far), max(repeat // 4, 5)),
            "with_greeks": timed(lambda: fetch.with_greeks(provider.chain("SPY", expiry), 0.04),
                                 repeat)}


def bench_import_cost() -> dict:
    code = ("import psutil, os; p = psutil.Process(); a = p.memory_info().rss; "
            "import time; t = time.perf_counter(); "
            "from core import fetch, memory; from core.analytics import exposure, levels, flows; "
            "import core.clock as c; c.is_session(c.today()); "
            "b = p.memory_info().rss; print((b - a) / 2**20, time.perf_counter() - t, a / 2**20)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OPTIONS_DASH_PROVIDER": "simulated"})
    mb, seconds, base = (float(x) for x in out.stdout.split())
    return {"rss_added_mb": round(mb, 1), "seconds": round(seconds, 2),
            "interpreter_rss_mb": round(base, 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeat = 50 if args.quick else 300
    with clock.frozen(PINNED):
        result = {
            "churn": bench_churn(),
            "single_flight": bench_single_flight(),
            "cached_read": bench_cached_read(repeat),
            "greeks_100k": bench_greeks(repeat=5 if args.quick else 20),
            "simulated_chain": bench_sim_chain(repeat),
            "import_cost": bench_import_cost(),
        }
    path = write("core", result)
    print(f"wrote {path}")
    for name, value in result.items():
        print(f"{name}: {value}")
    return result


if __name__ == "__main__":
    main()
