"""Shared-scan benchmark (issue 6): time and upstream calls of a 30-symbol Command Center scan,
cold and warm, and 10 concurrent sessions asking for the same scan.

    python -m bench.scan_bench            # full (also the Whale Flows and watchlist scans)
    python -m bench.scan_bench --quick    # the Command Center scan only

Writes bench/results/scan.json (``--quick``: scan_quick.json). Runs on the simulated market with
the clock pinned at 2026-11-20 11:30 ET (a Friday mid-session). Upstream calls = Σ
``upstream_calls`` of the ``quote``, ``chain``, ``history`` and ``expirations`` caches
(``core.memory.cache_stats()``).

Each Command Center symbol costs: quote, expiry list, nearest-expiry chain (levels via
``fetch.key_levels``, full chain), a year of daily bars, the Reg SHO short-volume record (the
simulated one is computed, not fetched). The simulated market is local (``remote = False``), so
its calls skip the process-wide rate limiter and a cold scan measures the CPU cost; the
``cold_remote_like`` run marks the same market remote, so every call waits for the limiter as a
Yahoo scan would (default 8 calls/s: about 120 / 8 = 15 s for 30 symbols).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import os
import threading
import time

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

from bench.common import write  # noqa: E402
from core import clock, config, fetch, memory, symbols  # noqa: E402
from core.analytics import command_center, dashboard, whale_flows  # noqa: E402
from core.providers.simulated import SimulatedProvider  # noqa: E402

PINNED = "2026-11-20 11:30"
UPSTREAM_CACHES = ("quote", "chain", "history", "expirations")
SESSIONS = 10
WATCHLIST = list(symbols.DEFAULT_WATCHLIST)
COMMAND = functools.partial(command_center.command_task, source=fetch)
WATCH = functools.partial(dashboard.watch_task, source=fetch)
WHALES = functools.partial(whale_flows.whale_task, source=fetch)


class RemoteLikeSimulated(SimulatedProvider):
    """The simulated market treated as a remote source: its calls pass the rate limiter."""

    remote = True


def upstream_calls() -> int:
    return sum(c["upstream_calls"] for c in memory.cache_stats() if c["name"] in UPSTREAM_CACHES)


def fresh_layer(provider_class=SimulatedProvider) -> None:
    """Empty fetch caches (the simulator's own market tables stay as they are)."""
    config.reload()
    fetch.reset(provider_class())


def run_scan(name, task, syms, **params) -> dict:
    """One session asking for a scan and waiting for it: wall time and upstream calls."""
    before = upstream_calls()
    start = time.perf_counter()
    job = fetch.scan(name, task, syms, **params)
    job.wait(600)
    return {"seconds": round(time.perf_counter() - start, 3),
            "upstream_calls": upstream_calls() - before, "symbols": job.total,
            "results": len(job.results), "skipped": dict(job.skipped),
            "limiter_waited_s": fetch.limiter_stats()["waited_s"]}


def concurrent_sessions(name, task, syms, sessions: int = SESSIONS) -> dict:
    """``sessions`` threads (like Streamlit sessions) ask for the same scan at the same moment."""
    before = upstream_calls()
    barrier = threading.Barrier(sessions)

    def session(_):
        barrier.wait()
        job = fetch.scan(name, task, syms)
        job.wait(600)
        return job

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(sessions) as pool:
        jobs = list(pool.map(session, range(sessions)))
    return {"sessions": sessions, "seconds": round(time.perf_counter() - start, 3),
            "upstream_calls": upstream_calls() - before,
            "distinct_jobs": len({id(j) for j in jobs}), "results": len(jobs[0].results)}


def bench_command() -> dict:
    out = {}
    fresh_layer()
    out["cold_first_in_process"] = run_scan("command", COMMAND, WATCHLIST)
    fresh_layer()
    out["cold"] = run_scan("command", COMMAND, WATCHLIST)
    out["warm_same_scan"] = run_scan("command", COMMAND, WATCHLIST)  # the cached result
    out["warm_data_new_scan"] = run_scan("command.rescan", COMMAND, WATCHLIST)  # rows rebuilt
    fresh_layer()
    out["concurrent_cold"] = concurrent_sessions("command", COMMAND, WATCHLIST)
    out["concurrent_equals_one_session"] = (out["concurrent_cold"]["upstream_calls"]
                                            == out["cold"]["upstream_calls"])
    fresh_layer(RemoteLikeSimulated)
    out["cold_remote_like"] = run_scan("command", COMMAND, WATCHLIST)
    fresh_layer()
    return out


def bench_others() -> dict:
    out = {}
    tech = symbols.group("tech")
    fresh_layer()
    out["whales_tech_2_expiries_cold"] = run_scan("whales", WHALES, tech, expiries=2)
    out["whales_tech_2_expiries_warm"] = run_scan("whales", WHALES, tech, expiries=2)
    fresh_layer()
    out["watchlist_table_cold"] = run_scan("trading.watchlist", WATCH, WATCHLIST)
    fresh_layer()
    run_scan("command", COMMAND, WATCHLIST)
    out["watchlist_after_command_scan"] = run_scan("trading.watchlist", WATCH, WATCHLIST)
    fresh_layer()
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the Command Center scan only")
    args = parser.parse_args(argv)
    clock.pin(PINNED, frozen=True)
    s = config.settings()
    payload = {"pinned_clock": PINNED, "watchlist": len(WATCHLIST),
               "settings": {"rate_per_sec": s.rate_per_sec, "workers": s.workers,
                            "upstream_timeout": s.upstream_timeout},
               "command_center": bench_command()}
    if not args.quick:
        payload["other_scans"] = bench_others()
    path = write("scan_quick" if args.quick else "scan", payload)
    cc = payload["command_center"]
    print(f"30-symbol Command Center scan: cold {cc['cold']['seconds']} s, "
          f"{cc['cold']['upstream_calls']} upstream calls; warm {cc['warm_same_scan']['seconds']} "
          f"s, {cc['warm_same_scan']['upstream_calls']} calls; rows rebuilt from warm data "
          f"{cc['warm_data_new_scan']['seconds']} s; cold through the 8/s limiter (as a remote "
          f"source) {cc['cold_remote_like']['seconds']} s")
    print(f"{SESSIONS} concurrent sessions: {cc['concurrent_cold']['upstream_calls']} upstream "
          f"calls ({cc['concurrent_cold']['distinct_jobs']} job) vs one session "
          f"{cc['cold']['upstream_calls']}: equal = {cc['concurrent_equals_one_session']}")
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
