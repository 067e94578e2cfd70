"""Traded premium from consecutive chain versions (core.fetch's premium tape): Δvolume × mid at
each refresh, on hand-made versions whose answer is known and on the simulated market."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from core import cache, clock, config, fetch
from core.schema import Chain
from tests.analytics.chains import make_chain

EXPIRY = dt.date(2026, 11, 27)


def _version(at: str, call: tuple[int, float], put: tuple[int, float]) -> Chain:
    """One chain version at ET time ``at``: (volume, mid) of one call and one put."""
    frame = make_chain([
        {"type": "call", "strike": 100, "volume": call[0], "mid": call[1], "contract": "C100"},
        {"type": "put", "strike": 100, "volume": put[0], "mid": put[1], "contract": "P100"}],
        expiry=EXPIRY)
    return Chain(symbol="TEST", expiry=EXPIRY, spot=100.0, as_of=clock.parse_instant(at),
                 source="test", frame=frame)


def test_premium_is_delta_volume_times_each_refresh_mid():
    # calls: 0 -> 100 contracts at mid 2.00, then +200 at 1.00: $40,000 traded; the day's
    # volume × the current mid would say 300 × 1.00 × 100 = $30,000.
    fetch.record_premium(_version("2026-11-20 09:30", (0, 1.5), (0, 1.0)))
    fetch.record_premium(_version("2026-11-20 10:00", (100, 2.0), (50, 1.0)))
    last = fetch.record_premium(_version("2026-11-20 10:30", (300, 1.0), (80, 3.0)))
    got = fetch.traded_premium(last)
    assert got.has_history and got.method == "refreshes" and got.versions == 3
    assert got.call == pytest.approx(100 * 2.0 * 100 + 200 * 1.0 * 100)
    assert got.put == pytest.approx(50 * 1.0 * 100 + 30 * 3.0 * 100)
    assert got.covered == pytest.approx(1.0)
    assert "since 09:30 ET" in got.label
    # the same version again changes nothing; an older one is ignored
    fetch.record_premium(last)
    fetch.record_premium(_version("2026-11-20 10:15", (999, 9.0), (999, 9.0)))
    assert fetch.traded_premium(last) == got


def test_without_history_it_is_day_volume_times_the_current_mid_and_says_so():
    only = fetch.record_premium(_version("2026-11-20 10:30", (300, 1.0), (80, 3.0)))
    got = fetch.traded_premium(only)
    assert not got.has_history and got.label == "volume × current mid"
    assert (got.call, got.put) == (pytest.approx(30_000.0), pytest.approx(24_000.0))


def test_a_tape_started_late_in_the_day_is_not_history_until_most_volume_is_priced():
    # 1000 contracts already traded at the first version: only 100 more priced at a refresh
    fetch.record_premium(_version("2026-11-20 14:00", (1000, 1.0), (0, 1.0)))
    late = fetch.record_premium(_version("2026-11-20 14:10", (1100, 1.0), (0, 1.0)))
    assert not fetch.traded_premium(late).has_history


def test_a_new_session_day_starts_a_new_tape():
    fetch.record_premium(_version("2026-11-19 10:00", (0, 1.0), (0, 1.0)))
    fetch.record_premium(_version("2026-11-19 15:00", (500, 1.0), (0, 1.0)))
    today = fetch.record_premium(_version("2026-11-20 10:00", (10, 2.0), (0, 1.0)))
    got = fetch.traded_premium(today)
    assert not got.has_history and got.versions == 1  # the 19th's tape is not carried over
    assert got.call == pytest.approx(10 * 2.0 * 100)


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "state not reached"
        time.sleep(0.01)


def test_every_refresh_of_a_fetched_chain_is_recorded_once_for_every_session():
    expiry = fetch.expirations("SPY")[1]
    hard = fetch.settings().max_strikes_hard
    first = fetch.chain("SPY", expiry, strikes=hard)
    clock.advance(config.settings().ttl_chain_near + 1)
    fetch.chain("SPY", expiry, strikes=hard)  # stale: one background refresh
    _wait_until(lambda: fetch.chain("SPY", expiry, strikes=hard).as_of > first.as_of
                and not any(s["inflight"] for s in cache.stats()))
    second = fetch.chain("SPY", expiry, strikes=hard)
    for _ in range(5):  # more sessions reading the same version add nothing
        fetch.chain("SPY", expiry, strikes=hard)
    a = first.frame.set_index("contract")
    b = second.frame.set_index("contract")
    delta = (b["volume"] - a["volume"].reindex(b.index).fillna(0)).clip(lower=0)
    expected = a["volume"] * a["mid"] * 100  # the first version's volume at its own mid
    expected = expected.reindex(b.index).fillna(0) + delta * b["mid"] * 100
    tape = fetch._get().caches["premium_tape"].peek(("SPY", expiry))
    assert tape.versions == 2
    calls = b["type"] == "call"
    assert tape.frame.loc[calls[calls].index, "premium"].sum() == pytest.approx(
        expected[calls].sum())
    assert fetch.traded_premium(second).versions == 2


def test_only_the_first_listed_expiries_keep_a_tape():
    """Flow is read on the nearest expiries: a far expiry's chain costs no tape."""
    listed = fetch.expirations("SPY")
    fetch.chain("SPY", listed[0])
    fetch.chain("SPY", listed[-1])
    tapes = fetch._get().caches["premium_tape"]
    assert tapes.peek(("SPY", listed[0])) is not None
    assert tapes.peek(("SPY", listed[-1])) is None
    assert fetch.TAPE_EXPIRIES < len(listed)


def test_the_score_reads_traded_premium_not_the_day_volume_at_todays_mid():
    # Calls and puts each traded 1000 contracts at mid 1.00 this morning; the underlying then
    # fell, so the call is now 0.50 and the put 1.60. Valued at the current mid, puts look 3.2×
    # calls (−20, "bearish flow"); the money that actually came in was equal (0).
    from core.analytics import command_center
    from tests.analytics.test_scans import _levels, _quote, _rising

    fetch.record_premium(_version("2026-11-20 09:30", (0, 1.0), (0, 1.0)))
    fetch.record_premium(_version("2026-11-20 10:30", (1000, 1.0), (1000, 1.0)))
    now = fetch.record_premium(_version("2026-11-20 14:30", (1000, 0.5), (1000, 1.6)))
    naive = command_center.command_row("TEST", _quote(), _levels(), now.frame, _rising(), None,
                                       EXPIRY)
    assert naive.score.component("premium").points == -20
    traded = fetch.traded_premium(now)
    row = command_center.command_row(
        "TEST", _quote(), _levels(), now.frame, _rising(), None, EXPIRY,
        premium=command_center.Premium(traded.call, traded.put, traded.label))
    assert (row.call_premium, row.put_premium) == (pytest.approx(1e5), pytest.approx(1e5))
    assert row.score.component("premium").points == 0
    assert "Δvolume × mid per refresh" in row.score.component("premium").detail


def test_command_task_uses_the_tape_once_the_flow_chain_has_history():
    from core.analytics import command_center

    sym = "TSLA"
    later = command_center.flow_expiry(fetch.expirations(sym), clock.today())
    hard = fetch.settings().max_strikes_hard
    with clock.frozen("2026-11-20 09:31"):
        first = fetch.chain(sym, later, strikes=hard)
    # back at 11:30 (the test's pinned time): two hours of trading later, a new version
    fetch.chain(sym, later, strikes=hard)
    _wait_until(lambda: fetch.chain(sym, later, strikes=hard).as_of > first.as_of
                and not any(s["inflight"] for s in cache.stats()))
    row = command_center.command_task(sym, source=fetch)
    traded = fetch.traded_premium(fetch.chain(sym, later, strikes=hard))
    assert traded.has_history and row.premium_method == traded.label
    assert (row.call_premium, row.put_premium) == (traded.call, traded.put)


def _rows(at: str, rows: list[tuple[str, str, int, float]]) -> Chain:
    """A version at ET time ``at`` with (contract, type, volume, mid) rows, strike 100 + i."""
    frame = make_chain([{"type": t, "strike": 100 + i, "volume": v, "mid": m, "contract": c}
                        for i, (c, t, v, m) in enumerate(rows)], expiry=EXPIRY)
    return Chain(symbol="TEST", expiry=EXPIRY, spot=100.0, as_of=clock.parse_instant(at),
                 source="test", frame=frame)


def test_contracts_that_enter_or_leave_the_chain_between_versions():
    # C101 is new at 10:00 (all its 40 contracts priced at that mid); P102 left (it leaves the
    # tape: the premium of the chain as it now is)
    fetch.record_premium(_rows("2026-11-20 09:30", [("C100", "call", 0, 1.0),
                                                    ("P102", "put", 0, 1.0)]))
    fetch.record_premium(_rows("2026-11-20 09:45", [("C100", "call", 10, 2.0),
                                                    ("P102", "put", 70, 1.0)]))
    now = fetch.record_premium(_rows("2026-11-20 10:00", [("C100", "call", 30, 1.0),
                                                          ("C101", "call", 40, 0.5),
                                                          ("P103", "put", 5, 3.0)]))
    got = fetch.traded_premium(now)
    assert got.versions == 3 and got.has_history
    assert got.call == pytest.approx(10 * 2.0 * 100 + 20 * 1.0 * 100 + 40 * 0.5 * 100)
    assert got.put == pytest.approx(5 * 3.0 * 100)
    tape = fetch._get().caches["premium_tape"].peek(("TEST", EXPIRY))
    assert list(tape.frame.index) == ["C100", "C101", "P103"]
    assert tape.frame["type"].tolist() == ["call", "call", "put"]


def test_a_tape_costs_a_fraction_of_its_chain():
    """Plain arrays (contract keys as one bytes buffer, a call mask, three vectors), no frame:
    a first version's tape holds its volume once (the baseline is the same array)."""
    hard = fetch.settings().max_strikes_hard
    chain = fetch.chain("SPY", fetch.expirations("SPY")[0], strikes=hard)
    tape = fetch._get().caches["premium_tape"].peek(("SPY", chain.expiry))
    assert tape.versions == 1 and tape.baseline is tape.volume
    assert len(tape.contracts) == len(chain.frame)
    assert cache.sizeof(tape) < 0.25 * cache.sizeof(chain)
