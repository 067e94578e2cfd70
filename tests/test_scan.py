"""core.fetch.scan: one shared job per scan, progress, skips, timeouts, caching."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time


from core import clock, config, fetch


def nearest_oi(sym: str) -> int:
    c = fetch.chain(sym, fetch.expirations(sym)[0])
    return int(c.frame["open_interest"].sum())


def test_sessions_asking_for_the_same_scan_share_one_job(upstream):
    syms = ["AAPL", "MSFT", "NVDA", "SPY"]
    with cf.ThreadPoolExecutor(10) as pool:
        jobs = list(pool.map(lambda _: fetch.scan("oi", nearest_oi, syms), range(10)))
    assert all(j is jobs[0] for j in jobs)
    assert jobs[0].wait(20)
    assert [s for s, _ in jobs[0].ordered_results()] == syms
    assert jobs[0].progress == 1.0 and not jobs[0].skipped
    assert upstream.calls["chain"] == len(syms)  # one upstream call per symbol, not per session
    again = fetch.scan("oi", nearest_oi, syms)  # finished: served from the cache
    assert again is jobs[0] and again.done


def test_bad_symbols_are_skipped_with_a_reason(upstream):
    job = fetch.scan("oi", nearest_oi, ["AAPL", "ZZZZ", "not valid!", "MSFT"])
    assert job.wait(20)
    assert set(job.results) == {"AAPL", "MSFT"}
    assert "ZZZZ" in job.skipped and job.skipped["ZZZZ"]
    assert job.total == 3  # the invalid one never entered the scan


def test_a_slow_symbol_is_reported_skipped_and_does_not_hang_the_scan(upstream):
    release = threading.Event()

    def task(sym):
        if sym == "TSLA":
            release.wait(5)
            return "late"
        return sym.lower()

    start = time.monotonic()
    job = fetch.scan("slow", task, ["AAPL", "TSLA", "MSFT"], task_timeout=0.3)
    assert job.wait(3)
    release.set()
    assert time.monotonic() - start < 3
    assert job.results == {"AAPL": "aapl", "MSFT": "msft"}
    assert "timed out" in job.skipped["TSLA"]


def test_internal_errors_are_contained(upstream):
    def task(sym):
        if sym == "MSFT":
            raise ZeroDivisionError("bug")
        return 1

    job = fetch.scan("buggy", task, ["AAPL", "MSFT"])
    assert job.wait(5)
    assert job.results == {"AAPL": 1} and "internal error" in job.skipped["MSFT"]


def test_scan_list_is_capped_and_params_are_part_of_the_key(upstream):
    many = ["AAPL", "MSFT", "NVDA", "SPY", "QQQ", "IWM", "TSLA", "AMZN", "META", "GOOGL",
            "AMD", "NFLX", "CRM", "PLTR", "COIN", "SNOW", "CRWD", "APP", "DIA", "XOM", "JPM",
            "BAC", "GS", "V", "MA", "UNH", "JNJ", "PG", "WMT", "HD", "KO", "PEP"]
    job = fetch.scan("echo", lambda s, k=1: s, many, k=2)
    assert job.total == config.settings().max_watchlist
    other = fetch.scan("echo", lambda s, k=1: s, many, k=3)
    assert other is not job
    assert job.wait(5) and other.wait(5)


def test_stale_scan_is_served_while_one_refresh_runs(upstream):
    job = fetch.scan("oi", nearest_oi, ["AAPL"])
    assert job.wait(10)
    clock.advance(config.settings().ttl_chain_near * 2 + 1)
    served = fetch.scan("oi", nearest_oi, ["AAPL"])
    assert served is job  # old result at once
    deadline = time.monotonic() + 10
    while fetch.scan("oi", nearest_oi, ["AAPL"]) is job:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert fetch.scan("oi", nearest_oi, ["AAPL"]).done


def test_a_scan_with_no_results_is_retried_soon(upstream):
    from core.errors import Unavailable

    upstream.fail_with = Unavailable("down")
    failed = fetch.scan("oi", nearest_oi, ["AAPL", "MSFT"])
    assert failed.wait(10) and not failed.results and len(failed.skipped) == 2
    assert fetch.scan("oi", nearest_oi, ["AAPL", "MSFT"]) is failed  # not hammered at once
    upstream.fail_with = None
    clock.advance(11)
    retry = fetch.scan("oi", nearest_oi, ["AAPL", "MSFT"])
    assert retry is not failed
    assert retry.wait(10) and set(retry.results) == {"AAPL", "MSFT"}


def test_without_a_shared_cache_a_scan_is_the_one_process_job(upstream):
    assert fetch._get().shared is None
    job = fetch.scan("oi", nearest_oi, ["AAPL"])
    assert type(job) is fetch.ScanJob  # not a FleetScanJob: no Redis, no fleet lock
    assert job.wait(10) and not hasattr(job, "fleet_stored")
    assert fetch.scan_known("oi", ["AAPL"]) and not fetch.scan_known("oi", ["MSFT"])
