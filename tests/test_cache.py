"""core.cache: bounds (entries, bytes, age), single-flight, stale-while-revalidate, metrics."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import gc
import pickle
import sys
import threading
import time
import tracemalloc
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core import cache
from core.schema import CATEGORIES
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


def _freed_when_dropped(make, *alive) -> tuple[int, int]:
    """(sizeof, bytes freed) for the value ``make()`` builds: what tracemalloc (Python objects
    and numpy buffers) and pyarrow's memory pool (Arrow buffers) see released when the last
    reference to it goes. ``alive``: values it may share with, kept alive and excluded."""
    make()  # first call: lazy imports and pandas' one-off caches are not the value's
    value = make()
    counted = cache.sizeof(value, exclude=alive)
    gc.collect()
    traced, pooled = tracemalloc.get_traced_memory()[0], pa.total_allocated_bytes()
    del value
    gc.collect()
    return counted, (traced - tracemalloc.get_traced_memory()[0]
                     + pooled - pa.total_allocated_bytes())


@pytest.fixture
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def _chain(symbol, which):
    from core import fetch
    from core.providers.simulated import SimulatedProvider

    provider = SimulatedProvider()
    expiry = provider.expirations(symbol)[which]
    return fetch.with_greeks(provider.chain(symbol, expiry), 0.04)


@pytest.mark.parametrize("symbol, which", [("SPY", 0), ("^SPX", 0), ("F", 0), ("AAPL", -1)])
def test_sizeof_of_a_chain_is_what_its_release_frees(traced, symbol, which):
    """numpy blocks, the Arrow-backed string columns, the frame's structure, the metadata."""
    counted, freed = _freed_when_dropped(lambda: _chain(symbol, which))
    assert freed > 20_000  # a real chain, not an empty measurement
    assert abs(counted - freed) <= 0.10 * freed, (counted, freed)


def test_sizeof_of_other_values_is_what_their_release_frees(traced):
    cases = {
        "arrow strings": lambda: frame(2000),
        "object strings": lambda: frame(2000).astype({"s": object}),
        "a label lookup's engine": lambda: (f := frame(500), f["x"])[0],
        "containers of frames": lambda: {"a": [frame(300), frame(100)], "b": (np.ones(5000),)},
    }
    for name, make in cases.items():
        counted, freed = _freed_when_dropped(make)
        assert abs(counted - freed) <= 0.10 * freed, (name, counted, freed)


def test_sizeof_of_a_capped_view_counts_only_what_it_does_not_share(traced):
    from core import fetch

    full = _chain("SPY", 0)
    counted, freed = _freed_when_dropped(lambda: fetch.cap_strikes(full, 20), full)
    assert abs(counted - freed) <= 0.10 * freed, (counted, freed)
    assert counted < 0.6 * cache.sizeof(full)


def test_sizeof_counts_shared_objects_and_buffers_once():
    f = frame(1000)
    data_only = f.memory_usage(deep=True, index=True).sum()
    alone = cache.sizeof(f)
    assert alone > data_only  # the frame's structure counts too
    assert cache.sizeof([f, f]) == alone + sys.getsizeof([f, f])  # one frame, two pointers
    base = np.zeros(100_000)
    views = [base[:10], base[10:20], base]
    assert cache.sizeof(views) < base.nbytes + 1_000  # three arrays, one buffer
    assert cache.sizeof(base[:10], exclude=[base]) < 200  # its buffer is the base's
    strings = pa.array([f"s{i}" for i in range(10_000)])
    assert cache.sizeof([strings, strings.slice(0, 10)]) < 1.1 * strings.nbytes + 1_000


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


def _wait_for(predicate, timeout: float = 10.0) -> None:
    """Wait for a state the cache exposes (never for timing luck)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "state not reached"
        time.sleep(0.005)


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
        _wait_for(lambda: c.stats()["joins"] == 49)  # the state: one loading, 49 waiting on it
        gate.set()
        values = [f.result().value for f in futures]
    assert len(calls) == 1
    assert all(v is values[0] for v in values)
    s = c.stats()
    assert s["misses"] == 1 and s["joins"] == 49


def test_single_flight_shares_the_failure_too():
    c, _ = make(timer=time.monotonic)
    calls = []

    def loader():
        calls.append(1)
        _wait_for(lambda: c.stats()["joins"] == 19)  # every other reader waits on this load
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


# --- views: values derived from an entry live on it -------------------------------------------

def test_a_view_lives_on_its_entry_counted_in_its_bytes(timer):
    c, budget = make(timer=timer)
    value = frame(1000)
    c.get("k", lambda: value)
    before = c.stats()["bytes"]
    calls = []

    def head(f):
        calls.append(1)
        return f.head(10).copy()

    first = c.view("k", value, "head", head)
    assert c.view("k", value, "head", head) is first and calls == [1]
    s = c.stats()
    assert s["entries"] == 1 and s["views"] == 1 and (s["view_hits"], s["view_misses"]) == (1, 1)
    # the value is measured again with its view (reading a frame adds a little pandas
    # bookkeeping to it), the view without what it shares with the value
    extra = cache.sizeof(first, exclude=[value])
    assert s["bytes"] == pytest.approx(cache.sizeof(value) + extra, rel=0.02)
    assert s["bytes"] >= before + extra and budget.currsize == s["bytes"]


def test_a_view_that_is_its_value_costs_nothing(timer):
    c, budget = make(timer=timer)
    value = frame(100)
    c.get("k", lambda: value)
    before = c.stats()["bytes"]
    assert c.view("k", value, "same", lambda f: f) is value
    s = c.stats()
    assert s["views"] == 1 and s["bytes"] == budget.currsize
    assert s["bytes"] == pytest.approx(before, rel=0.02)  # the value, measured again; no copy


@pytest.mark.parametrize("how", ["capacity", "expired", "budget", "refreshed", "cleared"])
def test_a_view_dies_with_its_entry(timer, how):
    budget = cache.ByteBudget(cache.sizeof(frame(1000)) * 3)
    c = cache.BoundedCache("v", max_entries=2, fresh_ttl=10, max_age=100, budget=budget,
                           timer=timer)
    value = frame(1000)
    c.get("k", lambda: value)
    alive = weakref.ref(c.view("k", value, "head", lambda f: f.head(10).copy()))
    source = weakref.ref(value)
    del value
    if how == "capacity":
        c.get(1, lambda: frame(10))
        c.get(2, lambda: frame(10))
    elif how == "expired":
        timer.t += 101
        len(c)
    elif how == "budget":
        other = cache.BoundedCache("w", max_entries=9, fresh_ttl=10, max_age=100, budget=budget,
                                   timer=timer)
        for i in range(3):
            other.get(i, lambda: frame(1000))
    elif how == "refreshed":
        c.put("k", frame(1000))
    else:
        c.clear()
    gc.collect()
    assert alive() is None and source() is None  # nothing keeps the old value alive
    assert c.stats()["views"] == 0
    assert budget.currsize == sum(x.stats()["bytes"] for x in cache.REGISTRY.values()
                                  if x._budget is budget)


def test_a_view_of_a_superseded_value_is_served_not_kept(timer):
    c, _ = make(timer=timer)
    old = frame(100)
    c.get("k", lambda: old)
    c.put("k", frame(100))  # refreshed: the entry no longer holds ``old``
    before = c.stats()["bytes"]
    view = c.view("k", old, "head", lambda f: f.head(3))
    assert len(view) == 3 and c.stats()["views"] == 0 and c.stats()["bytes"] == before


def test_views_per_entry_are_capped_and_their_bytes_returned(timer):
    c, budget = make(timer=timer)
    value = frame(1000)
    c.get("k", lambda: value)
    base = c.stats()["bytes"]
    for n in range(cache.MAX_VIEWS + 5):
        c.view("k", value, ("head", n), lambda f, n=n: f.head(n + 1).copy())
    s = c.stats()
    assert s["views"] == cache.MAX_VIEWS
    views = c._store["k"].views
    assert s["bytes"] == pytest.approx(
        cache.sizeof(value) + sum(cache.sizeof(v.value, exclude=[value]) for v in views.values()),
        rel=0.02)
    assert s["bytes"] > base and s["bytes"] == budget.currsize


def test_a_view_too_large_for_the_budget_is_served_not_kept(timer):
    c, budget = make(budget_bytes=cache.sizeof(frame(100)) * 3, timer=timer)
    value = frame(100)
    c.get("k", lambda: value)
    big = c.view("k", value, "big", lambda f: frame(5000))
    assert len(big) == 5000 and c.stats()["views"] == 0
    assert c.stats()["evictions_by_reason"]["too_large"] == 1
    assert c.peek("k") is value and budget.currsize == c.stats()["bytes"]


def test_a_view_is_computed_once_for_concurrent_callers(timer):
    c, _ = make(timer=timer)
    value = frame(100)
    c.get("k", lambda: value)
    calls = []
    gate = threading.Event()

    def slow(f):
        calls.append(1)
        gate.wait(2)
        return f.head(5).copy()

    with cf.ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(c.view, "k", value, "head", slow) for _ in range(20)]
        deadline = time.monotonic() + 10
        while c.stats()["view_joins"] < 19 and time.monotonic() < deadline:
            time.sleep(0.01)  # wait for the state: one computing, 19 waiting on it
        gate.set()
        views = [f.result() for f in futures]
    assert c.stats()["view_joins"] == 19
    assert len(calls) == 1 and all(v is views[0] for v in views)


# --- the form values are kept in ---------------------------------------------------------------

def test_compact_frame_keeps_the_data_in_fewer_objects(traced):
    from core import fetch

    chain = _chain("SPY", 0)
    compact = fetch.compact_chain(chain)
    # sized as kept (before the reads below add copy-on-write weakrefs to its blocks)
    assert cache.sizeof(compact) < 0.85 * cache.sizeof(chain)
    # the same data; only the CATEGORIES columns change dtype (see the next test)
    pd.testing.assert_frame_equal(
        compact.frame.astype({c: chain.frame[c].dtype for c in CATEGORIES}), chain.frame)
    assert list(compact.frame.columns) == list(chain.frame.columns)
    assert len(compact.frame._mgr.blocks) < len(chain.frame._mgr.blocks)
    # every compacted frame with these columns shares one column Index (engine built once)
    other = fetch.compact_chain(_chain("AAPL", 1))
    assert other.frame.columns is compact.frame.columns
    assert "_engine" in compact.frame.columns._cache
    # shared, so counted in no value: what a compact chain's release frees is what it counts
    counted, freed = _freed_when_dropped(lambda: fetch.compact_chain(_chain("F", 0)))
    assert abs(counted - freed) <= 0.10 * freed, (counted, freed)


def test_a_compact_chain_reads_as_the_loose_one_everywhere():
    """Categorical ``type``/``iv_source`` are an exact, smaller layout: every value and every
    analytic the pages read comes out the same as from the provider's string columns, and with
    pytest's filterwarnings=error no pandas warning is raised (groupby/pivot on categoricals)."""
    from core import fetch
    from core.analytics import exposure, levels, volatility

    loose = _chain("SPY", 0)
    compact = fetch.compact_chain(loose)
    a, b = loose.frame, compact.frame
    for col, dtype in CATEGORIES.items():
        assert b[col].dtype == dtype and b[col].dtype is dtype  # one shared dtype
        assert b[col].astype(str).tolist() == a[col].tolist()
        assert b[col].to_numpy().tolist() == a[col].to_numpy().tolist()
        first = a[col].iloc[0]
        assert ((b[col] == first).to_numpy() == (a[col] == first).to_numpy()).all()
    for col in set(a.columns) - set(CATEGORIES):
        assert b[col].dtype == a[col].dtype, col  # every other column keeps its dtype
    pd.testing.assert_frame_equal(
        b.sort_values(["type", "strike"]).astype({c: "str" for c in CATEGORIES}),
        a.sort_values(["type", "strike"]))
    spot, T = loose.spot, 5 / 365
    assert levels.key_levels(b, spot, T, 0.04, 0.0) == levels.key_levels(a, spot, T, 0.04, 0.0)
    pd.testing.assert_frame_equal(levels.by_strike(b), levels.by_strike(a), check_dtype=False,
                                  check_column_type=False, check_index_type=False,
                                  check_categorical=False)
    assert levels.put_call_ratios(b) == levels.put_call_ratios(a)
    assert exposure.total_gex(b, spot) == exposure.total_gex(a, spot)
    pd.testing.assert_frame_equal(exposure.gex_by_strike(b, spot), exposure.gex_by_strike(a, spot),
                                  check_column_type=False, check_index_type=False,
                                  check_categorical=False)
    assert volatility.atm_iv(b, spot) == volatility.atm_iv(a, spot)
    pd.testing.assert_frame_equal(volatility.smile(b), volatility.smile(a),
                                  check_column_type=False, check_index_type=False,
                                  check_categorical=False)
    # a value outside the categories is never turned into NaN: that column stays as it was
    odd = loose.frame.assign(iv_source=loose.frame["iv_source"].where(
        loose.frame.index != 0, "other"))
    kept = fetch.compact_chain(dataclasses.replace(loose, frame=odd)).frame
    assert kept["iv_source"].dtype == odd["iv_source"].dtype
    assert kept["iv_source"].iloc[0] == "other"
    assert kept["type"].dtype == CATEGORIES["type"]


def test_a_chain_decoded_from_the_shared_l2_keeps_no_part_of_the_message(traced):
    """A frame decoded from Arrow IPC bytes (core.codec, what the Redis L2 sends) has string
    columns whose buffers are slices of the whole message: compacted, they get their own, so a
    chain from the L2 costs what a local one does, not the message on top."""
    from core import codec, fetch

    local = fetch.compact_chain(_chain("SPY", 0))
    decoded = codec.ipc_to_chain(codec.chain_to_ipc(local))
    borrowed = decoded.frame["contract"].array._pa_array
    assert cache._borrows(borrowed)  # as decoded: a slice of the message
    kept = fetch.compact_chain(decoded)
    assert not cache._borrows(kept.frame["contract"].array._pa_array)
    assert kept.frame.equals(local.frame)
    assert kept.frame["contract"].dtype == local.frame["contract"].dtype
    assert cache.sizeof(kept) <= 1.05 * cache.sizeof(local)
    # and what it counts is what dropping it frees (the message is not kept alive)
    blob = codec.chain_to_ipc(local)
    counted, freed = _freed_when_dropped(lambda: fetch.compact_chain(codec.ipc_to_chain(blob)))
    assert abs(counted - freed) <= 0.10 * freed, (counted, freed)


def test_a_cache_keeps_loaded_values_in_their_compact_form(timer):
    c, _ = make(timer=timer)
    c.compact = cache.compact_frame
    loose = frame(100)
    kept = c.get("k", lambda: loose).value
    assert kept is not loose and kept.equals(loose) and c.peek("k") is kept
    assert c.get("k", lambda: pytest.fail("cached")).value is kept
    c.put("p", loose)
    assert c.peek("p") is not loose and c.peek("p").equals(loose)


def test_dead_copy_on_write_references_are_swept_before_a_frame_is_measured():
    f = frame(100)
    for _ in range(50):
        f["x"].sum()  # each read leaves a dead weakref in the block's reference list
    grown = cache.sizeof(f)
    cache.sweep_dead_references(f)
    assert all(len(b.refs.referenced_blocks) == 1 for b in f._mgr.blocks)
    assert cache.sizeof(f) < grown - 40 * 80  # the dead weakrefs were most of the growth


def test_sweep_all_frees_the_dead_weakrefs_that_reading_a_cached_frame_leaves(timer):
    """Each column read of a pandas 3 frame leaves a dead weakref in its block's and its
    index's copy-on-write lists, and pandas sweeps a list only past 500: a cached chain read by
    every session carries up to ~44 KB per list that no cache counts. sweep_all drops them
    (the memory governor runs it every tick), live references stay."""
    import tracemalloc

    c, _ = make(timer=timer)
    value = c.get("k", lambda: frame(50)).value
    kept = value["x"]  # a live reference: must survive the sweep
    tracemalloc.start()
    for _ in range(400):
        value["x"].to_numpy()

    def lists():
        blocks = [b.refs.referenced_blocks for b in value._mgr.blocks]
        return [len(x) for x in blocks] + [len(value.index._references.referenced_blocks)]
    assert max(lists()) >= 400
    before = tracemalloc.get_traced_memory()[0]
    assert cache.sweep_all() >= 1
    freed = before - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert max(lists()) <= 3 and freed > 400 * 2 * 64  # two lists of 400 weakrefs, at least
    x_block = value._mgr.blocks[value._mgr.blknos[0]]
    assert any(ref() is kept._mgr.blocks[0] for ref in x_block.refs.referenced_blocks)


# ---------------------------------------------------------------- frozen until read twice

def frozen_cache(timer, **kw):
    c, budget = make(timer=timer, **kw)
    loads = []

    def thaw(data):
        loads.append(1)
        return pickle.loads(data)
    c.freezer = cache.Freezer(pickle.dumps, thaw)
    return c, budget, loads


def test_a_value_read_once_is_kept_as_its_bytes_and_made_live_by_a_second_read(timer):
    c, budget, loads = frozen_cache(timer)
    value = frame(200)
    first = c.get("k", lambda: value).value
    assert first is value  # the loader's caller gets the live value it loaded
    s = c.stats()
    assert s["frozen"] == 1 and s["bytes"] == sys.getsizeof(pickle.dumps(value))
    assert s["bytes"] < cache.sizeof(value) and budget.currsize == s["bytes"]
    second = c.get("k", lambda: pytest.fail("a hit must not load")).value
    s = c.stats()
    assert s["frozen"] == 0 and s["thaws"] == 1 and s["bytes"] == cache.sizeof(second)
    assert second is not value and second.equals(value) and loads == [1]
    assert c.get("k", lambda: None).value is second  # live and shared from now on
    assert c.peek("k") is second and loads == [1]


def test_a_frozen_entry_is_thawed_once_for_concurrent_readers(timer):
    c, _, loads = frozen_cache(timer)
    c.get("k", lambda: frame(50))
    gate = threading.Event()
    thaw = c.freezer.loads
    c.freezer = cache.Freezer(pickle.dumps, lambda data: (gate.wait(10), thaw(data))[1])
    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(c.get, "k", lambda: None) for _ in range(8)]
        deadline = time.monotonic() + 10
        while c.stats()["joins"] < 7:  # seven readers wait for the one that thaws
            assert time.monotonic() < deadline, "readers did not join the thaw"
            time.sleep(0.005)
        gate.set()
        values = [f.result(timeout=10).value for f in futures]
    assert loads == [1] and all(v is values[0] for v in values)


def test_a_refresh_keeps_a_live_key_live_and_a_frozen_key_frozen(timer):
    c, _, _ = frozen_cache(timer, ttl=10.0, executor=cf.ThreadPoolExecutor(1))
    c.get("hot", lambda: frame(10))
    c.get("hot", lambda: None)  # read twice: live
    c.get("cold", lambda: frame(10))  # read once: frozen
    timer.t += 11
    c.get("hot", lambda: frame(20))  # stale: served, refreshed in the background
    deadline = time.monotonic() + 10
    while c.stats()["inflight"]:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert c.stats()["frozen"] == 1  # cold is still frozen (it was read once)
    hot = c.peek("hot")
    assert len(hot) == 20 and c.peek("hot") is hot  # the new version went straight to live


def test_views_of_a_frozen_value_are_served_not_kept_until_it_is_live(timer):
    c, _, _ = frozen_cache(timer)
    loaded = c.get("k", lambda: frame(100)).value
    assert len(c.view("k", loaded, "head", lambda f: f.head(3))) == 3
    assert c.stats()["views"] == 0  # the entry holds bytes, not ``loaded``
    live = c.get("k", lambda: None).value
    c.view("k", live, "head", lambda f: f.head(3))
    assert c.stats()["views"] == 1


def test_frozen_values_live_in_pages_of_their_own_given_back_when_dropped(timer):
    """cache.freeze keeps a value's pickle in its own anonymous mapping (long-lived ~30 KB
    blocks left in the malloc heap fragment it), counted in whole pages, and the pages are
    unmapped as soon as the entry lets go of them (here: a second read made it live)."""
    import mmap

    c, _ = make(timer=timer)
    c.freezer = cache.Freezer(cache.freeze, cache.thaw)
    before = cache.mapped_bytes()
    c.get("k", lambda: frame(2000))
    held = cache.mapped_bytes() - before
    data = c._store["k"].value
    assert isinstance(data, mmap.mmap) and held % mmap.PAGESIZE == 0 and held >= len(data)
    assert c.stats()["bytes"] == cache.frozen_size(data) == held + sys.getsizeof(data)
    del data
    live = c.get("k", lambda: None).value  # promoted: the pages are released
    gc.collect()
    assert cache.mapped_bytes() == before and live.equals(frame(2000))


def test_joined_misses_leave_no_bookkeeping_behind(timer):
    """A miss another reader joined is remembered only until it lands (it decides whether a
    freezing cache keeps the value live), and not at all by a cache without a freezer."""
    for freezing in (False, True):
        c, _ = make(timer=timer)
        if freezing:
            c.freezer = cache.Freezer(pickle.dumps, pickle.loads)
        gate = threading.Event()
        with cf.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(c.get, "k", lambda: (gate.wait(10), frame(10))[1])
                       for _ in range(4)]
            deadline = time.monotonic() + 10
            while c.stats()["joins"] < 3:
                assert time.monotonic() < deadline, "readers did not join the miss"
                time.sleep(0.005)
            gate.set()
            values = [f.result(timeout=10).value for f in futures]
        assert all(v is values[0] for v in values) and c._joined == {}
        assert c.stats()["frozen"] == 0  # joined: read more than once, so kept live
