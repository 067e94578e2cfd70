"""Per-session fairness (budgets, the scan queue) and the memory governor, without Streamlit."""

from __future__ import annotations

import threading

import pytest

from core import cache, clock, config, fetch, governor
from core.errors import RateLimited
from core.ui import session

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _fresh_governor():
    governor.pause()  # this file drives tick() itself
    governor.reset()
    yield
    governor.reset()
    governor.pause(False)


def test_a_session_budget_refuses_with_a_clear_message_then_refills():
    state: dict = {}
    s = config.from_env({"OPTIONS_DASH_SESSION_SCANS": "6"})
    assert all(session.spend("scans", state, settings=s) is None for _ in range(6))
    refused = session.spend("scans", state, settings=s)
    assert refused and refused.startswith("This tab used its 6 new scans per minute")
    other: dict = {}
    assert session.spend("scans", other, settings=s) is None  # another tab is not affected
    clock.advance(10)  # one token back after 60 / 6 s
    assert session.spend("scans", state, settings=s) is None
    assert session.spend("scans", state, settings=s) is not None


def test_unknown_symbols_spend_a_small_budget_and_known_ones_do_not():
    state: dict = {}
    s = config.from_env({"OPTIONS_DASH_SESSION_UNKNOWN": "5"})
    admitted = [session.admit_symbol(f"ZZ{chr(65 + i)}", False, state, settings=s) is None
                for i in range(40)]
    assert sum(admitted) == 5
    assert session.admit_symbol("NVDA", True, state, settings=s) is None
    assert session.admit_symbol("ZZA", False, state, settings=s) is None  # seen: free


def test_40_unknown_lookups_from_one_session_leave_another_sessions_quotes_alone(upstream):
    attacker: dict = {}
    rejected = 0
    for i in range(40):
        sym = f"ZQ{chr(65 + i % 26)}{chr(65 + i // 26)}"
        if session.admit_symbol(sym, fetch.known(sym), attacker) is None:
            try:
                fetch.expirations(sym)
            except Exception:  # noqa: BLE001 - unknown symbols are refused upstream
                pass
        else:
            rejected += 1
    unknown_calls = sum(n for k, n in upstream.calls.items()
                        if isinstance(k, tuple) and str(k[1]).startswith("ZQ"))
    assert unknown_calls == config.settings().session_unknown and rejected == 35
    quotes = fetch.quotes(["SPY", "QQQ", "AAPL", "MSFT"])  # another tab
    assert all(q.price > 0 for q in quotes.values())
    assert fetch.limiter_stats()["rejected"] == 0


def _blocked_scans(release: threading.Event, n: int) -> list:
    return [fetch.scan(f"block{i}", lambda sym: release.wait(30) and sym, ["SPY"])
            for i in range(n)]


def test_scans_past_the_slots_queue_with_a_position_instead_of_being_refused():
    release = threading.Event()
    try:
        running = _blocked_scans(release, fetch.MAX_SCANS)
        extra = [fetch.scan(f"late{i}", lambda sym: sym, ["QQQ"]) for i in range(3)]
        assert not any(j.queued for j in running)
        assert [fetch.scan_queue_position(j) for j in extra] == [1, 2, 3]
        again = fetch.scan("late1", lambda sym: sym, ["QQQ"])
        assert again is extra[1]  # a second tab asking joins the waiting scan
    finally:
        release.set()
    for job in running + extra:
        assert job.wait(30)
    assert [j.results for j in extra] == [{"QQQ": "QQQ"}] * 3


def test_the_byte_budget_shrinks_at_85_percent_and_grows_back(upstream, monkeypatch):
    monkeypatch.setattr(governor, "MIN_BUDGET_BYTES", 64 * 1024)  # this test caches ~0.4 MB
    monkeypatch.setenv("OPTIONS_DASH_MEMORY_LIMIT_MB", "400")
    monkeypatch.setenv("OPTIONS_DASH_CACHE_MB", "1")
    s = config.reload()
    fetch.reset(upstream)
    for sym in ("SPY", "QQQ", "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META"):
        for _ in range(2):  # read twice: live chains (a chain read once is kept frozen, smaller)
            fetch.chain(sym, fetch.expirations(sym)[0])
    layer = fetch._get()
    before = layer.budget.currsize
    assert governor.tick(rss=int(0.6 * 400 * MB), budget=layer.budget, settings=s) == "ok"
    assert governor.tick(rss=int(0.78 * 400 * MB), budget=layer.budget, settings=s) == "warn"
    assert layer.budget.maxsize == s.cache_bytes  # warning only
    assert governor.tick(rss=int(0.90 * 400 * MB), budget=layer.budget, settings=s) == "shed"
    assert layer.budget.maxsize < before and layer.budget.currsize <= layer.budget.maxsize
    assert sum(c["evictions_by_reason"]["budget"] for c in cache.stats()) > 0
    assert governor.hold_scans()
    release = threading.Event()
    try:
        first = fetch.scan("held-1", lambda sym: release.wait(30) and sym, ["SPY"])
        job = fetch.scan("held-2", lambda sym: sym, ["SPY"])
        assert not first.queued  # under pressure one scan runs at a time ...
        assert job.queued and fetch.scan_queue_position(job) == 1  # ... the next one waits
    finally:
        release.set()
    for _ in range(40):
        governor.tick(rss=int(0.5 * 400 * MB), budget=layer.budget, settings=s)
    assert layer.budget.maxsize == s.cache_bytes and not governor.hold_scans()
    assert job.wait(30) and job.results == {"SPY": "SPY"}


def test_without_a_limit_the_governor_only_watches():
    layer = fetch._get()
    assert governor.tick(rss=10 ** 12, budget=layer.budget, settings=config.from_env({})) == "off"
    assert layer.budget.maxsize == config.settings().cache_bytes and not governor.hold_scans()


def test_the_trend_is_a_least_squares_slope_in_mb_per_minute(monkeypatch):
    t = [0.0]
    monkeypatch.setattr(governor.time, "monotonic", lambda: t[0])
    for i in range(61):  # 30 min, one sample per 30 s, growing 1 MB/min
        t[0] = 30.0 * i
        governor.tick(rss=200 * MB + int(i * 0.5 * MB), settings=config.from_env({}))
    st = governor.status()
    assert st["slope_mb_min"] == pytest.approx(1.0) and st["trend_span_s"] == 1800
    assert st["growing"] is True


def test_levels_have_hysteresis_so_they_do_not_flap():
    limit = 400 * MB
    assert governor.level_for(int(0.86 * limit), limit, "warn") == "shed"
    assert governor.level_for(int(0.84 * limit), limit, "shed") == "shed"  # within 3 points
    assert governor.level_for(int(0.81 * limit), limit, "shed") == "warn"
    assert governor.level_for(int(0.84 * limit), limit, "warn") == "warn"
    assert governor.level_for(int(0.73 * limit), limit, "warn") == "warn"
    assert governor.level_for(int(0.71 * limit), limit, "warn") == "ok"
    assert governor.level_for(int(0.74 * limit), limit, "ok") == "ok"
