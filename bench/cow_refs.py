"""What reading cached chains leaves behind in pandas' copy-on-write lists, and what the memory
governor's sweep (``core.cache.sweep_all``) gives back (issue 12: the caches hold what they
count, and no more).

    python -m bench.cow_refs

Every column read of a pandas 3 frame appends a weakref to its block's reference list and to its
index's; pandas drops the dead ones only when a list passes 500 entries. On the simulated market
(clock pinned), the 30 default-watchlist symbols' nearest chains are cached, then ``--sessions``
"sessions" each compute what a page computes from them (key levels, GEX by strike, volume by
strike: the same functions the pages call, on the cached chain) — the result of each read is
dropped, as a page run's is. tracemalloc measures what is still held after the reads and after
one ``sweep_all``. Writes bench/results/cow_refs.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

from bench.common import write  # noqa: E402

PINNED = "2026-11-20 11:30"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args(argv)
    from core import cache, clock, fetch, symbols
    from core.analytics import exposure, levels

    with clock.frozen(PINNED):
        fetch.reset()
        syms = list(symbols.DEFAULT_WATCHLIST)[:30]
        keys = [(s, fetch.expirations(s)[0]) for s in syms]
        for s, e in keys:  # loaded, then read again: live and shared (frozen until then)
            fetch.chain(s, e, strikes=200)
        chains = [fetch.chain(s, e, strikes=200) for s, e in keys]
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        for _ in range(args.sessions):
            for c in chains:
                levels.key_levels(c.frame, c.spot, c.t_years, c.rate, c.div_yield)
                exposure.gex_by_strike(c.frame, c.spot)
                levels.by_strike(c.frame)
        reads_s = time.perf_counter() - t0
        gc.collect()
        after_reads = tracemalloc.get_traced_memory()[0]
        t1 = time.perf_counter()
        swept = cache.sweep_all()
        sweep_ms = (time.perf_counter() - t1) * 1e3
        gc.collect()
        after_sweep = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        accounted = fetch.budget_stats()["bytes"]
    result = {"sessions": args.sessions, "chains": len(chains), "reads_s": round(reads_s, 2),
              "held_after_reads_mb": round(after_reads / 2**20, 2),
              "held_after_sweep_mb": round(after_sweep / 2**20, 2),
              "freed_by_sweep_mb": round((after_reads - after_sweep) / 2**20, 2),
              "per_chain_kb": round((after_reads - after_sweep) / len(chains) / 1024, 1),
              "accounted_cache_mb": round(accounted / 2**20, 2),
              "values_swept": swept, "sweep_ms": round(sweep_ms, 2)}
    print(result)
    write("cow_refs", result)
    return result


if __name__ == "__main__":
    main()
