"""core.analytics.history on a hand-made two-day history whose answers are worked out here."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from core import clock
from core.analytics import history

D1, D2 = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
FAR = dt.date(2026, 12, 18)


def _ts(day, hhmm):
    return pd.Timestamp(f"{day} {hhmm}", tz=clock.ET).tz_convert("UTC")


def _row(day, hhmm, expiry, price, t_days, atm_iv, cw=None, pw=None, zg=None, mp=None):
    return {"snapshot": _ts(day, hhmm), "session": day, "expiry": expiry, "price": price,
            "t_years": t_days / 365.0, "atm_iv": atm_iv, "call_wall_oi": cw, "put_wall_oi": pw,
            "zero_gamma": zg, "max_pain": mp}


def two_days() -> pd.DataFrame:
    """Thu: open 100 (0DTE IV 20 %, call wall 102, put wall 95), close 101.
    Fri: open 101 (call wall 100.8 below the open, put wall 100.6), close 100.5.
    A far expiry on each snapshot gives the 30-day IV: 10 d at 20 % and 50 d at 30 %."""
    rows = [
        _row(D1, "09:30", D1, 100.0, 0.27, 0.20, 102, 95, 99.0, 100),
        _row(D1, "09:30", FAR, 100.0, 29, 0.25),
        _row(D1, "16:15", D1, 101.0, 0.0, 0.40, 102, 95, 99.5, 100),
        _row(D1, "16:15", dt.date(2026, 11, 30), 101.0, 10, 0.20),
        _row(D1, "16:15", FAR, 101.0, 50, 0.30),
        _row(D2, "09:30", D2, 101.0, 0.27, 0.20, 100.8, 100.6, 100.0, 101),
        _row(D2, "12:00", D2, 102.0, 0.17, 0.21, 101, 100, 100.0, 101),
        _row(D2, "16:15", D2, 100.5, 0.0, 0.50, 101, 100, 100.0, 101),
        _row(D2, "16:15", FAR, 100.5, 28, 0.22),
    ]
    return pd.DataFrame(rows)


def test_tenor_iv_interpolates_total_variance():
    snap = pd.DataFrame({"t_years": [10 / 365, 50 / 365], "atm_iv": [0.20, 0.30]})
    # w(30d) = midway between 0.04·10/365 and 0.09·50/365 = 2.45/365; σ = √(2.45/30)
    assert history.tenor_iv(snap, 30) == pytest.approx(math.sqrt(2.45 / 30))
    assert history.tenor_iv(snap, 5) == pytest.approx(0.20)    # flat before the first
    assert history.tenor_iv(snap, 90) == pytest.approx(0.30)   # and after the last
    assert history.tenor_iv(snap.iloc[0:0], 30) is None


def test_iv_series_uses_each_sessions_last_snapshot():
    s = history.iv_series(two_days(), 30)
    assert list(s["session"]) == [D1, D2]
    assert s["iv"].iloc[0] == pytest.approx(math.sqrt(2.45 / 30))
    # Fri close: 0DTE (T = 0 dropped) and 28 d at 22 % -> flat 22 %
    assert s["iv"].iloc[1] == pytest.approx(0.22)


def test_iv_rank_and_percentile_on_two_days():
    r = history.iv_rank([0.20, 0.30], 0.25)
    assert r.rank == pytest.approx(50.0) and r.percentile == pytest.approx(50.0)
    assert r.days == 2 and not r.full_year and (r.low, r.high) == (0.20, 0.30)
    top = history.iv_rank([0.20, 0.30], 0.35)  # a new high: rank 100, above every past day
    assert top.rank == pytest.approx(100.0) and top.percentile == pytest.approx(100.0)
    assert history.iv_rank([], 0.3).rank is None and history.iv_rank([], 0.3).days == 0
    assert history.iv_rank([0.2] * 300, 0.2).full_year and history.iv_rank([0.2] * 300, 0.2).days == 252


def test_level_history_and_how_often_levels_held():
    t = history.level_history(two_days())
    assert list(t["session"]) == [D1, D2]
    thu, fri = t.iloc[0], t.iloc[1]
    assert (thu["open"], thu["close"], thu["high"], thu["low"]) == (100.0, 101.0, 101.0, 100.0)
    assert (fri["open"], fri["close"], fri["high"], fri["low"]) == (101.0, 100.5, 102.0, 100.5)
    t_left = 6.5 / (365 * 24)  # 09:30 -> 16:00
    assert thu["expected_move"] == pytest.approx(100 * 0.20 * math.sqrt(t_left))  # 0.545
    assert fri["expected_move"] == pytest.approx(101 * 0.20 * math.sqrt(t_left))  # 0.550
    assert not bool(thu["inside"])                           # moved 1.0 > 0.545
    assert bool(fri["inside"]) is True                       # moved 0.5 < 0.550
    assert bool(thu["call_wall_held"]) and bool(thu["put_wall_held"])  # 95 < 101 < 102
    assert fri["call_wall_held"] is None                     # 100.8 was below the 101 open
    assert bool(fri["put_wall_held"]) is False               # closed 100.5 under 100.6
    assert (thu["zero_gamma"], thu["max_pain"]) == (99.0, 100.0)  # the open's levels
    st = history.level_stats(t)
    assert (st.sessions, st.inside, st.inside_of) == (2, 1, 2)
    assert (st.call_held, st.call_of, st.put_held, st.put_of) == (1, 1, 1, 2)
    assert len(history.level_history(two_days(), sessions=1)) == 1


def test_what_changed_since_open_and_since_yesterday():
    rows = two_days()
    today, before = rows[rows["session"] == D2], rows[rows["session"] == D1]
    now = history.snapshot_levels(today, "last")
    opened = history.snapshot_levels(today, "first", expiry=now["expiry"])
    yesterday = history.snapshot_levels(before, "last", expiry=now["expiry"])
    since_open = history.what_changed(now, opened)
    assert since_open["price"] == (100.5, 101.0, -0.5)
    assert since_open["price_pct"] == pytest.approx(-0.5 / 101 * 100)
    assert since_open["atm_iv"][2] == pytest.approx(30.0)  # 20 % -> 50 %: +30 vol points
    assert since_open["call_wall_oi"] == (101.0, 100.8, pytest.approx(0.2))
    since_y = history.what_changed(now, yesterday)  # D2 not recorded Thu: Thu's front expiry
    assert yesterday["expiry"] == D1 and since_y["price"][2] == pytest.approx(-0.5)
    assert history.what_changed(now, None)["price"] == (100.5, None, None)


def _oi(rows):
    return pd.DataFrame(rows, columns=["contract", "type", "strike", "expiry", "open_interest",
                                       "mid"])


def test_oi_change_grid_and_fresh_positioning():
    prev = _oi([("C100", "call", 100.0, FAR, 1000, 2.0), ("P100", "put", 100.0, FAR, 500, 2.0),
                ("C090", "call", 90.0, D2, 50, 10.0)])
    now = _oi([("C100", "call", 100.0, FAR, 1300, 2.5), ("P100", "put", 100.0, FAR, 400, 1.5),
               ("C105", "call", 105.0, FAR, 200, 1.0), ("C130", "call", 130.0, FAR, 5000, 0.1),
               ("X100", "call", 100.0, dt.date(2027, 1, 15), 900, 3.0)])
    ch = history.oi_change(now, prev).set_index("contract")
    assert "X100" not in ch.index  # its expiry was not recorded: unknown, not "new"
    assert ch.loc["C100", "oi_change"] == 300 and ch.loc["P100", "oi_change"] == -100
    assert ch.loc["C105", "oi_change"] == 200 and bool(ch.loc["C105", "new"])
    grid = history.oi_change_grid(ch.reset_index())
    assert grid.loc[100.0, FAR] == 200 and grid.loc[105.0, FAR] == 200
    assert history.oi_change_grid(ch.reset_index(), "put").loc[100.0, FAR] == -100
    fresh = history.fresh_from_oi(ch.reset_index(), 100.0)
    assert list(fresh["contract"]) == ["C100", "C105"]  # C130 is 30 % away, P100 fell
    assert fresh["new_premium"].iloc[0] == pytest.approx(300 * 2.5 * 100)
    with pytest.raises(ValueError):
        history.oi_change(now.assign(open_interest=0), prev)


def test_fill_oi_uses_recorded_open_interest():
    prev = _oi([("C100", "call", 100.0, FAR, 1000, 2.0)])
    now = _oi([("C100", "call", 100.0, FAR, 0, 2.5), ("C105", "call", 105.0, FAR, 0, 1.0)])
    assert not history.oi_published(now)
    filled = history.fill_oi(now, prev)
    assert list(filled["open_interest"]) == [1000, 0] and history.oi_published(filled)
    assert list(now["open_interest"]) == [0, 0]  # the input is untouched
