"""Outage memory (core.breaker + core.fetch): a dead source is paid once, not on every view;
provider answers are checked; unexpected provider errors become Unavailable; several symbols
load in parallel under one deadline; a miss's leader has a deadline of its own."""

from __future__ import annotations

import logging
import threading

import pytest

from core import breaker, cache, clock, config, fetch
from core.errors import SymbolNotFound, Unavailable
from tests.test_fetch import wait_idle


def _reads(n, fn, *args):
    errors = []
    for _ in range(n):
        try:
            fn(*args)
        except Unavailable as exc:
            errors.append(exc)
    return errors


def test_20_reads_of_a_failing_key_make_one_upstream_call(upstream):
    upstream.fail_with = Unavailable("network down")
    assert len(_reads(20, fetch.quote, "AAPL")) == 20
    assert upstream.calls[("quote", "AAPL")] == 1
    clock.advance(config.settings().negative_outage + 1)  # remembered briefly, then retried
    upstream.fail_with = None
    assert fetch.quote("AAPL").price > 0
    assert upstream.calls[("quote", "AAPL")] == 2


def test_a_black_holed_source_opens_the_breaker_and_later_views_fail_fast(upstream):
    upstream.fail_with = Unavailable("timed out after 8 s")
    for sym in ("AAPL", "MSFT", "NVDA"):  # three distinct keys: three real attempts
        _reads(1, fetch.quote, sym)
    assert upstream.calls["quote"] == 3
    [exc] = _reads(1, fetch.quote, "TSLA")  # a fourth key: refused without an upstream call
    assert upstream.calls["quote"] == 3
    assert "is down since 11:30 ET" in str(exc)
    assert fetch.outage()["down_since"].strftime("%H:%M") == "11:30"
    _reads(10, fetch.expirations, "AMD")
    assert upstream.calls["expirations"] == 0  # every kind of call fails fast meanwhile


def test_after_the_open_period_one_probe_goes_out_and_its_success_closes_the_breaker(upstream):
    upstream.fail_with = Unavailable("down")
    for sym in ("AAPL", "MSFT", "NVDA"):
        _reads(1, fetch.quote, sym)
    upstream.fail_with = None
    _reads(1, fetch.quote, "TSLA")
    assert upstream.calls["quote"] == 3  # still open: the source is back but nobody asked it
    clock.advance(config.settings().breaker_open_s + 1)
    assert fetch.quote("TSLA").price > 0  # the probe
    assert fetch.outage() is None
    assert fetch.quote("AMD").price > 0 and upstream.calls["quote"] == 5


def test_a_failed_probe_opens_the_breaker_again():
    gate = breaker.CircuitBreaker("src", failures=2, open_s=30)
    gate.failed(), gate.failed()
    with pytest.raises(Unavailable):
        gate.admit()
    clock.advance(31)
    gate.admit()  # the probe
    with pytest.raises(Unavailable):
        gate.admit()  # a second caller while the probe is out: fails fast
    gate.failed()
    with pytest.raises(Unavailable):
        gate.admit()
    assert gate.stats()["opens"] == 2 and gate.state == breaker.OPEN


def test_while_the_source_is_down_a_cached_copy_is_served_stale_without_upstream_calls(
        upstream, monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_BREAKER_OPEN_S", "300")  # longer than the chain's TTL
    config.reload()
    fetch.reset(upstream)
    expiry = fetch.expirations("SPY")[0]
    good = fetch.chain("SPY", expiry)
    upstream.fail_with = Unavailable("down")
    for sym in ("AAPL", "MSFT", "NVDA"):
        _reads(1, fetch.quote, sym)
    calls = upstream.calls["chain"]
    clock.advance(config.settings().ttl_chain_near + 1)
    fetch.chain("SPY", expiry)
    wait_idle()
    again = fetch.chain("SPY", expiry)
    assert again.stale and again.frame.equals(good.frame)
    assert upstream.calls["chain"] == calls  # the refresh failed fast at the breaker


def test_a_symbol_the_source_does_not_know_is_not_an_outage(upstream):
    for _ in range(5):
        with pytest.raises(SymbolNotFound):
            fetch.quote("ZZZZ")
        fetch.reset(upstream)
    assert fetch.outage() is None


class _Broken:
    """The simulated market whose answers are wrong in one way (a provider bug)."""

    def __init__(self, inner, **how):
        self.inner, self.how, self.name, self.remote = inner, how, "simulated", False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def quote(self, symbol):
        import dataclasses

        if "raise_" in self.how:
            raise self.how["raise_"]
        q = self.inner.quote(symbol)
        return dataclasses.replace(q, price=self.how.get("price", q.price))

    def chain(self, symbol, expiry):
        import dataclasses

        c = self.inner.chain(symbol, expiry)
        if "spot" in self.how:
            return dataclasses.replace(c, spot=self.how["spot"])
        if "drop" in self.how:
            return dataclasses.replace(c, frame=c.frame.drop(columns=[self.how["drop"]]))
        return c


@pytest.mark.parametrize("how, words", [
    ({"price": float("nan")}, "quote price nan"),
    ({"price": -1.0}, "quote price -1.0"),
    ({"raise_": KeyError("regularMarketPrice")}, "could not be read"),
    ({"raise_": TypeError("'NoneType' object is not subscriptable")}, "could not be read"),
])
def test_unusable_quotes_and_provider_bugs_become_unavailable(upstream, how, words, caplog):
    fetch.reset(_Broken(upstream.inner, **how))
    with caplog.at_level(logging.ERROR, logger="core.fetch"):
        with pytest.raises(Unavailable, match=words):
            fetch.quote("AAPL")
    if "raise_" in how:  # logged for the operator, with the traceback
        assert any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("how, words", [
    ({"spot": float("nan")}, "spot nan"), ({"spot": 0.0}, "spot 0.0"),
    ({"drop": "strike"}, "without strike"),
])
def test_unusable_chains_become_unavailable(upstream, how, words):
    expiry = fetch.expirations("SPY")[0]
    fetch.reset(_Broken(upstream.inner, **how))
    with pytest.raises(Unavailable, match=words):
        fetch.chain("SPY", expiry)


class _Stalling:
    """The simulated market whose answers for ``stalled`` wait until ``release`` is set."""

    def __init__(self, inner, stalled):
        self.inner, self.stalled, self.name, self.remote = inner, stalled, "simulated", False
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def quote(self, symbol):
        if symbol in self.stalled:
            self.release.wait(30)
        return self.inner.quote(symbol)


def test_several_symbols_load_in_parallel_under_one_deadline(upstream):
    slow = _Stalling(upstream.inner, {"QQQ"})
    fetch.reset(slow)
    try:
        got = fetch.many(fetch.quote, ["SPY", "QQQ", "IWM", "^SPX"], deadline=0.5)
    finally:
        slow.release.set()
    assert isinstance(got["QQQ"], Unavailable) and "No answer within 0.5 s" in str(got["QQQ"])
    assert all(got[s].price > 0 for s in ("SPY", "IWM", "^SPX"))


def test_many_maps_a_bug_to_unavailable_and_keeps_the_rest():
    def fn(sym):
        if sym == "B":
            raise ZeroDivisionError("bug")
        return sym.lower()

    got = fetch.many(fn, ["A", "B", "C"], deadline=5)
    assert got["A"] == "a" and got["C"] == "c" and isinstance(got["B"], Unavailable)


def test_many_serves_cached_items_on_the_caller_s_thread_and_sends_only_misses_to_the_pool(
        upstream):
    """Warm items cost no thread hop (a page pool shared by every session was a queue: one
    session's four cached quotes waited behind everyone else's); cold ones still load in
    parallel under the deadline."""
    fetch.quote("SPY")
    fetch.quote("QQQ")
    where = {}

    def fn(sym):
        where[sym] = threading.current_thread()
        return fetch.quote(sym)

    got = fetch.many(fn, ["SPY", "QQQ", "IWM"], deadline=10)
    assert list(got) == ["SPY", "QQQ", "IWM"] and all(got[s].price > 0 for s in got)
    me = threading.current_thread()
    assert where["SPY"] is me and where["QQQ"] is me  # cached: answered inline
    assert where["IWM"] is not me  # a miss: tried inline, would wait, loaded by the pool
    assert upstream.calls["quote"] == 3  # the inline try of IWM did not reach upstream


def test_no_wait_serves_what_is_stored_and_refuses_to_load():
    store = cache.BoundedCache("no-wait-test", max_entries=4, fresh_ttl=10, max_age=100,
                               budget=cache.ByteBudget(1 << 20))
    store.get("k", lambda: 1)
    loads = []
    with cache.no_wait():
        assert store.get("k", lambda: loads.append(1)).value == 1
        with pytest.raises(cache.WouldWait):
            store.get("other", lambda: loads.append(1))
    assert loads == [] and store.get("other", lambda: 2).value == 2  # outside: loads as usual


def test_a_stalled_leader_gives_up_at_its_own_deadline():
    release = threading.Event()
    store = cache.BoundedCache("stall-test", max_entries=4, fresh_ttl=10, max_age=100,
                               budget=cache.ByteBudget(1 << 20), leader_timeout=0.2)
    with pytest.raises(Unavailable):
        store.get("k", lambda: release.wait(30) and "value")
    release.set()


def test_each_cache_kind_refreshes_on_its_own_pool():
    fetch.quote("SPY")
    pools = {name: c._executor for name, c in cache.REGISTRY.items()}
    assert pools["quote"] is not pools["chain"] and pools["quote"] is not pools["derived"]


def test_a_refresh_failing_with_an_unexpected_error_serves_the_old_value_flagged_stale():
    import concurrent.futures as cf

    pool = cf.ThreadPoolExecutor(1)
    store = cache.BoundedCache("odd-refresh", max_entries=4, fresh_ttl=10, max_age=100,
                               budget=cache.ByteBudget(1 << 20), executor=pool)
    assert store.get("k", lambda: "v1").value == "v1"
    clock.advance(11)

    def bad():
        raise ValueError("a frame the analytics cannot read")

    assert store.get("k", bad).value == "v1"  # served at once; the refresh runs in the pool
    pool.shutdown(wait=True)
    served = store.lookup("k")
    assert served.value == "v1" and served.stale is True
