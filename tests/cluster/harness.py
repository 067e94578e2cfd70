"""A replica without a web server: a child process with its own fetch layer (own L1) on the
shared Redis, whose threads all ask for the same cold keys at once (spawned, so nothing is
inherited from the parent's layer)."""

from __future__ import annotations

import hashlib
import os
import threading


def cold_misses(url: str, password: str, at: str, threads: int, barrier, out, delay: float):
    os.environ.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_REDIS_URL=url,
                      OPTIONS_DASH_REDIS_PASSWORD=password)
    from core import clock, config, fetch
    from tests.conftest import CountingProvider

    config.reload()
    with clock.frozen(at):
        provider = CountingProvider()
        provider.delay = delay  # the upstream takes a while: every other caller arrives meanwhile
        fetch.reset(provider)
        digests, errors = [], []

        def one():
            try:
                barrier.wait(240)  # both processes ready (imports take a while on a busy box)
                expiry = fetch.expirations("SPY")[0]
                c = fetch.chain("SPY", expiry)
                digests.append(hashlib.sha1(c.frame.to_csv().encode()).hexdigest())
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(repr(exc))

        workers = [threading.Thread(target=one) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        out.put({"pid": os.getpid(), "chain": provider.calls["chain"],
                 "expirations": provider.calls["expirations"], "digests": digests,
                 "errors": errors, "l2": fetch.shared_status()["local"]})
        fetch.reset()


# --- fleet scans: a task gated by the test through Redis, and a replica process running it ---

SCAN_SYMBOLS = ["AAPL", "MSFT", "NVDA"]


def _redis():
    import redis

    return redis.Redis.from_url(os.environ["OPTIONS_DASH_REDIS_URL"],
                                password=os.environ.get("OPTIONS_DASH_REDIS_PASSWORD"),
                                socket_timeout=5)


def gated_task(sym: str) -> dict:
    """A scan's per-symbol task: counts its runs fleet-wide (``test:calls:<sym>`` in Redis),
    waits until the test opens its gate (``test:go:<sym>``), returns values the codec must
    carry (a tz-aware time, a date, a frame with a tz-aware index, an analytics NamedTuple)
    and the pid of the process that ran it."""
    import time

    import pandas as pd

    from core import clock
    from core.analytics.dashboard import MacdSignal

    r = _redis()
    try:
        r.incr(f"test:calls:{sym}")
        while not r.exists(f"test:go:{sym}"):  # a state the test sets, not a duration
            time.sleep(0.02)
    finally:
        r.close()
    now = clock.now()
    bars = pd.DataFrame({"close": [1.5, 2.5], "volume": [10, 20], "up": [True, False]},
                        index=pd.DatetimeIndex([now, now], name="time"))
    return {"symbol": sym, "pid": os.getpid(), "at": now, "day": now.date(), "bars": bars,
            "macd": MacdSignal("above", None, 3)}


def scan_replica(url: str, password: str, at: str, lock_s: float, out, stop):
    """A replica: its own fetch layer on the shared Redis asks for the gated scan, reports
    ("started", following), each new completed count, then ("done", results, skipped)."""
    os.environ.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_REDIS_URL=url,
                      OPTIONS_DASH_REDIS_PASSWORD=password)
    from core import clock, config, fetch, shared
    from tests.conftest import CountingProvider

    config.reload()
    shared.SCAN_LOCK_S = lock_s
    with clock.frozen(at):
        fetch.reset(CountingProvider())
        job = fetch.scan("gated", gated_task, SCAN_SYMBOLS, task_timeout=300)
        out.put(("started", getattr(job, "following", None), os.getpid()))
        seen = -1
        while not job.done and not stop.is_set():
            if job.completed != seen:
                seen = job.completed
                out.put(("progress", seen))
            job.wait(0.05)
        if job.done:
            out.put(("done", job.results, job.skipped, getattr(job, "led", None)))
        fetch.reset()
