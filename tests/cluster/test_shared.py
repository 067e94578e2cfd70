"""The shared L2 on a real redis-server: values come back equal, Redis's bounds and TTLs, and a
dead Redis degrades to L1 + upstream (then recovers by itself)."""

from __future__ import annotations

import dataclasses
import time

import pandas as pd
import pytest

from cluster import services
from core import clock, fetch, memory, shared
from core.errors import RateLimited
from core.schema import STRIKES_CAPPED
from tests.conftest import CountingProvider

pytestmark = pytest.mark.cluster  # real redis-server / haproxy / replicas


def _l2(fetch_layer=None) -> shared.L2:
    layer = fetch._get()
    assert layer.shared is not None, "OPTIONS_DASH_REDIS_URL did not reach the fetch layer"
    return layer.shared


def _keys(redis_server, cache_name: str) -> list[bytes]:
    c = redis_server.client()
    try:
        return list(c.scan_iter(match=f"{shared.PREFIX}{cache_name}:*".encode()))
    finally:
        c.close()


def _redis_entry(redis_server, cache_name, key):
    c = redis_server.client()
    try:
        blob = c.get(shared.key_text(cache_name, key))
        ttl_ms = c.pttl(shared.key_text(cache_name, key))
    finally:
        c.close()
    assert blob is not None, f"{cache_name} {key} not in Redis"
    return shared.unpack(blob), ttl_ms


def test_values_read_back_from_redis_equal_what_was_stored(l2_env):
    provider = CountingProvider()
    fetch.reset(provider)
    expiry = fetch.expirations("SPY")[0]
    chain = fetch.chain("SPY", expiry, strikes=fetch.settings().max_strikes_hard)
    quote = fetch.quote("SPY")
    bars = fetch.history("SPY", "1mo", "1d")

    (got_chain, stored, fresh), ttl_ms = _redis_entry(l2_env, "chain", ("SPY", expiry))
    # Redis holds the chain as loaded; a replica keeps what it reads in the compact form, as
    # the one that loaded it does (categorical type / iv_source): the same data either way
    pd.testing.assert_frame_equal(got_chain.frame, chain.frame, check_exact=True,
                                  check_dtype=False, check_categorical=False)
    kept = fetch.compact_chain(got_chain)
    pd.testing.assert_frame_equal(kept.frame, chain.frame, check_exact=True)
    assert dict(kept.frame.dtypes) == dict(chain.frame.dtypes)
    for f in dataclasses.fields(chain):
        if f.name != "frame":
            assert getattr(got_chain, f.name) == getattr(chain, f.name), f.name
    assert got_chain.as_of.tzinfo is not None and got_chain.as_of == chain.as_of
    assert fresh == fetch._chain_ttl(fetch._get(), expiry)
    # the Redis TTL is the hard max age
    assert 0 < ttl_ms <= fetch._get().caches["chain"].max_age * 1000

    (got_quote, _, _), _ = _redis_entry(l2_env, "quote", "SPY")
    assert got_quote == quote and got_quote.as_of.tzinfo is not None

    (got_bars, _, _), _ = _redis_entry(l2_env, "history", ("SPY", "1mo", "1d"))
    pd.testing.assert_frame_equal(got_bars, bars, check_exact=True, check_freq=False)
    assert str(got_bars.index.dtype) == str(bars.index.dtype)  # tz-aware ET index

    (listed, _, _), _ = _redis_entry(l2_env, "expirations", "SPY")
    assert tuple(listed) == tuple(fetch._get().caches["expirations"].peek("SPY"))


def test_flags_and_capped_views_survive_the_round_trip(l2_env):
    fetch.reset(CountingProvider())
    expiry = fetch.expirations("SPY")[0]
    full = fetch.chain("SPY", expiry, strikes=fetch.settings().max_strikes_hard)
    capped = dataclasses.replace(full, flags=full.flags | {STRIKES_CAPPED}, stale=True)
    blob = shared.pack(capped, clock.timer(), 60.0)
    back, _, fresh = shared.unpack(blob)
    assert back.flags == capped.flags and STRIKES_CAPPED in back.flags and back.stale is True
    assert fresh == 60.0


def test_what_the_codec_cannot_encode_is_not_shared(l2_env):
    fetch.reset(CountingProvider())
    l2 = _l2()
    store = fetch._get().caches["derived"]
    assert shared.encode_value(object()) is None
    assert shared.pack(lambda: 1, 0.0, 1.0) is None
    assert l2.store(store, "k", object(), 10.0) is False
    assert l2.status()["local"]["not_shared"] == 1
    assert _keys(l2_env, "derived") == []


def test_a_second_process_layer_reads_the_first_ones_values_without_an_upstream_call(l2_env):
    first = CountingProvider()
    fetch.reset(first)
    expiry = fetch.expirations("QQQ")[0]
    a = fetch.chain("QQQ", expiry)
    second = CountingProvider()  # a fresh layer: empty L1, same Redis (as another replica)
    fetch.reset(second)
    b = fetch.chain("QQQ", expiry)
    assert second.calls["chain"] == 0 and second.calls["expirations"] == 0
    pd.testing.assert_frame_equal(a.frame, b.frame)
    status = fetch.shared_status()
    assert status["available"] and status["local"]["hits"] >= 2 and status["keys"] >= 2


def test_a_chain_taken_from_another_replica_goes_on_this_replica_s_premium_tape(l2_env):
    from core import config

    fetch.reset(CountingProvider())
    expiry = fetch.expirations("QQQ")[0]
    hard = fetch.settings().max_strikes_hard
    fetch.chain("QQQ", expiry, strikes=hard)
    second = CountingProvider()  # another replica: empty L1, same Redis
    fetch.reset(second)
    taken = fetch.chain("QQQ", expiry, strikes=hard)
    assert second.calls["chain"] == 0
    tape = fetch._get().caches["premium_tape"].peek(("QQQ", expiry))
    assert tape is not None and tape.versions == 1 and tape.as_of == taken.as_of
    clock.advance(config.settings().ttl_chain_near + 1)  # the next version, loaded here
    fetch.chain("QQQ", expiry, strikes=hard)
    deadline = time.monotonic() + 10
    while fetch._get().caches["premium_tape"].peek(("QQQ", expiry)).versions < 2:
        assert time.monotonic() < deadline, "the refreshed version never reached the tape"
        time.sleep(0.02)
        fetch.chain("QQQ", expiry, strikes=hard)
    assert fetch.traded_premium(fetch.chain("QQQ", expiry, strikes=hard)).versions == 2


def test_redis_stopped_mid_run_serves_from_l1_and_upstream_then_recovers(l2_env, monkeypatch):
    provider = CountingProvider()
    fetch.reset(provider)
    expiries = fetch.expirations("SPY")
    fetch.chain("SPY", expiries[0])
    assert fetch.shared_status()["available"]
    assert memory.snapshot()["fleet"]["available"]

    l2_env.stop()  # Redis goes away mid-run
    cached = fetch.chain("SPY", expiries[0])  # L1 hit
    fresh_miss = fetch.chain("SPY", expiries[1])  # L1 miss: straight to the upstream
    assert cached.symbol == fresh_miss.symbol == "SPY"
    assert provider.calls[("chain", "SPY", expiries[1])] == 1
    status = memory.snapshot()["fleet"]
    assert status["available"] is False
    assert "Shared cache unavailable" in shared.status_text(status)
    # while it is down, further misses do not touch Redis (no timeout per read)
    l2 = _l2()
    errors = l2.status()["local"]["errors"]
    fetch.chain("SPY", expiries[2])
    assert l2.status()["local"]["errors"] == errors

    l2_env.start()  # Redis returns (same port, empty)
    services.wait_for(lambda: fetch.shared_status()["available"], 30, "L2 reconnects")
    fetch.chain("SPY", expiries[3])
    assert shared.key_text("chain", ("SPY", expiries[3])).encode() in _keys(l2_env, "chain")
    assert "Shared cache redis://" in shared.status_text(fetch.shared_status())


def test_fleet_rate_limit_and_shared_back_off(l2_env):
    fetch.reset(CountingProvider())
    l2 = _l2()
    lim = shared.FleetRateLimiter(l2, 3, max_wait=0.0)
    other = shared.FleetRateLimiter(l2, 3, max_wait=0.0)  # another replica's limiter
    passed = 0
    # start in the first half of a wall-clock second: the loop below takes milliseconds
    services.wait_for(lambda: time.time() % 1 < 0.5, 2, "the start of a second", 0.01)
    with pytest.raises(RateLimited):
        for _ in range(10):
            (lim if passed % 2 else other).acquire()
            passed += 1
    assert passed == 3  # 3 per second for the two limiters together, not 3 each
    lim.penalise()  # a rate limit seen by one replica pauses the other
    c = l2_env.client()
    assert c.pttl(shared.PREFIX + "backoff") > 0
    c.close()
    with pytest.raises(RateLimited, match="Too many requests"):
        other.acquire()


def test_one_recorder_for_the_fleet(l2_env):
    """Two replicas' recorders: the first to take the fleet lock records, the other skips
    until the holder stops renewing it."""
    fetch.reset(CountingProvider())
    assert fetch.fleet_lock("recorder", "replica-a", 0.3)
    assert not fetch.fleet_lock("recorder", "replica-b", 0.3)   # a holds it
    assert fetch.fleet_lock("recorder", "replica-a", 0.3)       # a renews it
    c = l2_env.client()
    services.wait_for(lambda: c.get(shared.PREFIX + "lock:recorder") is None, 5,
                      "the lock to expire", 0.02)
    c.close()
    assert fetch.fleet_lock("recorder", "replica-b", 0.3)       # a stopped: b takes over
    assert not fetch.fleet_lock("recorder", "replica-a", 0.3)


def test_redis_is_bounded_and_private(redis_server):
    c = redis_server.client()
    try:
        cfg = c.config_get("maxmemory*")
        assert int(cfg["maxmemory"]) == 64 * 1024 * 1024
        assert cfg["maxmemory-policy"] == "allkeys-lru"
        assert c.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        c.close()
    import redis

    anonymous = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("x")
    anonymous.close()


# --- two replicas' caches on one Redis (two BoundedCaches with their own L1, one L2 each) ----

def _replica_cache(redis_server, name="quote", fresh=10.0, max_age=100.0):
    import concurrent.futures as cf

    from core import cache

    l2 = shared.L2(redis_server.url, password=redis_server.password, replica=f"t-{name}")
    pool = cf.ThreadPoolExecutor(max_workers=2)
    c = cache.BoundedCache(name, max_entries=16, fresh_ttl=fresh, max_age=max_age,
                           budget=cache.ByteBudget(1 << 20), executor=pool)
    c.shared = l2
    return c, l2, pool


def test_a_cold_replica_serves_the_stale_copy_while_another_refreshes(redis_server):
    from core.errors import Unavailable

    a, l2a, pa_ = _replica_cache(redis_server)
    b, l2b, pb = _replica_cache(redis_server)
    calls = []
    a.get("SPY", lambda: calls.append("a") or {"px": 1.0})
    clock.advance(11)  # past the fresh TTL, inside the hard max age
    c = redis_server.client()
    c.set(shared.key_text("quote", "SPY") + ":lock", "another-replica", px=10_000)
    c.close()
    served = b.get("SPY", lambda: calls.append("b") or {"px": 2.0})
    assert served.value == {"px": 1.0} and served.age >= 11 and calls == ["a"]
    assert l2b.status()["local"]["stale_served"] == 1
    # the lock gone and the upstream down: the fleet's stale copy, flagged stale
    c = redis_server.client()
    c.delete(shared.key_text("quote", "SPY") + ":lock")
    c.close()
    d, l2d, pd_ = _replica_cache(redis_server)

    def down():
        calls.append("d")
        raise Unavailable("down")
    served = d.get("SPY", down)
    assert served.value == {"px": 1.0} and served.stale is True and calls == ["a", "d"]
    for pool, l2 in ((pa_, l2a), (pb, l2b), (pd_, l2d)):
        pool.shutdown(wait=True)
        l2.close()


def test_a_refresh_takes_the_value_another_replica_just_wrote(redis_server):
    a, l2a, pa_ = _replica_cache(redis_server)
    b, l2b, pb = _replica_cache(redis_server)
    calls = []
    a.get("QQQ", lambda: calls.append("a1") or 1)
    clock.advance(11)
    assert b.get("QQQ", lambda: calls.append("b") or 2).value == 2  # b refreshed the fleet's
    assert a.get("QQQ", lambda: calls.append("a2") or 3).value == 1  # stale: refresh starts
    services.wait_for(lambda: a.lookup("QQQ").value == 2, 10, "a's L1 has b's value")
    assert calls == ["a1", "b"]  # a's refresh came from Redis, not the upstream
    assert a.stats()["upstream_calls"] == 1 and b.stats()["upstream_calls"] == 1
    for pool, l2 in ((pa_, l2a), (pb, l2b)):
        pool.shutdown(wait=True)
        l2.close()
