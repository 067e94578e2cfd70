"""History through the fetch layer, on simulated recordings (three sessions before the test's
Friday) and on an empty recordings folder."""

from __future__ import annotations

import pandas as pd

from core import cache, clock, fetch, recorder
from tests.history.fixtures import SESSIONS, no_history, recorded, with_history  # noqa: F401


def test_previous_oi_is_the_last_snapshot_of_the_previous_session(with_history):
    prev = fetch.previous_oi("SPY")
    assert prev.session == SESSIONS[-1]
    assert prev.snapshot == clock.session_close(SESSIONS[-1]) + recorder.AFTER_CLOSE
    store = recorder.Store(with_history)
    last = store.read_chains(store.snapshots("SPY", SESSIONS[-1])[-1][1])
    want = pd.concat([c.frame for c in last])["open_interest"].to_numpy()
    assert list(prev.frame["open_interest"]) == list(want)


def test_oi_change_is_live_oi_minus_recorded(with_history):
    ch = fetch.oi_change("SPY", n=2)
    assert ch is not None and ch.frame is not None and ch.previous.session == SESSIONS[-1]
    live = pd.concat([c.frame for c in fetch.chains("SPY", n=2)])
    before = fetch.previous_oi("SPY").frame.set_index("contract")["open_interest"]
    got = ch.frame.set_index("contract")
    for contract, oi in zip(live["contract"], live["open_interest"]):
        assert got.loc[contract, "oi_change"] == oi - before.get(contract, 0)
    assert (got["oi_change"] != 0).any()  # the simulated OI moves from day to day
    wide = fetch.oi_change("SPY", n=8).frame  # later expiries were not all recorded Thursday
    assert set(wide["expiry"]) <= set(fetch.previous_oi("SPY").frame["expiry"])
    assert "recorded" in cache.REGISTRY and cache.REGISTRY["recorded"].stats()["entries"] > 0


def test_iv_rank_level_history_and_what_changed(with_history):
    r = fetch.iv_rank("SPY")
    assert r.days == 3 and r.current is not None and r.percentile is not None
    past = fetch.iv_history("SPY")
    assert list(past["session"]) == SESSIONS
    t = fetch.level_history("SPY")
    assert list(t["session"]) == SESSIONS and t["expected_move"].notna().all()
    w = fetch.what_changed("SPY")
    assert w["open"] is None and w["since_open"] is None  # nothing recorded today yet
    assert w["yesterday"] is not None and w["since_yesterday"]["price"][1] is not None


def test_history_as_it_stood_at_an_earlier_time(with_history):
    with clock.frozen("2026-11-18 12:00"):
        fetch.reset()
        assert fetch.previous_oi("SPY").session == SESSIONS[0]
        assert fetch.iv_rank("SPY").days == 1
        rows = fetch.recorded_levels("SPY", SESSIONS[1])
        assert rows["snapshot"].max() <= pd.Timestamp(clock.now())  # no future rows
        assert fetch.what_changed("SPY")["open"] is not None


def test_without_history_every_view_says_none(no_history):
    assert fetch.previous_oi("SPY") is None
    assert fetch.oi_change("SPY") is None
    r = fetch.iv_rank("SPY")
    assert r.days == 0 and r.rank is None and r.current is not None
    assert fetch.level_history("SPY").empty
    assert fetch.what_changed("SPY")["yesterday"] is None
