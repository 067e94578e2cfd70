"""core.cache: bounds (entries, bytes, age), single-flight, stale-while-revalidate, metrics."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import numpy as np
import pandas as pd
import pytest

from core import cache
from core.errors import SymbolNotFound, Unavailable


class FakeTimer:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def timer():
    return FakeTimer()


def make(name="c", *, entries=10, ttl=10.0, max_age=100.0, budget_bytes=10_000_000,
         timer=None, executor=None):
    budget = cache.ByteBudget(budget_bytes)
    return cache.BoundedCache(name, max_entries=entries, fresh_ttl=ttl, max_age=max_age,
                              budget=budget, executor=executor, timer=timer or FakeTimer()), budget


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype="float64"), "s": [f"c{i}" for i in range(rows)]})


def test_sizeof_counts_dataframe_deep_bytes():
    f = frame(100)
    assert cache.sizeof(f) == f.memory_usage(deep=True, index=True).sum()
    assert cache.sizeof([f, f]) > 2 * cache.sizeof(f)


def test_hit_returns_the_same_shared_object_without_calling_loader(timer):
    c, _ = make(timer=timer)
    value = frame(3)
    calls = []
    first = c.get("k", lambda: calls.append(1) or value)
    second = c.get("k", lambda: calls.append(1) or frame(3))
    assert first.value is value and second.value is value
    assert calls == [1]
    s = c.stats()
    assert (s["hits"], s["misses"], s["upstream_calls"], s["entries"]) == (1, 1, 1, 1)


def test_entry_cap_holds_and_counts_capacity_evictions(timer):
    c, budget = make(entries=5, timer=timer)
    for i in range(50):
        c.get(i, lambda i=i: i)
    s = c.stats()
    assert s["entries"] == 5
    assert s["evictions_by_reason"]["capacity"] == 45
    assert len(budget) == 5  # the budget forgets what the cache dropped


def test_hard_max_age_drops_entries(timer):
    c, budget = make(ttl=10, max_age=100, timer=timer)
    c.get("k", lambda: frame(10))
    timer.t += 101
    assert c.peek("k") is None
    s = c.stats()
    assert s["entries"] == 0 and s["bytes"] == 0
    assert s["evictions_by_reason"]["expired"] == 1
    assert budget.currsize == 0


def test_global_byte_budget_evicts_lru_across_caches(timer):
    budget = cache.ByteBudget(cache.sizeof(frame(1000)) * 3 + 100)
    a = cache.BoundedCache("a", max_entries=100, fresh_ttl=10, max_age=100, budget=budget,
                           timer=timer)
    b = cache.BoundedCache("b", max_entries=100, fresh_ttl=10, max_age=100, budget=budget,
                           timer=timer)
    a.get(1, lambda: frame(1000))
    b.get(1, lambda: frame(1000))
    a.get(2, lambda: frame(1000))
    a.get(1, lambda: pytest.fail("a/1 is cached"))  # touch a/1: b/1 is now least recent
    b.get(2, lambda: frame(1000))  # over budget: evicts b/1, the LRU of *any* cache
    assert a.peek(1) is not None and a.peek(2) is not None and b.peek(2) is not None
    assert b.peek(1) is None
    assert b.stats()["evictions_by_reason"]["budget"] == 1
    assert budget.currsize <= budget.maxsize
    assert budget.currsize == a.stats()["bytes"] + b.stats()["bytes"]


def test_value_larger_than_budget_is_served_not_kept(timer):
    c, budget = make(budget_bytes=1000, timer=timer)
    big = frame(1000)
    served = c.get("big", lambda: big)
    assert served.value is big
    assert c.peek("big") is None and budget.currsize == 0
    assert c.stats()["evictions_by_reason"]["too_large"] == 1


def test_churn_of_1000_keys_stays_within_entries_and_bytes(timer):
    one = cache.sizeof(frame(200))
    budget = cache.ByteBudget(one * 20)
    caches = [cache.BoundedCache(f"churn{i}", max_entries=15, fresh_ttl=10, max_age=100,
                                 budget=budget, timer=timer) for i in range(3)]
    for k in range(1000):
        c = caches[k % 3]
        c.get(k, lambda: frame(200))
        assert len(c) <= 15
        assert budget.currsize <= budget.maxsize
        assert sum(x.stats()["bytes"] for x in caches) == budget.currsize
    assert sum(x.stats()["evictions"] for x in caches) >= 1000 - 20


def test_single_flight_50_threads_one_upstream_call():
    c, _ = make(timer=time.monotonic)
    calls = []
    gate = threading.Event()

    def loader():
        calls.append(1)
        gate.wait(2)
        return frame(5)

    with cf.ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(c.get, "cold", loader) for _ in range(50)]
        time.sleep(0.2)  # let every thread arrive while the one load is blocked
        gate.set()
        values = [f.result().value for f in futures]
    assert len(calls) == 1
    assert all(v is values[0] for v in values)
    s = c.stats()
    assert s["misses"] == 1 and s["joins"] + s["hits"] == 49


def test_single_flight_shares_the_failure_too():
    c, _ = make(timer=time.monotonic)
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.2)
        raise Unavailable("down")

    with cf.ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(c.get, "k", loader) for _ in range(20)]
        errors = [f.exception() for f in futures]
    assert len(calls) == 1
    assert all(isinstance(e, Unavailable) for e in errors)
    assert c.peek("k") is None  # failures are not cached here


def test_stale_while_revalidate_serves_at_once_and_refreshes_once(timer):
    with cf.ThreadPoolExecutor(2) as pool:
        c, _ = make(ttl=10, max_age=100, timer=timer, executor=pool)
        c.get("k", lambda: "v1")
        timer.t += 11
        gate = threading.Event()
        calls = []

        def slow_loader():
            calls.append(1)
            gate.wait(2)
            return "v2"

        served = [c.get("k", slow_loader) for _ in range(5)]
        assert [s.value for s in served] == ["v1"] * 5  # stale value at once, no waiting
        assert not any(s.stale for s in served)  # old, but not a failure
        gate.set()
    assert calls == [1]  # one background refresh, not five
    assert c.get("k", lambda: "v3").value == "v2"
    assert c.stats()["refreshes"] == 1


def test_upstream_failure_serves_stale_flagged(timer):
    with cf.ThreadPoolExecutor(1) as pool:
        c, _ = make(ttl=10, max_age=100, timer=timer, executor=pool)
        c.get("k", lambda: "good")
        timer.t += 20

        def failing():
            raise Unavailable("network down")

        assert c.get("k", failing).value == "good"  # triggers the refresh
    served = c.get("k", failing)  # the refresh failed: still served, now flagged
    assert served.value == "good" and served.stale is True
    assert c.stats()["errors"] == 1
    timer.t += 100  # past the hard max age: dropped, and the failure now surfaces
    with pytest.raises(Unavailable):
        c.get("k", failing)


def test_non_upstream_errors_propagate_and_are_not_cached(timer):
    c, _ = make(timer=timer)
    with pytest.raises(SymbolNotFound):
        c.get("k", lambda: (_ for _ in ()).throw(SymbolNotFound("nope")))
    assert c.get("k", lambda: 42).value == 42


def test_clear_empties_and_counts(timer):
    c, budget = make(timer=timer)
    for i in range(3):
        c.get(i, lambda: frame(10))
    c.clear()
    assert len(c) == 0 and budget.currsize == 0
    assert c.stats()["evictions_by_reason"]["cleared"] == 3


def test_rate_limiter_spaces_calls_and_backs_off():
    limiter = cache.RateLimiter(50, burst=1, max_wait=1.0)
    start = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    assert time.monotonic() - start >= 5 / 50 * 0.9  # 5 refills at 50/s
    limiter = cache.RateLimiter(100, max_wait=0.1, base_backoff=5)
    assert limiter.penalise() == 5
    from core.errors import RateLimited
    with pytest.raises(RateLimited):
        limiter.acquire()  # blocked for 5 s, more than max_wait
    assert limiter.penalise() == 10  # doubles
    limiter.reward()
    assert limiter.stats()["backoff_level"] == 0
