"""core.fetch: the one door to market data (validation, caps, single-flight, stale, negative)."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import threading
import time

import pytest

from core import cache, clock, config, fetch, memory
from core.errors import InvalidSymbol, NoExpiry, SymbolNotFound, Unavailable
from core.providers import make_provider
from core.schema import CHAIN_COLUMNS, STRIKES_CAPPED, Chain, Quote


def wait_idle(timeout=5.0):
    """Wait until no background refresh is in flight."""
    deadline = time.monotonic() + timeout
    while any(s["inflight"] for s in cache.stats()):
        assert time.monotonic() < deadline, "refresh did not finish"
        time.sleep(0.01)


def test_chain_is_canonical_with_greeks_and_capped(upstream):
    expiry = fetch.expirations("SPY")[0]
    c = fetch.chain("spy", expiry)
    assert isinstance(c, Chain) and c.symbol == "SPY" and c.expiry == expiry
    assert list(c.frame.columns) == CHAIN_COLUMNS
    assert c.source == "simulated" and c.as_of.tzinfo is not None and not c.stale
    strikes = sorted(c.frame["strike"].unique())
    assert len(strikes) == 40 and STRIKES_CAPPED in c.flags
    assert strikes[0] < c.spot < strikes[-1]
    ok = c.frame[c.frame["iv_ok"]]
    calls = ok[ok["type"] == "call"]
    assert ((calls["delta"] > 0) & (calls["delta"] < 1)).all() and (ok["gamma"] > 0).all()
    assert c.frame.loc[~c.frame["iv_ok"], "gamma"].isna().all()


def test_simulated_chains_get_price_consistent_ivs_not_the_vendors(upstream):
    """The simulated market sends a vendor-like IV column (noisy, far too low on short tenors)
    and option quotes 30 min older than the spot, like Yahoo. The fetch layer's IVs come from
    the mids at the quotes' time: a call and a put of one strike agree (one σ per strike on the
    parity forward), the vendor's are vol points away, and the forward implies the quotes' older
    spot."""
    for expiry in fetch.expirations("SPY")[:2]:  # the 0DTE and the next day
        c = fetch.chain("SPY", expiry, strikes=200)
        f = c.frame
        near = (f["iv_source"] == "mid") & ((f["strike"] / c.spot - 1).abs() < 0.015) \
            & (f["bid"] > 0.05)  # quotes with some time value: ticks do not dominate the σ
        solved = f[near].pivot_table(index="strike", columns="type", values=["iv", "vendor_iv"])
        solved = solved.dropna()
        ours = (solved[("iv", "call")] - solved[("iv", "put")]).abs()
        vendor_off = (solved["vendor_iv"] - solved["iv"]).abs().stack()
        assert len(solved) >= 5
        assert ours.median() < 0.002 and vendor_off.median() > 0.02
        assert c.quotes_lag == pytest.approx(30 * 60)
        assert abs(c.implied_spot - c.spot) > 1e-3     # priced against the quotes' own spot
        assert f["iv_source"].isin(["mid", "pair"]).mean() > 0.8


def test_strike_caps_are_clamped(upstream):
    expiry = fetch.expirations("SPY")[1]
    assert fetch.chain("SPY", expiry, strikes=10).frame["strike"].nunique() == 10
    wide = fetch.chain("SPY", expiry, strikes=10_000)
    assert wide.frame["strike"].nunique() <= config.settings().max_strikes_hard
    assert upstream.calls["chain"] == 1  # every view comes from the one cached chain


def test_repeated_reads_share_one_upstream_call_and_one_object(upstream):
    expiry = fetch.expirations("QQQ")[0]
    first = fetch.chain("QQQ", expiry)  # the loaded chain (kept frozen: read once so far)
    second = fetch.chain("QQQ", expiry)  # made live by this second read...
    third = fetch.chain("QQQ", expiry)  # ...and shared from then on
    assert third is second and third.frame is second.frame
    assert second.frame.equals(first.frame) and second.as_of == first.as_of
    assert upstream.calls["chain"] == 1 and upstream.calls["expirations"] == 1


def test_invalid_symbol_never_reaches_cache_or_provider(upstream):
    for bad in ["", "AAPL;DROP", "12AB", "../x", None]:
        with pytest.raises(InvalidSymbol):
            fetch.chain(bad, dt.date(2026, 11, 20))
        with pytest.raises(InvalidSymbol):
            fetch.quote(bad)
        with pytest.raises(InvalidSymbol):
            fetch.expirations(bad)
    assert sum(upstream.calls.values()) == 0
    assert all(s["entries"] == 0 and s["misses"] == 0 for s in memory.cache_stats())


def test_unknown_symbol_is_negative_cached(upstream):
    with pytest.raises(SymbolNotFound):
        fetch.expirations("ZZZZ")
    with pytest.raises(SymbolNotFound):
        fetch.quote("ZZZZ")
    with pytest.raises(SymbolNotFound):
        fetch.expirations("zzzz")
    assert upstream.calls["expirations"] == 1 and upstream.calls["quote"] == 0
    clock.advance(config.settings().negative_ttl + 1)
    with pytest.raises(SymbolNotFound):
        fetch.expirations("ZZZZ")
    assert upstream.calls["expirations"] == 2  # the negative entry expired


def test_unlisted_expiry_names_the_next_one_without_an_upstream_chain_call(upstream):
    listed = fetch.expirations("AAPL")
    with pytest.raises(NoExpiry) as err:
        fetch.chain("AAPL", listed[0] + dt.timedelta(days=1))
    assert err.value.next_expiry == listed[1]
    with pytest.raises(NoExpiry):
        fetch.chain("AAPL", "not-a-date")
    assert upstream.calls["chain"] == 0


def test_todays_expiry_disappears_after_the_close(upstream):
    today = dt.date(2026, 11, 20)
    assert fetch.expirations("SPY")[0] == today
    clock.pin("2026-11-20 16:01")
    assert today not in fetch.expirations("SPY")
    with pytest.raises(NoExpiry):
        fetch.chain("SPY", today)


def test_50_concurrent_sessions_on_one_cold_key_make_one_upstream_call(upstream):
    expiry = fetch.expirations("NVDA")[0]
    upstream.delay = 0.05
    with cf.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: fetch.chain("NVDA", expiry), range(50)))
    assert upstream.calls[("chain", "NVDA", expiry)] == 1
    assert all(r.frame is results[0].frame for r in results)


def test_stale_served_and_flagged_when_upstream_fails(upstream):
    expiry = fetch.expirations("MSFT")[0]
    fetch.chain("MSFT", expiry)
    good = fetch.chain("MSFT", expiry)  # read twice: the live, shared copy
    upstream.fail_with = Unavailable("network down")
    clock.advance(config.settings().ttl_chain_near + 1)
    again = fetch.chain("MSFT", expiry)  # served at once; the refresh runs in the background
    assert again.frame is good.frame
    wait_idle()
    flagged = fetch.chain("MSFT", expiry)
    assert flagged.stale is True and flagged.frame is good.frame
    assert upstream.calls[("chain", "MSFT", expiry)] == 2
    clock.advance(config.settings().ttl_chain_far * config.settings().stale_factor + 1)
    with pytest.raises(Unavailable):  # past the hard max age nothing stale is left to serve
        fetch.chain("MSFT", expiry)


def test_quote_refreshes_after_its_ttl(upstream):
    first = fetch.quote("AAPL")
    assert isinstance(first, Quote) and first.price > 0 and first.source == "simulated"
    assert fetch.quote("AAPL") is first
    clock.advance(config.settings().ttl_quote + 1)
    fetch.quote("AAPL")
    wait_idle()
    assert upstream.calls["quote"] == 2


def test_quotes_maps_each_symbol_to_a_quote_or_its_error(upstream):
    out = fetch.quotes(["aapl", "ZZZZ", "bad sym", "msft"])
    assert set(out) == {"AAPL", "ZZZZ", "MSFT"}
    assert isinstance(out["AAPL"], Quote) and isinstance(out["ZZZZ"], SymbolNotFound)


def test_chains_clamps_expiries(upstream):
    got = fetch.chains("SPY", n=50)
    assert len(got) == config.settings().max_expiries
    assert [c.expiry for c in got] == fetch.expirations("SPY")[:len(got)]


def test_history_is_cached_and_validated(upstream):
    bars = fetch.history("SPY", "1mo", "1d")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert fetch.history("SPY", "1mo", "1d") is bars and upstream.calls["history"] == 1
    with pytest.raises(ValueError):
        fetch.history("SPY", "forever", "1d")


def test_derived_is_computed_once_per_chain_version(upstream):
    expiry = fetch.expirations("SPY")[0]
    calls = []

    def total_oi(c):
        calls.append(1)
        return int(c.frame["open_interest"].sum())

    c = fetch.chain("SPY", expiry)
    assert fetch.derived("oi", total_oi, c) == fetch.derived("oi", total_oi, c)
    assert len(calls) == 1
    clock.advance(120)  # the simulated market moves; a refreshed chain has a new as_of
    fetch.chain("SPY", expiry)
    wait_idle()
    fetch.derived("oi", total_oi, fetch.chain("SPY", expiry))
    assert len(calls) == 2
    with pytest.raises(TypeError):
        fetch.derived("oi", total_oi, c.frame)


def test_a_value_derived_from_one_chain_lives_on_its_entry_and_is_ready_with_the_next_version(
        upstream):
    """fetch.derived on one chain (or its views: a capped chain, its key levels) is a view of
    the chain's entry: not a second cache entry, gone with the entry. When the chain refreshes,
    the refresh derives it for the new version BEFORE readers see that version: meanwhile they
    keep the old version and its value, and nobody waits for it. A value nobody read on a
    version is not derived again for the next one."""
    expiry = fetch.expirations("SPY")[0]
    gate, warming = threading.Event(), threading.Event()
    calls = []

    def total_oi(c, kl):
        assert kl.spot == c.spot  # the key levels of that same version
        calls.append(c.as_of)
        if len(calls) == 2:  # the next version, derived by the refresh
            warming.set()
            assert gate.wait(10)
        return int(c.frame["open_interest"].sum())

    fetch.chain("SPY", expiry)  # loaded: kept frozen until a second read
    c = fetch.chain("SPY", expiry)  # read again: live, with its views from now on
    kl = fetch.key_levels("SPY", expiry)
    first = fetch.derived("oi", total_oi, c, kl)  # sources: the capped view + the key levels
    chains, derived = fetch._get().caches["chain"], fetch._get().caches["derived"]
    assert len(derived) == 0 and fetch.derived("oi", total_oi, c, kl) == first
    assert calls == [c.as_of]
    clock.advance(config.settings().ttl_chain_near + 1)
    assert fetch.chain("SPY", expiry) is c  # stale: served, and one refresh starts
    assert warming.wait(10)  # the refresh is deriving "oi" for the new version...
    assert fetch.chain("SPY", expiry) is c  # ...while readers keep the old one, no waiting
    assert fetch.key_levels("SPY", expiry) is kl
    assert fetch.derived("oi", total_oi, c, kl) == first and len(calls) == 2
    gate.set()
    wait_idle()
    new = fetch.chain("SPY", expiry)
    assert new.as_of > c.as_of and calls == [c.as_of, new.as_of]
    new_kl = fetch.key_levels("SPY", expiry)
    assert fetch.derived("oi", total_oi, new, new_kl) == int(new.frame["open_interest"].sum())
    assert len(calls) == 2 and len(derived) == 0  # ready: derived once, by the refresh
    # read on this version, so derived for the next; then left unread for a version: not again
    clock.advance(config.settings().ttl_chain_near + 1)
    fetch.chain("SPY", expiry)
    wait_idle()
    assert len(calls) == 3
    newer = fetch.chain("SPY", expiry)
    clock.advance(config.settings().ttl_chain_near + 1)
    fetch.chain("SPY", expiry)
    wait_idle()
    assert fetch.chain("SPY", expiry).as_of > newer.as_of and len(calls) == 3
    stats = chains.stats()
    assert stats["bytes"] == fetch.budget_stats()["bytes"] - sum(
        x["bytes"] for x in cache.stats() if x["name"] != "chain")


def test_superseded_derived_results_are_dropped(upstream):
    """A result keyed by chain versions nobody will ask for again leaves the cache once every
    source has refreshed, long before the sources' hard max age."""
    s = config.settings()
    far, farther = fetch.expirations("SPY")[-2:]  # far expiries: the longest fresh TTL
    old = [fetch.chain("SPY", far), fetch.chain("SPY", farther)]
    fetch.derived("oi", lambda cs: sum(int(c.frame["open_interest"].sum()) for c in cs), old)
    derived = fetch._get().caches["derived"]
    assert len(derived) == 1  # "oi" of two chains (a value of one chain lives on its entry)
    clock.advance(s.ttl_chain_far + 1)
    assert len(derived) == 0  # expired: the version is superseded
    assert derived.stats()["evictions_by_reason"]["expired"] == 1
    assert s.ttl_chain_far + 1 < s.ttl_chain_far * s.stale_factor  # well before the max age


def test_churn_of_1000_keys_keeps_entries_and_bytes_bounded(upstream, monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_CACHE_MB", "4")
    config.reload()
    fetch.reset(upstream)
    budget = config.settings().cache_bytes
    keys = [(s, e) for s in ["SPY", "QQQ", "IWM", "^SPX", "^NDX", "^RUT", "AAPL", "MSFT", "NVDA",
                             "TSLA", "AMZN", "META", "GOOGL", "AMD", "NFLX", "JPM", "XOM", "DIA",
                             "COIN", "PLTR", "CRM", "BAC", "GS", "V", "MA", "UNH", "WMT", "HD",
                             "PG", "JNJ", "KO", "PEP", "CVX", "AVGO", "ORCL", "MU", "INTC",
                             "ADBE", "CRWD", "SNOW", "APP", "SMCI", "MSTR", "LLY", "COST", "CAT",
                             "DE", "BA", "DIS", "T", "VZ", "MCD", "NKE", "C", "WFC", "MS", "MRK",
                             "PFE", "ABBV", "GME", "F", "IBM", "UBER", "SHOP"]
            for e in fetch.expirations(s)]
    assert len(keys) >= 1000
    for i, (sym, expiry) in enumerate(keys[:1000]):
        fetch.chain(sym, expiry)
        if i % 50 == 0:
            b = fetch.budget_stats()
            assert b["bytes"] <= budget
            chain_stats = next(s for s in cache.stats() if s["name"] == "chain")
            assert chain_stats["entries"] <= chain_stats["max_entries"]
    stats = {s["name"]: s for s in cache.stats()}
    assert fetch.budget_stats()["bytes"] <= budget
    assert sum(s["bytes"] for s in stats.values()) == fetch.budget_stats()["bytes"]
    assert stats["chain"]["evictions"] > 0 and upstream.calls["chain"] == 1000


def test_memory_snapshot_reports_real_numbers(upstream):
    fetch.chain("SPY", fetch.expirations("SPY")[0])
    snap = memory.snapshot()
    assert snap["rss"] > 50 * memory.MB and snap["system"]["total"] > snap["rss"]
    names = {c["name"] for c in snap["caches"]}
    assert {"quote", "expirations", "chain", "history", "derived", "not_found"} <= names
    for c in snap["caches"]:
        assert {"name", "entries", "max_entries", "bytes", "hits", "misses", "evictions",
                "upstream_calls", "errors"} <= set(c)
    assert snap["upstream_calls"] >= 2 and snap["budget"]["bytes"] > 0
    assert snap["provider"]["simulated"] and len(snap["rss_samples"]) >= 1


def test_make_provider_choices():
    assert make_provider("simulated")[0].name == "simulated"
    provider, reason = make_provider("auto", probe_timeout=0.5)  # no network here
    assert provider.name == "simulated" and "unreachable" in reason


def test_auto_fallback_flags_every_chain(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_PROVIDER", "auto")
    monkeypatch.setenv("OPTIONS_DASH_UPSTREAM_TIMEOUT", "1")
    config.reload()
    fetch.reset()
    c = fetch.chain("SPY", fetch.expirations("SPY")[0])
    assert "fallback" in c.flags and fetch.provider_info()["simulated"]


def test_remote_sources_pass_the_rate_limiter_and_back_off(upstream):
    from core.errors import RateLimited

    upstream.remote = True
    fetch.quote("AAPL")
    assert fetch.limiter_stats()["backoff_level"] == 0
    upstream.fail_with = RateLimited("slow down")
    with pytest.raises(RateLimited):
        fetch.quote("MSFT")
    assert fetch.limiter_stats()["backoff_level"] == 1  # every caller now waits it out


# --- one chain alive per entry (issue 12) ------------------------------------------------------

def _small_chain_cache(monkeypatch, upstream, **env) -> int:
    """A fresh layer whose chain cache holds few entries (its cap follows the watchlist and
    expiry caps); returns that cap."""
    monkeypatch.setenv("OPTIONS_DASH_MAX_WATCHLIST", "1")
    monkeypatch.setenv("OPTIONS_DASH_MAX_EXPIRIES", "1")
    for name, value in env.items():
        monkeypatch.setenv(f"OPTIONS_DASH_{name}", str(value))
    config.reload()
    fetch.reset(upstream)
    return fetch._get().caches["chain"].max_entries


def _universe_keys(n: int) -> list:
    from core import symbols

    keys = [(s, e) for s in symbols.universe() for e in fetch.expirations(s)]
    assert len(keys) >= n
    return keys[:n]


def test_an_uncapped_view_is_the_chains_own_entry(upstream):
    expiry = fetch.expirations("SPY")[0]
    fetch.chain("SPY", expiry, strikes=200)  # loaded (frozen: read once)
    wide = fetch.chain("SPY", expiry, strikes=200)  # fewer than 200 strikes; live from now on
    caches = fetch._get().caches
    assert wide is caches["chain"].peek(("SPY", expiry)) and STRIKES_CAPPED not in wide.flags
    assert fetch.chain("SPY", expiry, strikes=200) is wide
    assert len(caches["derived"]) == 0  # no second entry
    chain_stats = caches["chain"].stats()
    assert chain_stats["bytes"] == pytest.approx(cache.sizeof(wide), rel=0.02)  # counted once
    narrow = fetch.chain("SPY", expiry, strikes=10)
    assert narrow.frame["strike"].nunique() == 10 and STRIKES_CAPPED in narrow.flags
    # the capped view counts in its chain's entry, less what it shares with it (pandas adds a
    # little copy-on-write bookkeeping to a frame as it is read, hence approx)
    assert caches["chain"].stats()["bytes"] == pytest.approx(
        cache.sizeof(wide) + cache.sizeof(narrow, exclude=[wide]), rel=0.02)
    assert caches["chain"].stats()["views"] == 2 and len(caches["derived"]) == 0


def test_an_evicted_chain_frees_its_memory_whatever_views_were_read(monkeypatch, upstream):
    import gc
    import weakref

    cap = _small_chain_cache(monkeypatch, upstream)
    keys = _universe_keys(cap + 5)
    first = [weakref.ref(fetch.chain(*keys[0], strikes=200)),
             weakref.ref(fetch.chain(*keys[0], strikes=6))]
    for key in keys[1:]:
        fetch.chain(*key, strikes=200)
    assert fetch._get().caches["chain"].peek(keys[0]) is None  # evicted by the entry cap
    gc.collect()
    assert [r() for r in first] == [None, None]  # neither the chain nor its view is alive
    # and what the caches account for is what is alive: entries + their views, no more
    chain_stats = fetch._get().caches["chain"].stats()
    assert chain_stats["entries"] == cap


def test_a_capped_view_dies_with_its_chain_version(upstream):
    import gc
    import weakref

    expiry = fetch.expirations("SPY")[0]
    old = fetch.chain("SPY", expiry, strikes=10)
    gone = weakref.ref(old)
    clock.advance(config.settings().ttl_chain_near + 1)
    fetch.chain("SPY", expiry, strikes=10)  # stale: served at once, refreshed in background
    wait_idle()
    new = fetch.chain("SPY", expiry, strikes=10)
    assert new.as_of > old.as_of
    del old
    gc.collect()
    assert gone() is None  # the refresh replaced the entry and its views with it


def test_the_budget_bites_and_accounts_what_the_caches_hold(monkeypatch, upstream):
    """Below the working set, the byte budget evicts (not the entry cap), and the bytes it
    accounts are what the caches really hold: what tracemalloc, pyarrow's pool and the frozen
    chains' unmapped pages see freed when they are cleared (within 10 %)."""
    import gc
    import tracemalloc

    import pyarrow as pa

    monkeypatch.setenv("OPTIONS_DASH_CACHE_MB", "1")
    config.reload()
    tracemalloc.start()
    try:
        fetch.reset(upstream)
        for i, key in enumerate(_universe_keys(60)):
            fetch.chain(*key, strikes=200)  # mostly uncapped: the view is the chain
            if i % 3 == 0:
                fetch.chain(*key, strikes=8)  # a capped view, on the chain's entry
            assert fetch.budget_stats()["bytes"] <= config.settings().cache_bytes
        chain_stats = fetch._get().caches["chain"].stats()
        assert chain_stats["evictions_by_reason"]["budget"] > 0
        assert chain_stats["evictions_by_reason"]["capacity"] == 0
        assert chain_stats["entries"] < chain_stats["max_entries"]
        accounted = fetch.budget_stats()["bytes"]
        gc.collect()
        traced, pooled = tracemalloc.get_traced_memory()[0], pa.total_allocated_bytes()
        mapped = cache.mapped_bytes()  # frozen chains' own pages (tracemalloc does not see them)
        cache.clear_all()
        gc.collect()
        freed = traced - tracemalloc.get_traced_memory()[0] + pooled - pa.total_allocated_bytes()
        freed += mapped - cache.mapped_bytes()
    finally:
        tracemalloc.stop()
    assert mapped > 0 and cache.mapped_bytes() == 0  # the pages went with their entries
    assert accounted > 0.5 * config.settings().cache_bytes
    assert abs(accounted - freed) <= 0.10 * freed, (accounted, freed)


def test_a_capped_view_is_compact_and_indexed_from_zero(upstream):
    expiry = fetch.expirations("SPY")[0]
    full = fetch.chain("SPY", expiry, strikes=200)
    view = fetch.chain("SPY", expiry, strikes=6)
    assert list(view.frame.index) == list(range(len(view.frame)))
    assert view.frame.columns is full.frame.columns  # one shared column Index
    kept = full.frame[full.frame["strike"].isin(view.frame["strike"])].reset_index(drop=True)
    assert view.frame.equals(kept)
