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
