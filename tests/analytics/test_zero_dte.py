"""core.analytics.zero_dte: each rule on a hand-built case whose answer is known."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest

from core import clock
from core.analytics import levels, zero_dte
from core.analytics.zero_dte import IndexSnapshot

FRI = dt.date(2026, 11, 20)
SAT = dt.date(2026, 11, 21)
MON = dt.date(2026, 11, 23)
THANKSGIVING = dt.date(2026, 11, 26)
EARLY = dt.date(2026, 11, 27)
LISTED = [FRI, MON, dt.date(2026, 11, 24), EARLY]


def status(at: str) -> clock.MarketStatus:
    return clock.market_status(clock.parse_instant(at))


# --- choose_expiry ------------------------------------------------------------------------------

@pytest.mark.parametrize("at", ["2026-11-20 08:00", "2026-11-20 11:30", "2026-11-20 15:59"])
def test_today_is_0dte_while_the_session_has_not_closed(at):
    choice = zero_dte.choose_expiry(LISTED, status(at))
    assert choice == zero_dte.ExpiryChoice(FRI, True, None)
    assert choice.label == "0DTE · Fri 20 Nov 2026"


def test_after_the_close_the_next_sessions_expiry_is_shown():
    # the raw list may still hold today's date after 16:00: it must not be chosen
    choice = zero_dte.choose_expiry(LISTED, status("2026-11-20 16:30"))
    assert (choice.expiry, choice.is_0dte) == (MON, False)
    assert choice.reason == "No 0DTE today: today's session has closed."
    assert choice.label == "Next session's expiry · Mon 23 Nov 2026"


def test_saturday_has_no_0dte_and_points_to_monday():
    choice = zero_dte.choose_expiry([MON, EARLY], status("2026-11-21 12:00"))
    assert (choice.expiry, choice.is_0dte) == (MON, False)
    assert choice.reason == "No 0DTE today: the market is closed today (weekend)."


def test_holiday_has_no_0dte_and_points_to_the_next_session():
    choice = zero_dte.choose_expiry([EARLY, dt.date(2026, 11, 30)], status("2026-11-26 12:00"))
    assert (choice.expiry, choice.is_0dte) == (EARLY, False)
    assert "holiday" in choice.reason


def test_session_day_without_a_listing_today():
    choice = zero_dte.choose_expiry([EARLY], status("2026-11-23 10:00"))  # a Monday, weeklies only
    assert (choice.expiry, choice.is_0dte) == (EARLY, False)
    assert choice.reason == "No 0DTE today: no expiry is listed today."


def test_early_close_day_is_0dte_until_13_00():
    assert zero_dte.choose_expiry([EARLY], status("2026-11-27 12:59")).is_0dte
    after = zero_dte.choose_expiry([EARLY, dt.date(2026, 11, 30)], status("2026-11-27 13:00"))
    assert (after.expiry, after.is_0dte) == (dt.date(2026, 11, 30), False)


def test_past_expiries_are_never_chosen_and_an_empty_list_gives_none():
    assert zero_dte.choose_expiry([dt.date(2026, 11, 19), MON], status("2026-11-21 12:00")
                                  ).expiry == MON
    none = zero_dte.choose_expiry([], status("2026-11-20 11:30"))
    assert none.expiry is None and not none.is_0dte and none.label == "No listed expiry"


def test_choice_uses_only_the_status_it_is_given():
    """A hand-built status (no calendar lookups): pre-market on a date with a listing."""
    at = dt.datetime(2026, 11, 20, 9, 0, tzinfo=clock.ET)
    opens, closes = at.replace(hour=9, minute=30), at.replace(hour=16)
    fake = clock.MarketStatus(at, "pre-market", FRI, opens, closes, opens)
    assert zero_dte.choose_expiry([MON, FRI], fake).expiry == FRI


# --- session_timer ------------------------------------------------------------------------------

def test_timer_mid_session():
    t = zero_dte.session_timer(status("2026-11-20 11:30"))
    assert t.state == "open" and not t.early_close
    assert t.seconds_to_close == 4.5 * 3600 and t.seconds_to_open == 0
    assert t.session_seconds == 6.5 * 3600
    assert t.progress == pytest.approx(2 / 6.5)
    assert t.years_left == pytest.approx(4.5 * 3600 / (365 * 86400))
    assert t.minutes_left == pytest.approx(270)


def test_timer_floors_T_near_the_close():
    t = zero_dte.session_timer(status("2026-11-20 15:58"))
    assert t.seconds_to_close == 120
    assert t.years_left == clock.MIN_T_YEARS and t.minutes_left == pytest.approx(5)
    assert t.progress == pytest.approx(1 - 2 / 390)


def test_timer_on_an_early_close_day():
    t = zero_dte.session_timer(status("2026-11-27 12:00"))
    assert t.early_close and t.closes_at.hour == 13
    assert t.seconds_to_close == 3600 and t.session_seconds == 3.5 * 3600
    assert t.progress == pytest.approx(2.5 / 3.5)


def test_timer_on_saturday_counts_down_to_monday_open():
    t = zero_dte.session_timer(status("2026-11-21 12:00"))
    assert t.state == "closed" and t.closes_at is None and t.years_left is None
    assert t.seconds_to_close == 0 and t.progress == 1.0
    assert t.seconds_to_open == (24 + 21.5) * 3600  # Sat 12:00 -> Mon 09:30
    assert t.next_open == dt.datetime(2026, 11, 23, 9, 30, tzinfo=clock.ET)


def test_timer_pre_market_and_after_hours():
    pre = zero_dte.session_timer(status("2026-11-20 08:00"))
    assert pre.progress == 0 and pre.seconds_to_open == 1.5 * 3600
    assert pre.minutes_left == pytest.approx(8 * 60)  # T runs to today's close
    after = zero_dte.session_timer(status("2026-11-20 16:30"))
    assert after.progress == 1 and after.seconds_to_close == 0 and after.years_left is None


# --- bias ---------------------------------------------------------------------------------------

def test_bias_above_below_at_unknown():
    assert zero_dte.bias(101.0, 100.0) == zero_dte.Bias("above", pytest.approx(100 / 101))
    below = zero_dte.bias(99.0, 100.0)
    assert below.state == "below" and below.distance_pct == pytest.approx(-100 / 99)
    assert zero_dte.bias(100.0, 100.0) == zero_dte.Bias("at", 0.0)
    assert zero_dte.bias(100.0, None) == zero_dte.Bias("unknown", None)
    assert zero_dte.bias(100.0, math.nan).state == "unknown"


# --- divergences --------------------------------------------------------------------------------

def test_bias_disagreement_is_flagged_with_both_sides():
    flags = zero_dte.divergences([IndexSnapshot("SPY", "above", 1.0, 0.1),
                                  IndexSnapshot("QQQ", "below", 1.0, 0.1),
                                  IndexSnapshot("IWM", "unknown", 1.0, 0.1)])
    assert [f.kind for f in flags] == ["bias"]
    assert flags[0].symbols == ("SPY", "QQQ")
    assert flags[0].message == "Bias disagrees: SPY above zero gamma; QQQ below."


def test_agreeing_bias_with_unknowns_is_not_flagged():
    flags = zero_dte.divergences([IndexSnapshot("SPY", "above", 1.0, 0.0),
                                  IndexSnapshot("QQQ", "at", 1.0, 0.0),
                                  IndexSnapshot("IWM", "unknown", 1.0, 0.0)])
    assert flags == []


def test_pc_ratio_flag_is_strictly_above_1_5x_and_names_the_extremes():
    at_limit = [IndexSnapshot("SPY", "above", 1.0, 0.0), IndexSnapshot("QQQ", "above", 1.5, 0.0)]
    assert zero_dte.divergences(at_limit) == []
    snaps = [IndexSnapshot("SPY", "above", 0.8, 0.0), IndexSnapshot("QQQ", "above", 1.0, 0.0),
             IndexSnapshot("IWM", "above", 1.21, 0.0), IndexSnapshot("^SPX", "above", None, 0.0),
             IndexSnapshot("^NDX", "above", 0.0, 0.0)]  # None and 0 are not comparable
    (flag,) = zero_dte.divergences(snaps)
    assert flag.kind == "pc" and flag.symbols == ("IWM", "SPY")
    assert "1.21" in flag.message and "0.80" in flag.message and "1.5×" in flag.message


def test_daily_change_flag_is_strictly_above_one_point():
    at_limit = [IndexSnapshot("SPY", "above", 1.0, 0.5), IndexSnapshot("QQQ", "above", 1.0, -0.5)]
    assert zero_dte.divergences(at_limit) == []
    snaps = [IndexSnapshot("SPY", "above", 1.0, 0.6), IndexSnapshot("QQQ", "above", 1.0, 0.0),
             IndexSnapshot("IWM", "above", 1.0, -0.5), IndexSnapshot("^SPX", "above", 1.0, None)]
    (flag,) = zero_dte.divergences(snaps)
    assert flag.kind == "change" and flag.symbols == ("SPY", "IWM")
    assert "+0.60%" in flag.message and "-0.50%" in flag.message and "1.10 points" in flag.message


def test_all_three_flags_in_order_and_one_index_gives_none():
    snaps = [IndexSnapshot("SPY", "above", 0.5, 1.5), IndexSnapshot("QQQ", "below", 1.0, -0.5)]
    assert [f.kind for f in zero_dte.divergences(snaps)] == ["bias", "pc", "change"]
    assert zero_dte.divergences(snaps[:1]) == []
    assert zero_dte.divergences([]) == []


# --- signal -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spot, zg, pc, score, label", [
    (101, 100, 0.5, 2, "Bullish"),
    (101, 100, 1.0, 1, "Lean bullish"),
    (99, 100, 0.5, 0, "Neutral"),
    (101, None, None, 0, "Neutral"),
    (101, 100, 0.8, 1, "Lean bullish"),   # 0.8 is not < 0.8: balanced flow
    (99, 100, 1.2, -1, "Lean bearish"),   # 1.2 is not > 1.2
    (99, 100, 1.5, -2, "Bearish"),
    (100, None, 1.5, -1, "Lean bearish"),
])
def test_signal_table(spot, zg, pc, score, label):
    sig = zero_dte.signal(spot, zg, pc)
    assert (sig.score, sig.label) == (score, label)
    assert sig.score == sig.price_score + sig.flow_score


def test_signal_reasons_name_both_components():
    sig = zero_dte.signal(99, 100, 1.5)
    assert sig.reasons == ("price below zero gamma", "put-heavy flow (P/C 1.50 > 1.2)")
    assert zero_dte.signal(101, 100, 0.5, pc_low=0.4).flow_score == 0


# --- alerts, key strikes, expected range ----------------------------------------------------------

def key_levels(**given) -> levels.KeyLevels:
    fields = {f.name: None for f in dataclasses.fields(levels.KeyLevels)}
    fields.update(spot=100.0, net_gex=0.0)
    fields.update(given)
    return levels.KeyLevels(**fields)


def test_alerts_at_0_3_percent_nearest_first():
    kl = key_levels(zero_gamma=100.25, max_pain=99.7, call_wall_oi=101.0, put_wall_oi=None,
                    volume_pivot=100.1, abs_gamma_strike=100.0)  # abs gamma is not an alert level
    alerts = zero_dte.level_alerts(kl)
    assert [(a.level, a.side) for a in alerts] == [
        ("volume_pivot", "above"), ("zero_gamma", "above"), ("max_pain", "below")]
    assert alerts[-1].distance_pct == pytest.approx(0.3)  # the limit is inclusive
    assert zero_dte.ALERT_PCT == 0.3


def test_alerts_reuse_the_shared_proximity_rule():
    kl = key_levels(zero_gamma=100.25, max_pain=99.7, call_wall_gamma=100.5)
    expected = levels.proximity_alerts(100.0, {"zero_gamma": 100.25, "max_pain": 99.7,
                                               "call_wall_gamma": 100.5}, 0.3)
    assert zero_dte.level_alerts(kl) == expected


def test_key_strikes_table_in_order_with_signed_distance():
    kl = key_levels(call_wall_oi=110.0, zero_gamma=98.0, max_pain=100.0, put_wall_oi=90.0)
    table = zero_dte.key_strikes(kl)
    assert list(table["kind"]) == ["call_wall_oi", "zero_gamma", "max_pain", "put_wall_oi"]
    assert list(table["distance_pct"]) == pytest.approx([10.0, -2.0, 0.0, -10.0])
    assert list(table["side"]) == ["above", "below", "at", "below"]
    assert zero_dte.key_strikes(key_levels()).empty


def test_expected_range_is_spot_plus_minus_the_iv_move():
    rng = zero_dte.expected_range(key_levels(one_sigma_iv=2.0))
    assert rng == zero_dte.ExpectedRange(2.0, 2.0, 98.0, 102.0)
    assert zero_dte.expected_range(key_levels()) == zero_dte.ExpectedRange(None, None, None, None)


# --- refresh interval ---------------------------------------------------------------------------

def test_refresh_is_never_shorter_than_the_longest_ttl():
    assert zero_dte.refresh_seconds([60, 15], market_open=True) == 60
    assert zero_dte.refresh_seconds([5, 15], market_open=True) == 15
    assert zero_dte.refresh_seconds([60, 15], market_open=False) == 60 * zero_dte.CLOSED_FACTOR
    assert zero_dte.refresh_seconds([0.2], market_open=True) == 1.0
