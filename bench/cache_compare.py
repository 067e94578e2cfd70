"""Four ways to cache chains, side by side (issue 12): RSS over time, hit and miss cost, bytes.

    python -m bench.cache_compare            # every (symbol, expiry) of the universe, swept twice
    python -m bench.cache_compare --quick    # the first 400 keys, swept twice (make bench)

Each strategy runs in a fresh process (``--strategy NAME``), on the simulated market with the
clock pinned (no TTL runs out during a run: every strategy sees the same misses), after the
same imports (streamlit + core) and one warm-up chain:

``cache_data``       ``st.cache_data(ttl=300)`` on a loader (the unbounded pattern we replace)
``cache_data_50``    ``st.cache_data(ttl=300, max_entries=50)``
``cache_data_best``  Streamlit at its best: ``max_entries=368`` (our chain cap), ``max_size=
                     "128MB"`` (our default budget), ``refresh_mode="background"`` (SWR)
``ours``             ``core.fetch.chain(symbol, expiry, strikes=200)``, shipped settings
``ours_budget``      the same with ``OPTIONS_DASH_CACHE_MB`` (default 8) below the working set:
                     the byte budget, not the entry cap, bounds the caches
``ours_trace``       ``ours`` under tracemalloc (slow; no RSS figures): the bytes the budget
                     accounts vs what tracemalloc + pyarrow's pool + the frozen chains' pages
                     (``cache.mapped_bytes``) see freed when it is cleared
``cluster``          the fleet (issue 15): two worker processes of ours, each with the shared
                     Redis L2 (a real redis-server on a free loopback port, with a password,
                     started and stopped by the bench), both doing the same workload at the
                     same time: total RSS (both workers + redis-server, sampled together),
                     fleet upstream calls, L1 hits / L2 hits / upstream misses

The Streamlit loaders do exactly what our miss does (provider chain, greeks, the cache's
compact form, 200-strike cap) and return the same Chain; Streamlit pickles it on a miss and
unpickles a new copy on every hit.

Workloads, in order: (1) the cycling sweep: every key once, then every key again (more keys
than any cap: an LRU misses on every read); (2) the watchlist: 30 symbols x their first 4
expiries (120 keys) read 15 times over (mostly hits where the cap allows). RSS is sampled at
20 Hz by a thread and after every 20 reads. Per read: hit or miss (did the loader run?) and
wall time; per hit, the bytes tracemalloc sees allocated (on a sample of 30). ``sizeof`` vs a
pickle round trip of the same 50 chains is timed in the ``ours`` process.

Writes bench/results/cache_compare[_quick].json, .csv (RSS over time) and .png.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import logging
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

import psutil  # noqa: E402

from bench.common import RESULTS, write  # noqa: E402

PINNED = "2026-11-20 11:30"
MB = 2**20
STRATEGIES = ("cache_data", "cache_data_50", "cache_data_best", "ours", "ours_budget",
              "ours_trace", "cluster")
WORKERS = 2  # processes of the cluster strategy
REDIS_MB = 256  # the bench's redis-server maxmemory: holds every chain of the sweep
WATCH_ROUNDS = 15
HIT_TARGET = 5.0  # ours must be at least this many times cheaper per hit
BYTES_TOLERANCE = 0.10


# --- child: one strategy in this process -------------------------------------------------------

class _Sampler(threading.Thread):
    """RSS at 20 Hz (the peak between the explicit samples)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)


def _readers(strategy: str, budget_mb: float):
    """(read(symbol, expiry) -> Chain, loads() -> int, extra stats fn)."""
    from core import config, fetch
    from core.providers.simulated import SimulatedProvider

    loads = [0]

    class Counting(SimulatedProvider):
        def chain(self, symbol, expiry):
            loads[0] += 1
            return super().chain(symbol, expiry)

    provider = Counting()
    if strategy.startswith("ours") or strategy == "cluster_worker":
        if strategy == "ours_budget":
            os.environ["OPTIONS_DASH_CACHE_MB"] = f"{budget_mb:g}"
        config.reload()
        fetch.reset(provider)

        def read(sym, expiry):
            return fetch.chain(sym, expiry, strikes=200)

        def extra():
            from core import cache
            caches = {s["name"]: s for s in cache.stats()}
            return {"budget": fetch.budget_stats(), "chain_cache": caches["chain"],
                    "derived_cache": caches["derived"]}
        return read, lambda: loads[0], extra

    import streamlit as st
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    rate = config.settings().risk_free
    kwargs = {"cache_data": dict(ttl=300),
              "cache_data_50": dict(ttl=300, max_entries=50),
              "cache_data_best": dict(ttl=300, max_entries=368, max_size="128MB",
                                      refresh_mode="background")}[strategy]

    @st.cache_data(show_spinner=False, **kwargs)
    def load(sym, expiry):
        # the value our fetch.chain returns: priced, in the cache's compact form (categorical
        # type / iv_source: smaller pickles too), capped
        return fetch.cap_strikes(fetch.compact_chain(
            fetch.with_greeks(provider.chain(sym, expiry), rate)), 200)

    def extra():
        from streamlit.runtime.caching import get_data_cache_stats_provider
        families = get_data_cache_stats_provider().get_stats()
        return {"streamlit_accounted_bytes": sum(s.byte_length for stats in families.values()
                                                 for s in stats)}
    return load, lambda: loads[0], extra


def _keys(n: int) -> tuple[list, list]:
    from core import fetch, symbols
    universe = [(s, e) for s in symbols.universe() for e in fetch.expirations(s)]
    watch = [(s, e) for s in list(symbols.DEFAULT_WATCHLIST)[:30]
             for e in fetch.expirations(s)[:4]]
    return universe[:n], watch


def _allocated(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def child(strategy: str, n_keys: int, budget_mb: float, out: str) -> None:
    import pyarrow as pa
    import streamlit  # noqa: F401 - every strategy pays the same imports

    from core import cache, clock
    from core.schema import Chain

    trace = strategy == "ours_trace"
    worker = strategy == "cluster_worker"
    proc = psutil.Process()
    with clock.frozen(PINNED):
        read, loads, extra = _readers(strategy, budget_mb)
        sweep, watch = _keys(n_keys)
        # warm-up: one chain built and dropped (lazy imports, numpy/pandas first-use caches)
        from core import fetch
        from core.providers.simulated import SimulatedProvider
        warm = SimulatedProvider()
        fetch.cap_strikes(fetch.with_greeks(warm.chain(*sweep[-1]), 0.04), 200)
        del warm
        gc.collect()
        if trace:
            tracemalloc.start()
        if worker:  # both workers start the workload together
            _barrier(out)
        l1 = cache.REGISTRY.get("chain")
        base = proc.memory_info().rss
        sampler = _Sampler()
        sampler.start()
        samples, reads, kinds = [], [], []  # (phase, reads, t, rss); (phase, hit, ms); kind
        t0 = time.perf_counter()

        def one(phase, key):
            before, l1_misses = loads(), l1.misses if l1 is not None else 0
            t = time.perf_counter()
            read(*key)
            ms = (time.perf_counter() - t) * 1e3
            reads.append((phase, loads() == before, ms))
            if worker:  # an L1 miss that cost no upstream call was served by the L2
                kinds.append("upstream" if loads() != before else
                             "l2" if l1.misses != l1_misses else "l1")
            if len(reads) % 20 == 0:
                samples.append((phase, len(reads), round(time.perf_counter() - t0, 2),
                                proc.memory_info().rss))

        for _ in range(2):
            for key in sweep:
                one("sweep", key)
        after_sweep = proc.memory_info().rss
        for _ in range(WATCH_ROUNDS):
            for key in watch:
                one("watchlist", key)
        sampler.stop.set()
        sampler.join()
        gc.collect()
        end = proc.memory_info().rss
        alive = sum(1 for o in gc.get_objects() if isinstance(o, Chain))
        result = {"strategy": strategy, "keys": len(sweep), "watch_keys": len(watch),
                  "loads": loads(), "extra": extra(), "chains_alive_at_end": alive}
        if trace:
            accounted = fetch.budget_stats()["bytes"]
            traced, pooled = tracemalloc.get_traced_memory()[0], pa.total_allocated_bytes()
            mapped = cache.mapped_bytes()  # frozen chains' pages: not seen by tracemalloc
            cache.clear_all()
            gc.collect()
            freed = (traced - tracemalloc.get_traced_memory()[0]
                     + pooled - pa.total_allocated_bytes() + mapped - cache.mapped_bytes())
            tracemalloc.stop()
            result.update(accounted_bytes=accounted, measured_bytes=freed,
                          accounted_vs_measured=round(accounted / freed, 4))
        else:
            hot = watch[:30]
            for key in hot:
                read(*key)
            result["bytes_allocated_per_hit"] = statistics.median(
                _allocated(lambda k=k: read(*k)) for k in hot)
            result.update(rss_base=base, rss_peak=max(sampler.peak, *(s[3] for s in samples)),
                          rss_after_sweep=after_sweep, rss_end=end, samples=samples)
        if strategy == "ours":
            chains = [read(*k) for k in hot]
            result["sizeof_vs_pickle"] = _sizeof_vs_pickle(chains)
        for phase in ("sweep", "watchlist"):
            hits = [ms for p, hit, ms in reads if p == phase and hit]
            misses = [ms for p, hit, ms in reads if p == phase and not hit]
            result[phase] = {"reads": len(hits) + len(misses), "hits": len(hits),
                             "hit_median_ms": _median(hits), "hit_p95_ms": _p95(hits),
                             "miss_median_ms": _median(misses), "miss_p95_ms": _p95(misses)}
        if worker:
            result["reads"] = [(p, k, round(ms, 4)) for (p, _, ms), k in zip(reads, kinds)]
    with open(out, "w") as f:
        json.dump(result, f, default=str)


def _barrier(out: str, timeout: float = 120.0) -> None:
    """Mark this worker ready (``<out>.ready``) and wait until every worker of the run is."""
    open(out + ".ready", "w").close()
    stem = out.rsplit("_", 1)[0]
    deadline = time.monotonic() + timeout
    while sum(os.path.exists(f"{stem}_{i}.json.ready") for i in range(WORKERS)) < WORKERS:
        if time.monotonic() > deadline:
            raise RuntimeError("cluster workers did not all start")
        time.sleep(0.01)


def _sizeof_vs_pickle(chains) -> dict:
    from core import cache

    def per_chain(fn):
        t = time.perf_counter()
        for _ in range(5):
            for c in chains:
                fn(c)
        return (time.perf_counter() - t) * 1e3 / (5 * len(chains))

    size_ms = per_chain(cache.sizeof)
    pickle_ms = per_chain(lambda c: pickle.loads(pickle.dumps(c, pickle.HIGHEST_PROTOCOL)))
    return {"chains": len(chains), "sizeof_ms": round(size_ms, 4),
            "pickle_round_trip_ms": round(pickle_ms, 4), "ratio": round(size_ms / pickle_ms, 3)}


def _median(xs):
    return round(statistics.median(xs), 4) if xs else None


def _p95(xs):
    return round(sorted(xs)[min(len(xs) - 1, int(0.95 * len(xs)))], 4) if xs else None


# --- parent: run every strategy, compare -------------------------------------------------------

def run_cluster(n_keys: int, budget_mb: float) -> dict:
    """Two workers with the shared L2 on a real redis-server (password, loopback, free port),
    the same workload in both at the same time; RSS of the three processes sampled together
    (10 Hz) by this parent process."""
    import secrets
    import tempfile

    from cluster.services import Redis

    t = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cache_compare_redis_") as run_dir:
        redis = Redis(run_dir, password=secrets.token_hex(16), maxmemory_mb=REDIS_MB)
        redis.start()
        try:
            env = {**os.environ, "OPTIONS_DASH_PROVIDER": "simulated",
                   "OPTIONS_DASH_REDIS_URL": redis.url,
                   "OPTIONS_DASH_REDIS_PASSWORD": redis.password}
            outs = [str(RESULTS / f".cache_compare_cluster_{i}.json") for i in range(WORKERS)]
            procs = [subprocess.Popen(
                [sys.executable, "-m", "bench.cache_compare", "--strategy", "cluster_worker",
                 "--keys", str(n_keys), "--budget-mb", f"{budget_mb:g}", "--out", out],
                env={**env, "OPTIONS_DASH_REPLICA": f"w{i + 1}"}) for i, out in enumerate(outs)]
            watched = [psutil.Process(p.pid) for p in procs] + [psutil.Process(redis.pid)]
            samples, t0 = [], time.perf_counter()  # (t, rss of w1, w2, redis)
            while any(p.poll() is None for p in procs):
                try:
                    samples.append((round(time.perf_counter() - t0, 2),
                                    *(w.memory_info().rss for w in watched)))
                except psutil.NoSuchProcess:
                    pass
                time.sleep(0.1)
            if any(p.returncode for p in procs):
                raise RuntimeError(f"a cluster worker failed: {[p.returncode for p in procs]}")
            redis_end = watched[-1].memory_info().rss
            workers = [json.loads(open(out).read()) for out in outs]
            for out in outs:
                os.unlink(out)
                os.unlink(out + ".ready")
        finally:
            redis.stop()
    totals = [sum(s_[1:]) for s_ in samples]
    reads = [r for w in workers for r in w.pop("reads")]
    result = {"strategy": "cluster", "keys": workers[0]["keys"],
              "watch_keys": workers[0]["watch_keys"],
              "loads": sum(w["loads"] for w in workers),
              "loads_per_worker": [w["loads"] for w in workers],
              "chains_alive_at_end": sum(w["chains_alive_at_end"] for w in workers),
              "workers": workers, "extra": {}, "rss_samples": samples,
              "rss_base": sum(w["rss_base"] for w in workers) + samples[0][-1],
              "rss_peak": max(totals),
              "rss_end": sum(w["rss_end"] for w in workers) + redis_end,
              "rss_after_sweep": sum(w["rss_after_sweep"] for w in workers),
              "redis_rss_peak": max(s_[-1] for s_ in samples),
              "bytes_allocated_per_hit": statistics.median(
                  w["bytes_allocated_per_hit"] for w in workers),
              # the fleet's total RSS over time (CSV only: its x axis is time, not reads)
              "samples": [("fleet", "", t_, total) for (t_, *_), total in zip(samples, totals)],
              "seconds": round(time.monotonic() - t, 1)}
    for phase in ("sweep", "watchlist"):
        by = {k: [ms for p, k_, ms in reads if p == phase and k_ == k]
              for k in ("l1", "l2", "upstream")}
        hits = by["l1"] + by["l2"]
        result[phase] = {"reads": sum(map(len, by.values())), "hits": len(hits),
                         "hit_median_ms": _median(hits), "hit_p95_ms": _p95(hits),
                         "miss_median_ms": _median(by["upstream"]),
                         "miss_p95_ms": _p95(by["upstream"]),
                         **{f"{k}_reads": len(v) for k, v in by.items()},
                         **{f"{k}_median_ms": _median(v) for k, v in by.items()},
                         **{f"{k}_p95_ms": _p95(v) for k, v in by.items()}}
    print(f"  cluster: {result['seconds']} s", flush=True)
    return result


def run(strategy: str, n_keys: int, budget_mb: float) -> dict:
    if strategy == "cluster":
        return run_cluster(n_keys, budget_mb)
    out = RESULTS / f".cache_compare_{strategy}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bench.cache_compare", "--strategy", strategy,
           "--keys", str(n_keys), "--budget-mb", f"{budget_mb:g}", "--out", str(out)]
    t = time.monotonic()
    subprocess.run(cmd, check=True, env={**os.environ, "OPTIONS_DASH_PROVIDER": "simulated"})
    result = json.loads(out.read_text())
    out.unlink()
    result["seconds"] = round(time.monotonic() - t, 1)
    print(f"  {strategy}: {result['seconds']} s", flush=True)
    return result


def summarise(results: dict, budget_mb: float) -> dict:
    rows = {}
    for name, r in results.items():
        row = {"loads": r["loads"], "chains_alive_at_end": r["chains_alive_at_end"],
               "sweep": r["sweep"], "watchlist": r["watchlist"]}
        if "rss_base" in r:
            row.update(rss_base_mb=round(r["rss_base"] / MB, 1),
                       rss_peak_mb=round(r["rss_peak"] / MB, 1),
                       rss_after_sweep_mb=round(r["rss_after_sweep"] / MB, 1),
                       rss_end_mb=round(r["rss_end"] / MB, 1),
                       peak_over_base_mb=round((r["rss_peak"] - r["rss_base"]) / MB, 1),
                       bytes_allocated_per_hit=r["bytes_allocated_per_hit"])
        for k in ("accounted_bytes", "measured_bytes", "accounted_vs_measured",
                  "sizeof_vs_pickle"):
            if k in r:
                row[k] = r[k]
        ex = r.get("extra", {})
        if "budget" in ex:
            row["budget"] = ex["budget"]
            row["chain_cache"] = {k: ex["chain_cache"][k] for k in
                                  ("entries", "max_entries", "bytes", "views", "evictions",
                                   "evictions_by_reason")}
        if name == "cluster":
            row.update(workers=len(r["workers"]), loads_per_worker=r["loads_per_worker"],
                       redis_rss_peak_mb=round(r["redis_rss_peak"] / MB, 1),
                       worker_rss_peak_mb=[round(w["rss_peak"] / MB, 1) for w in r["workers"]],
                       worker_rss_base_mb=[round(w["rss_base"] / MB, 1) for w in r["workers"]])
        if "streamlit_accounted_bytes" in ex:
            row["streamlit_accounted_mb"] = round(ex["streamlit_accounted_bytes"] / MB, 2)
        rows[name] = row
    ours, best = rows.get("ours"), rows.get("cache_data_best")
    targets = {}
    if ours and best:
        targets["peak_rss_le_best_streamlit"] = ours["rss_peak_mb"] <= best["rss_peak_mb"]
        ratio = best["watchlist"]["hit_median_ms"] / ours["watchlist"]["hit_median_ms"]
        targets["hit_ratio_vs_best_streamlit"] = round(ratio, 1)
        targets["hits_at_least_5x_cheaper"] = ratio >= HIT_TARGET
    trace = rows.get("ours_trace")
    if trace:
        targets["accounted_within_10pct_of_measured"] = \
            abs(trace["accounted_vs_measured"] - 1) <= BYTES_TOLERANCE
    fleet = rows.get("cluster")
    if fleet and ours:  # two workers on one L2: the fleet calls upstream as one process does
        targets["cluster_upstream_calls_vs_one_process"] = [fleet["loads"], ours["loads"]]
    budget = rows.get("ours_budget")
    if budget:
        b = budget["budget"]
        targets["budget_evictions"] = b["evictions"]
        targets["budget_peak_over_base_mb"] = budget["peak_over_base_mb"]
        targets["budget_mb"] = budget_mb
    return {"strategies": rows, "targets": targets}


def _csv(results: dict, tag: str) -> str:
    path = RESULTS / f"cache_compare{tag}.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "phase", "reads", "t_s", "rss_mb"])
        for name, r in results.items():
            for phase, n, t, rss in r.get("samples", []):
                w.writerow([name, phase, n, t, round(rss / MB, 1)])
    return str(path)


def _plot(results: dict, summary: dict, tag: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for name, r in results.items():
        if not r.get("samples") or name == "cluster":
            continue
        xs = [n for _, n, _, _ in r["samples"]]
        ax.plot(xs, [rss / MB for *_, rss in r["samples"]], lw=1.3,
                label=f"{name} (peak {summary['strategies'][name]['rss_peak_mb']} MB)")
    first = next(r for n, r in results.items() if r.get("samples") and n != "cluster")
    ax.axvline(2 * first["keys"], color="grey", ls=":", lw=1)
    ax.text(2 * first["keys"], ax.get_ylim()[0], " watchlist", fontsize=8, va="bottom")
    ax.set_xlabel(f"reads (sweep: {first['keys']} keys x 2, then the watchlist)")
    ax.set_ylabel("RSS MB")
    ax.set_title("Chain caching strategies, each in a fresh process")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    from bench.sessions import _save
    return _save(fig, f"cache_compare{tag}.png")


def main(argv=None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keys", type=int, help="keys of the sweep (default: all, 400 quick)")
    parser.add_argument("--budget-mb", type=float, default=8.0)
    parser.add_argument("--only", nargs="*", choices=STRATEGIES)
    parser.add_argument("--strategy", choices=STRATEGIES + ("cluster_worker",),
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n_keys = args.keys or (400 if args.quick else 100_000)
    if args.strategy:
        child(args.strategy, n_keys, args.budget_mb, args.out)
        return None
    print(f"cache_compare: {'quick' if args.quick else 'full'}, budget run at "
          f"{args.budget_mb:g} MB", flush=True)
    from cluster.services import find_binary
    names = [n for n in args.only or STRATEGIES
             if n != "cluster" or find_binary("redis-server") is not None]
    if len(names) < len(args.only or STRATEGIES):
        print("  cluster: skipped (no redis-server on this machine)", flush=True)
    results = {name: run(name, n_keys, args.budget_mb) for name in names}
    summary = summarise(results, args.budget_mb)
    tag = "_quick" if args.quick else ""
    payload = {"command": "python -m bench.cache_compare" + (" --quick" if args.quick else ""),
               "quick": args.quick, "pinned_clock": PINNED, "watch_rounds": WATCH_ROUNDS,
               **summary, "files": [_csv(results, tag), _plot(results, summary, tag)]}
    path = write(f"cache_compare{tag}", payload)
    print(f"wrote {path}")
    for name, row in summary["strategies"].items():
        print(f"  {name}: peak {row.get('rss_peak_mb')} MB (base {row.get('rss_base_mb')}), "
              f"hit {row['watchlist']['hit_median_ms']} ms, miss {row['sweep']['miss_median_ms']}"
              f" ms, alive {row['chains_alive_at_end']}, per hit "
              f"{row.get('bytes_allocated_per_hit')} B")
    print(f"  targets: {summary['targets']}")
    return payload


if __name__ == "__main__":
    main()
