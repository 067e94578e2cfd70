"""Fleet-wide single-flight: 20 concurrent cold misses in two processes sharing one Redis make
ONE provider call per key."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from tests.cluster import harness
from tests.conftest import TRADING_DAY

pytestmark = pytest.mark.cluster  # real redis-server / haproxy / replicas


def test_twenty_cold_misses_across_two_processes_make_one_provider_call(redis_server):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(20)
    out = ctx.Queue()
    procs = [ctx.Process(target=harness.cold_misses,
                         args=(redis_server.url, redis_server.password, TRADING_DAY, 10,
                               barrier, out, 0.5)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=360) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert [r["errors"] for r in results] == [[], []]
    assert sum(len(r["digests"]) for r in results) == 20
    assert sum(r["expirations"] for r in results) == 1, results
    assert sum(r["chain"] for r in results) == 1, results
    # every caller got the same chain, whichever process loaded it
    assert len({d for r in results for d in r["digests"]}) == 1
    # two upstream calls in the whole fleet (the list, the chain); the rest came from Redis
    assert sum(r["l2"]["upstream_calls"] for r in results) == 2
