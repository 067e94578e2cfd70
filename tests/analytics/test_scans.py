"""The Command Center score, its bands and action, and the scan rows, on hand-built cases whose
answers are known; then the scan tasks on the simulated market through core.fetch."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import functools
import math

import numpy as np
import pandas as pd
import pytest

from core import clock, fetch
from core.analytics import (bias_score, command_center, dashboard, greeks, levels, scans,
                            whale_flows)
from core.errors import NoExpiry
from core.schema import Chain, Quote
from tests.analytics.chains import make_chain

ET = "America/New_York"
FRIDAY = dt.datetime(2026, 11, 20, 11, 30, tzinfo=clock.ET)
SATURDAY = dt.datetime(2026, 11, 21, 12, 0, tzinfo=clock.ET)
EXPIRY = dt.date(2026, 12, 18)


# --- builders ----------------------------------------------------------------------------------

def _daily(close, spread=0.5, end="2026-11-20"):
    """Daily bars (midnight ET, business days, ending ``end``); high/low = close ± spread."""
    close = np.asarray(close, dtype="float64")
    idx = pd.date_range(end=end, periods=len(close), freq="B", tz=ET)
    return pd.DataFrame({"open": close, "high": close + spread, "low": close - spread,
                         "close": close, "volume": 1_000_000}, index=idx)


def _rising(n=250, start=50.0, step=0.2):
    return _daily(start + step * np.arange(n))


def _quote(price=100.0, prev=98.0, volume=1_000_000.0, as_of=FRIDAY):
    return Quote("TEST", price, prev, as_of, "test", day_volume=volume)


def _levels(**given) -> levels.KeyLevels:
    """KeyLevels with every field None/0 except those given (spot defaults to 100)."""
    fields = {f.name: None for f in dataclasses.fields(levels.KeyLevels)}
    fields.update(spot=100.0, net_gex=0.0)
    fields.update(given)
    return levels.KeyLevels(**fields)


def _chain(frame, spot=100.0, as_of=FRIDAY, expiry=EXPIRY, symbol="TEST"):
    return Chain(symbol=symbol, expiry=expiry, spot=spot, as_of=as_of, source="test",
                 frame=frame)


def _bsm_mid(strike, kind, spot=100.0, T=30 / 365, iv=0.20):
    return float(greeks.price(spot, strike, T, 0.0, 0.0, iv, kind == "call"))


# --- score components --------------------------------------------------------------------------

@pytest.mark.parametrize("spot, strike, points", [(101, 100, 15), (99, 100, -15), (100, 100, 0),
                                                  (100, None, 0), (100, float("nan"), 0)])
def test_gamma_points(spot, strike, points):
    assert bias_score.gamma_points(spot, strike) == points


@pytest.mark.parametrize("spot, points", [(100.3, 0), (99.2, 0), (101.0, 0), (101.2, 15),
                                          (98.9, -15)])
def test_no_gamma_points_within_one_strike_of_spot(spot, points):
    # $1 strikes: spot between the abs. gamma strike and its neighbour only says which side of
    # the nearest strike spot sits on (the old rule gave ±15 for every one of these)
    assert bias_score.gamma_points(spot, 100.0, strike_step=1.0) == points


@pytest.mark.parametrize("call, put, points", [
    (151, 100, 20), (150, 100, 0),   # exactly 1.5x is not "more than 1.5x"
    (100, 150, 0), (100, 151, -20), (0, 0, 0), (10, 0, 20), (0, 10, -20), (120, 100, 0)])
def test_premium_points(call, put, points):
    assert bias_score.premium_points(call, put) == points


@pytest.mark.parametrize("call, put, points", [(5, 3, 10), (3, 5, -10), (4, 4, 0),
                                               (None, None, 0), (2, None, 10), (None, 2, -10),
                                               (float("nan"), 1, -10)])
def test_whale_points(call, put, points):
    assert bias_score.whale_points(call, put) == points


@pytest.mark.parametrize("pc, points", [(0.79, 10), (0.8, 0), (1.0, 0), (1.2, 0), (1.21, -10),
                                        (None, 0), (float("nan"), 0)])
def test_pc_volume_points(pc, points):
    assert bias_score.pc_volume_points(pc) == points


@pytest.mark.parametrize("trend, points", [("Strong up", 15), ("Up", 10), ("Mixed", 0),
                                           ("Down", -10), ("Strong down", -15), ("?", 0)])
def test_trend_points(trend, points):
    assert bias_score.trend_points(trend) == points


@pytest.mark.parametrize("call_wall, put_wall, points", [
    (103, 98, 10),    # put wall 2 away, call wall 3 away: support is nearer
    (101, 95, -10),   # call wall nearer
    (102, 98, 0),     # equally near
    (None, 98, 0), (103, None, 0),
    (99, 90, -10),    # a call wall below spot still counts by distance
])
def test_wall_points(call_wall, put_wall, points):
    assert bias_score.wall_points(100.0, call_wall, put_wall) == points


@pytest.mark.parametrize("call, put, points", [
    (5.0, 0, 0), (5.01, 0, 10), (40, 1, 10), (None, None, 0), (float("nan"), 0, 0),
    (1, 6, -10), (None, 8, -10),   # symmetric: put-side fresh money subtracts
    (6, 5, 0), (5, 6, 0)])         # neither side > 1.5x the other: no call on it
def test_activity_points_are_symmetric(call, put, points):
    assert bias_score.activity_points(call, put) == points


@pytest.mark.parametrize("share, points", [(0.56, 10), (0.55, 0), (0.50, 0), (0.45, 0),
                                           (0.44, -10), (None, None), (float("nan"), None)])
def test_short_volume_points_and_missing_data(share, points):
    assert bias_score.short_volume_points(share) == points


# --- bands and total ---------------------------------------------------------------------------

@pytest.mark.parametrize("score, name", [(0, "Bearish"), (30, "Bearish"), (30.5, "Neutral"),
                                         (31, "Neutral"), (50, "Neutral"), (69, "Neutral"),
                                         (69.5, "Neutral"), (70, "Bullish"), (100, "Bullish")])
def test_band_edges(score, name):
    assert bias_score.band(score) == name


def test_score_starts_at_50_with_nothing_to_say():
    score = bias_score.bias_score(bias_score.ScoreInputs(spot=100.0))
    assert score.value == 50 and score.band == "Neutral"
    assert [c.key for c in score.components] == ["gamma", "premium", "whales", "pc", "trend",
                                                 "walls", "activity", "short"]
    assert not score.component("short").included  # no short-volume record


# Every component is a multiple of 5, so a computed score lands on 30 or 70 but never on 31 or
# 69; those two edges are pinned on band() above.
@pytest.mark.parametrize("inputs, value, name", [
    (dict(call_premium=200.0, put_premium=100.0), 70, "Bullish"),             # +20
    (dict(call_premium=100.0, put_premium=200.0), 30, "Bearish"),             # -20
    (dict(abs_gamma_strike=99.0), 65, "Neutral"),                             # +15
    (dict(abs_gamma_strike=101.0), 35, "Neutral"),                            # -15
    (dict(abs_gamma_strike=101.0, pc_volume=1.5, short_share=0.5), 25, "Bearish"),  # -15-10+0
    (dict(abs_gamma_strike=99.0, call_vol_oi=6.0), 75, "Bullish"),            # +15+10
])
def test_score_lands_on_the_band_edges(inputs, value, name):
    score = bias_score.bias_score(bias_score.ScoreInputs(spot=100.0, **inputs))
    assert (score.value, score.band) == (value, name)


def test_score_is_clipped_to_0_and_100():
    best = bias_score.ScoreInputs(spot=100.0, abs_gamma_strike=90.0, call_premium=1e6,
                               put_premium=1.0, best_call_whale=9.0, best_put_whale=1.0,
                               pc_volume=0.5, trend="Strong up", call_wall=120.0, put_wall=99.0,
                               call_vol_oi=9.0, short_share=0.7)
    worst = bias_score.ScoreInputs(spot=100.0, abs_gamma_strike=110.0, call_premium=1.0,
                                put_premium=1e6, best_call_whale=1.0, best_put_whale=9.0,
                                pc_volume=2.0, trend="Strong down", call_wall=101.0,
                                put_wall=80.0, put_vol_oi=9.0, short_share=0.3)
    up, down = bias_score.bias_score(best), bias_score.bias_score(worst)
    assert sum(c.points for c in up.components) == 100 and up.value == 100
    assert sum(c.points for c in down.components) == -100 and down.value == 0


def test_missing_short_volume_is_left_out_not_counted():
    base = dict(spot=100.0, call_premium=200.0, put_premium=100.0)
    without = bias_score.bias_score(bias_score.ScoreInputs(**base))
    neutral_short = bias_score.bias_score(bias_score.ScoreInputs(**base, short_share=0.5))
    high_short = bias_score.bias_score(bias_score.ScoreInputs(**base, short_share=0.6))
    assert without.component("short").points is None
    assert "left out" in without.component("short").detail
    assert neutral_short.component("short").points == 0
    assert (without.value, neutral_short.value, high_short.value) == (70, 70, 80)


# --- suggested action --------------------------------------------------------------------------

def test_bullish_action_targets_the_call_wall_and_stops_at_the_put_wall():
    a = command_center.suggest_action(100.0, "Bullish", call_wall=110.0, put_wall=95.0)
    assert (a.side, a.target, a.stop) == ("long", 110.0, 95.0)
    assert a.reward_risk == pytest.approx(10 / 5)
    assert a.target_basis == "call wall (OI)" and a.stop_basis == "put wall (OI)"


def test_bullish_action_falls_back_to_3_percent():
    # call wall below spot cannot be a long target; no put wall: stop at -3 %
    a = command_center.suggest_action(100.0, "Bullish", call_wall=98.0, put_wall=None)
    assert a.target == pytest.approx(103.0) and a.stop == pytest.approx(97.0)
    assert a.reward_risk == pytest.approx(1.0)
    assert a.target_basis == "+3%" and a.stop_basis == "−3%"


def test_bearish_action_is_the_mirror_image():
    a = command_center.suggest_action(100.0, "Bearish", call_wall=104.0, put_wall=90.0)
    assert (a.side, a.target, a.stop) == ("short", 90.0, 104.0)
    assert a.reward_risk == pytest.approx(10 / 4)
    b = command_center.suggest_action(100.0, "Bearish", call_wall=None, put_wall=101.0)
    assert b.target == pytest.approx(97.0) and b.stop == pytest.approx(103.0)


def test_a_wall_too_close_to_spot_is_not_the_stop():
    # put wall 0.2 % below spot: the stop goes 1 % below instead
    a = command_center.suggest_action(100.0, "Bullish", call_wall=105.0, put_wall=99.8)
    assert a.stop == pytest.approx(99.0) and "too close" in a.stop_basis
    assert a.reward_risk == pytest.approx(5.0)
    b = command_center.suggest_action(100.0, "Bearish", call_wall=100.5, put_wall=96.0)
    assert b.stop == pytest.approx(101.0) and b.reward_risk == pytest.approx(4.0)
    c = command_center.suggest_action(100.0, "Bullish", call_wall=105.0, put_wall=99.0)
    assert c.stop == 99.0 and c.stop_basis == "put wall (OI)"  # exactly 1 % away: the wall


def test_skew_reference_expiry_skips_0dte():
    e0, e1 = dt.date(2026, 11, 20), dt.date(2026, 11, 27)
    rows = [{"type": t, "strike": k} for t in ("call", "put") for k in (95, 100, 105)]
    chains = [_chain(make_chain(rows, expiry=e, T=T), expiry=e)
              for e, T in ((e0, 4.5 / (24 * 365)), (e1, 7 / 365))]
    r = whale_flows.whale_result("TEST", _quote(), chains)
    assert list(r.skew["dte"]) == [0, 7]
    assert list(whale_flows.skew_table([r], reference_only=True)["expiry"]) == [e1]
    only_0dte = whale_flows.whale_result("TEST", _quote(), chains[:1])
    assert list(whale_flows.skew_table([only_0dte], reference_only=True)["expiry"]) == [e0]


def test_neutral_action_is_to_wait():
    a = command_center.suggest_action(100.0, "Neutral", call_wall=110.0, put_wall=90.0)
    assert a.side == "wait" and a.target is None and a.stop is None and a.reward_risk is None


# --- the Command Center row --------------------------------------------------------------------

def _flow_frame():
    """Spot 100: heavy call buying at 100 (volume 1200 on OI 200), light put volume."""
    return make_chain([
        {"type": "call", "strike": 100, "volume": 1200, "open_interest": 200},
        {"type": "put", "strike": 100, "volume": 100, "open_interest": 200},
        {"type": "call", "strike": 104, "volume": 50, "open_interest": 1000},
        {"type": "put", "strike": 90, "volume": 20, "open_interest": 800},
    ], expiry=EXPIRY, spot=100.0)


def test_command_row_adds_up_every_component_by_hand():
    frame = _flow_frame()
    kl = _levels(abs_gamma_strike=105.0, call_wall_oi=104.0, put_wall_oi=90.0, pc_volume=1.0)
    row = command_center.command_row("TEST", _quote(), kl, frame, _rising(), {"short_share": 0.40},
                              EXPIRY)
    points = {c.key: c.points for c in row.score.components}
    assert points == {"gamma": -15,     # 100 below the abs. gamma strike 105
                      "premium": 20,    # 1200 calls vs 100 puts at similar mids
                      "whales": 10,     # the call's volume/OI 6 vs the put's 0.5
                      "pc": 10,         # flow expiry's P/C volume 120 / 1250 < 0.8
                      "trend": 15,      # a steady rise: C > E8 > E21 > E50 > E200
                      "walls": -10,     # call wall 4 away, put wall 10 away
                      "activity": 10,   # calls' volume/OI 6 > 5 and > 1.5 × puts' 0.5
                      "short": -10}     # 40 % short
    assert (row.score.value, row.score.band) == (80, "Bullish")
    assert "volume × current mid" in row.score.component("premium").detail
    call_mid = frame.loc[(frame["type"] == "call") & (frame["strike"] == 100), "mid"].iloc[0]
    assert row.call_premium == pytest.approx(1200 * call_mid * 100 + 50 * frame.loc[
        (frame["type"] == "call") & (frame["strike"] == 104), "mid"].iloc[0] * 100)
    assert row.max_vol_oi == pytest.approx(6.0)
    assert row.trend == "Strong up"
    assert (row.action.side, row.action.target, row.action.stop) == ("long", 104.0, 90.0)
    assert row.action.reward_risk == pytest.approx(4 / 10)
    assert row.change_pct == pytest.approx(100 * 2 / 98)
    assert row.flow == pytest.approx(row.call_premium + row.put_premium)


def test_put_side_fresh_money_subtracts_and_small_oi_does_not_count():
    # puts at 100: volume 1500 on OI 200 (7.5); calls: 300 on OI 200 (1.5); a call with OI 10
    # traded 1000 (volume/OI 100) is below the minimum OI and does not count
    frame = make_chain([
        {"type": "call", "strike": 100, "volume": 300, "open_interest": 200},
        {"type": "put", "strike": 100, "volume": 1500, "open_interest": 200},
        {"type": "call", "strike": 103, "volume": 1000, "open_interest": 10},
    ], expiry=EXPIRY, spot=100.0)
    row = command_center.command_row("TEST", _quote(), _levels(), frame, _rising(), None, EXPIRY)
    assert row.score.component("activity").points == -10
    assert row.max_vol_oi == pytest.approx(7.5)


def test_gamma_strike_within_one_listed_strike_scores_nothing():
    # spot 100 (the quote), abs. gamma strike 100.5 on a $0.5 listing: within one strike
    frame = make_chain([{"type": t, "strike": k} for t in ("call", "put")
                        for k in (99.5, 100.0, 100.5, 101.0)], expiry=EXPIRY)
    kl = _levels(abs_gamma_strike=100.5)
    row = command_center.command_row("TEST", _quote(), kl, frame, _rising(), None, EXPIRY,
                                     levels_strikes=frame["strike"])
    assert row.score.component("gamma").points == 0
    assert "within one strike" in row.score.component("gamma").detail
    far = command_center.command_row("TEST", _quote(), _levels(abs_gamma_strike=101.0), frame,
                                     _rising(), None, EXPIRY, levels_strikes=frame["strike"])
    assert far.score.component("gamma").points == -15


def test_command_row_without_short_volume_says_so():
    kl = _levels(abs_gamma_strike=105.0, call_wall_oi=104.0, put_wall_oi=90.0, pc_volume=1.0)
    row = command_center.command_row("TEST", _quote(), kl, _flow_frame(), _rising(), None, EXPIRY)
    assert row.score.component("short").points is None
    assert row.score.value == 90 and row.short is None


def test_command_row_without_underlying_volume_has_no_whale_component():
    kl = _levels(abs_gamma_strike=95.0)
    row = command_center.command_row("TEST", _quote(volume=0.0), kl, _flow_frame(), _rising(),
                              None, EXPIRY)
    assert row.best_call_whale is None and row.best_put_whale is None
    assert row.score.component("whales").points == 0


def test_card_series_keeps_30_days_and_computes_on_the_full_history():
    daily = _rising(60)
    card = command_center.card_series(daily)
    assert len(card.bars) == 30 and card.bars.index[-1] == daily.index[-1]
    assert card.sma10.iloc[-1] == pytest.approx(daily["close"].iloc[-10:].mean())
    assert card.sma10.notna().all() and card.ema21.notna().all()  # defined from the first bar
    assert set(card.crosses.columns) >= {"time", "direction", "price"}


def test_card_series_marks_a_macd_cross_inside_the_window():
    close = np.r_[200 - 0.02 * np.arange(80) ** 2, 200 - 0.02 * 79 ** 2 + 8 * np.arange(1, 5)]
    card = command_center.card_series(_daily(close))
    assert list(card.crosses["direction"]) == ["bullish"]
    t = card.crosses["time"].iloc[0]
    assert card.crosses["price"].iloc[0] == card.bars.loc[t, "close"]


# --- tables ------------------------------------------------------------------------------------

def _table():
    return pd.DataFrame({
        "symbol": ["AAA", "BBB", "CCC", "DDD"], "score": [80, 30, 55, 70],
        "band": ["Bullish", "Bearish", "Neutral", "Bullish"], "price": [10.0, 50.0, 20.0, 5.0],
        "flow": [1e6, 3e6, 2e6, 0.0], "max_vol_oi": [6.0, 1.0, np.nan, 3.0],
        "call_premium": [6e5, 1e6, 1.5e6, 0.0], "put_premium": [4e5, 2e6, 5e5, 0.0]})


def test_filter_by_band_and_min_volume_oi():
    t = _table()
    assert list(command_center.filter_table(t, ["Bullish"])["symbol"]) == ["AAA", "DDD"]
    assert list(command_center.filter_table(t, bias_score.BANDS, 3.0)["symbol"]) == ["AAA", "DDD"]
    assert list(command_center.filter_table(t, bias_score.BANDS, 0.0)["symbol"]) == [
        "AAA", "BBB", "CCC", "DDD"]


@pytest.mark.parametrize("by, order", [("Score", ["AAA", "DDD", "CCC", "BBB"]),
                                       ("Symbol", ["AAA", "BBB", "CCC", "DDD"]),
                                       ("Price", ["BBB", "CCC", "AAA", "DDD"]),
                                       ("Flow", ["BBB", "CCC", "AAA", "DDD"])])
def test_sort_orders(by, order):
    assert list(command_center.sort_table(_table(), by)["symbol"]) == order


def test_top_and_summary():
    t = _table()
    assert list(command_center.top(t, 2)["symbol"]) == ["AAA", "DDD"]
    s = command_center.summary(t)
    assert (s.count, s.bullish, s.neutral, s.bearish) == (4, 2, 1, 1)
    assert s.average == pytest.approx((80 + 30 + 55 + 70) / 4)
    assert (s.call_premium, s.put_premium) == (pytest.approx(3.1e6), pytest.approx(2.9e6))
    assert command_center.summary(t.iloc[0:0]).average is None


def test_command_table_has_one_line_per_row_in_order():
    kl = _levels(abs_gamma_strike=105.0, call_wall_oi=104.0, put_wall_oi=90.0, pc_volume=1.0)
    rows = [command_center.command_row(s, _quote(), kl, _flow_frame(), _rising(), None, EXPIRY)
            for s in ("ZZZ", "AAA")]
    rows = [dataclasses.replace(r, symbol=s) for r, s in zip(rows, ("ZZZ", "AAA"))]
    table = command_center.command_table(rows)
    assert list(table.columns) == command_center.COMMAND_COLUMNS
    assert list(table["symbol"]) == ["ZZZ", "AAA"]
    assert table["score"].tolist() == [90, 90] and table["short_share"].isna().all()


# --- the watchlist row -------------------------------------------------------------------------

def test_percent_of_and_premium_total():
    assert dashboard.percent_of(2.0, 400.0) == pytest.approx(0.5)
    assert dashboard.percent_of(None, 100.0) is None and dashboard.percent_of(1.0, 0.0) is None
    assert whale_flows.premium_total(pd.DataFrame({"premium": [1e5, 2.5e5]})) == 3.5e5
    assert whale_flows.premium_total(pd.DataFrame({"premium": []})) == 0.0


def test_skipped_symbols_are_grouped_by_reason():
    lines = scans.skipped_lines({"A": "timed out", "B": "not found", "C": "timed out"})
    assert lines == ["**timed out** — A, C", "**not found** — B"]
    assert scans.skipped_lines({}) == []


def test_money_format():
    assert [scans.money(v) for v in (1.234e6, 456_000, 789, -86.42e6, 2.5e9, None)] == \
        ["$1.23M", "$456k", "$789", "−$86.42M", "$2.50B", "n/a"]


def test_wall_distance_and_gex_sign():
    assert dashboard.wall_distance_pct(100.0, 105.0) == pytest.approx(5.0)
    assert dashboard.wall_distance_pct(200.0, 190.0) == pytest.approx(-5.0)
    assert dashboard.wall_distance_pct(100.0, None) is None
    assert [dashboard.gex_sign(x) for x in (1e6, -3.0, 0.0, None)] == ["+", "−", "0", "n/a"]


def _v_shape():
    """An accelerating decline for 80 sessions, then four sharp up days."""
    return np.r_[200 - 0.02 * np.arange(80) ** 2, 200 - 0.02 * 79 ** 2 + 8 * np.arange(1, 5)]


def test_macd_signal_in_a_decline_then_a_turn():
    down = pd.Series(200 - 0.02 * np.arange(80) ** 2)
    assert dashboard.macd_signal(down) == dashboard.MacdSignal("below", None, None)
    close = pd.Series(_v_shape())
    from core.analytics import technicals
    hist = technicals.macd(close)["hist"]
    first_up = int(np.flatnonzero((hist > 0).to_numpy())[0])  # where MACD crosses above
    expected_ago = len(close) - 1 - first_up
    sig = dashboard.macd_signal(close)
    assert sig == dashboard.MacdSignal("above", "bullish", expected_ago)
    assert dashboard.macd_signal(close, lookback=expected_ago).cross is None  # too old
    assert "bullish cross" in dashboard.macd_label(sig)
    assert dashboard.macd_label(dashboard.MacdSignal("below", None, None)) == "below signal"
    assert dashboard.macd_label(dashboard.MacdSignal(None, None, None)) == "–"


def test_watch_row_from_hand_built_levels_and_bars():
    closes = np.r_[50 + 0.2 * np.arange(249), 50 + 0.2 * 248 + 5.0]  # last bar jumps out
    kl = _levels(atm_iv=0.25, pc_volume=0.7, net_gex=-2e6, call_wall_oi=105.0, put_wall_oi=95.0)
    row = dashboard.watch_row("TEST", _quote(), kl, _daily(closes), EXPIRY)
    assert row.call_wall_pct == pytest.approx(5.0) and row.put_wall_pct == pytest.approx(-5.0)
    assert row.trend == "Strong up" and row.breakout == "up" and row.squeeze is False
    table = dashboard.watch_table([row])
    assert list(table.columns) == dashboard.WATCH_COLUMNS
    line = table.iloc[0]
    assert line["atm_iv_pct"] == pytest.approx(25.0) and line["net_gex_sign"] == "−"
    assert line["breakout"] == "▲ 20-day high"


def test_watch_row_sees_a_squeeze_in_a_quiet_range():
    # alternating closes +-0.1 with wide daily ranges: 2 sd of closes << 1.5 ATR
    closes = 100 + 0.1 * (-1) ** np.arange(60)
    row = dashboard.watch_row("TEST", _quote(), _levels(), _daily(closes, spread=2.0), EXPIRY)
    assert row.squeeze is True and row.breakout is None


# --- the trading dashboard's one-symbol helpers ------------------------------------------------

def _intraday(day, closes, start="09:30"):
    idx = pd.date_range(pd.Timestamp(f"{day} {start}", tz=ET), periods=len(closes), freq="5min")
    c = np.asarray(closes, dtype="float64")
    return pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 100},
                        index=idx)


def test_price_context_on_intraday_bars():
    bars = pd.concat([_intraday("2026-11-19", [100, 104, 98, 101]),
                      _intraday("2026-11-20", [110, 112, 108, 111, 109, 115, 120])])
    ctx = dashboard.price_context(bars, intraday=True)
    assert ctx.prev_day.day == dt.date(2026, 11, 19)
    assert (ctx.prev_day.high, ctx.prev_day.low) == (105.0, 97.0)
    # opening range: bars starting 09:30-09:55 of the 20th (the first six)
    assert (ctx.opening.high, ctx.opening.low, ctx.opening.complete) == (116.0, 107.0, True)
    assert list(ctx.overlays) == ["VWAP"]
    assert ctx.overlays["VWAP"].iloc[-1] == pytest.approx(np.mean([110, 112, 108, 111, 109,
                                                                   115, 120]))


def test_price_context_on_daily_bars_on_a_weekend():
    bars = _rising(60)  # ends Friday 20 Nov
    ctx = dashboard.price_context(bars, intraday=False)
    assert ctx.opening is None and set(ctx.overlays) == {"EMA 21", "EMA 50"}
    assert ctx.prev_day.day == dt.date(2026, 11, 19)  # the session before the last bar
    assert ctx.rsi == pytest.approx(100.0)  # only gains


def test_gex_heatmap_one_column_per_expiry_capped_to_strikes_near_spot():
    e1, e2 = dt.date(2026, 11, 27), dt.date(2026, 12, 18)
    rows = [{"type": t, "strike": k, "open_interest": 100} for t in ("call", "put")
            for k in (90, 95, 100, 105, 110)]
    c1 = _chain(make_chain(rows, expiry=e1, T=7 / 365), expiry=e1)
    c2 = _chain(make_chain(rows + [{"type": "call", "strike": 130, "open_interest": 5}],
                           expiry=e2, T=28 / 365), expiry=e2)
    wide = dashboard.gex_heatmap([c1, c2], strikes=3)
    assert list(wide.columns) == [e1, e2]
    assert list(wide.index) == [95.0, 100.0, 105.0]
    full = dashboard.gex_heatmap([c1, c2], strikes=40)
    assert np.isnan(full.loc[130.0, e1]) and full.loc[130.0, e2] > 0  # listed in e2 only


def test_unusual_table_adds_the_side_and_hides_absurd_ivs():
    traded = pd.Timestamp("2026-11-20 15:00", tz="UTC")  # 10:00 ET, after the open
    rows = [{"type": "call", "strike": 100, "volume": 900, "open_interest": 200, "last": 3.0,
             "bid": 2.9, "ask": 3.0, "last_trade": traded},
            {"type": "put", "strike": 95, "volume": 700, "open_interest": 300, "last": 1.0,
             "bid": 1.0, "ask": 1.1, "last_trade": traded, "iv": 0.3, "iv_ok": False},
            {"type": "put", "strike": 90, "volume": 100, "open_interest": 300}]  # not unusual
    frame = make_chain(rows, expiry=EXPIRY)
    open_ = dashboard.unusual_table([_chain(frame)])
    assert list(open_["strike"]) == [100.0, 95.0]  # by premium: 900 x 2.95 x 100 first
    assert list(open_["side"]) == ["ask", "bid"]
    assert open_["iv"].iloc[0] == pytest.approx(0.20) and np.isnan(open_["iv"].iloc[1])
    closed = dashboard.unusual_table([_chain(frame, as_of=SATURDAY)])
    assert closed["side"].isna().all()  # no side proxy when the market is closed
    assert dashboard.unusual_table([_chain(frame.iloc[0:0])]).empty


# --- whale flows -------------------------------------------------------------------------------

def _whale_frame():
    traded = pd.Timestamp("2026-11-20 15:00", tz="UTC")
    return make_chain([
        {"type": "call", "strike": 102, "volume": 2000, "open_interest": 100,
         "last_trade": traded},                                      # the whale; fresh (20x)
        {"type": "put", "strike": 98, "volume": 300, "open_interest": 100,
         "last_trade": traded},                                      # smaller; fresh (3x)
        {"type": "call", "strike": 108, "volume": 5000, "open_interest": 100},  # > 5 % away
        {"type": "put", "strike": 100, "volume": 100, "open_interest": 100},
        {"type": "call", "strike": 100, "volume": 100, "open_interest": 100},
    ], expiry=EXPIRY, spot=100.0, T=28 / 365)


def test_whale_result_ranks_whales_and_fresh_positions_near_spot():
    quote = _quote(price=100.0, volume=2_000_000.0)
    result = whale_flows.whale_result("TEST", quote, [_chain(_whale_frame())])
    assert result.dollar_volume == pytest.approx(2e8)
    assert list(result.whales.columns) == whale_flows.WHALE_COLUMNS
    assert list(zip(result.whales["type"], result.whales["strike"]))[:2] == [("call", 102.0),
                                                                            ("put", 98.0)]
    assert 108.0 not in set(result.whales["strike"])  # outside +-5 %
    assert result.whales["whale_score"].is_monotonic_decreasing
    assert set(result.whales["side"]) <= {"ask", "bid", "mid", None}
    fresh = result.fresh
    assert set(zip(fresh["type"], fresh["strike"])) == {("call", 102.0), ("put", 98.0),
                                                        ("call", 108.0)}  # +-10 %, vol/OI >= 3
    assert (result.whales["symbol"] == "TEST").all() and not result.notes


def test_whale_result_leaves_0dte_out_of_fresh_positioning():
    frame = _whale_frame().assign(expiry=FRIDAY.date())  # the same flow, expiring today
    result = whale_flows.whale_result("TEST", _quote(volume=2_000_000.0),
                                      [_chain(frame, expiry=FRIDAY.date())])
    assert result.fresh.empty and not result.whales.empty


def test_whale_result_without_day_volume_has_a_note_and_no_whales():
    result = whale_flows.whale_result("TEST", _quote(volume=0.0), [_chain(_whale_frame())])
    assert result.whales.empty and len(result.notes) == 1 and "share volume" in result.notes[0]
    assert not result.fresh.empty  # fresh positioning does not need the stock's volume


def test_skew_row_hides_0dte_skew_and_strips_intrinsic_value():
    T = 1 / 8760  # an hour left on a 0DTE
    rows = [{"type": "put", "strike": k, "iv": iv, "delta": d}
            for k, iv, d in ((95, 1.30, -0.01), (99, 0.40, -0.30), (100, 0.30, -0.45))]
    rows += [{"type": "call", "strike": 100, "iv": 0.30, "delta": 0.55},
             {"type": "call", "strike": 101, "iv": 0.30, "delta": 0.20},
             {"type": "call", "strike": 102, "iv": 0.30, "delta": 0.05}]
    frame = make_chain(rows, expiry=FRIDAY.date(), spot=100.5, T=T)
    row = whale_flows.skew_row("TEST", frame, 100.5, T, FRIDAY.date(), FRIDAY.date())
    assert row["dte"] == 0 and row["rr25_pts"] is None and row["atm_skew_pts"] is None
    mids = frame[frame["strike"] == 100].set_index("type")["mid"]
    assert row["straddle"] == pytest.approx(mids["call"] + mids["put"] - 0.5)
    assert row["breakout_high"] == pytest.approx(100.5 + row["straddle"])
    # the same chain a day out shows its skew (deltas bracket 25Δ on both sides)
    later = whale_flows.skew_row("TEST", frame, 100.5, T, FRIDAY.date(),
                                 FRIDAY.date() - dt.timedelta(days=1))
    # call 25Δ between 0.20 and 0.55, both 30 %; put −0.25 between −0.30 (40 %) and −0.01 (130 %)
    put_iv = 0.40 + (1.30 - 0.40) * (0.05 / 0.29)
    assert later["rr25_pts"] == pytest.approx((0.30 - put_iv) * 100)


def test_skew_row_by_hand():
    T = 28 / 365
    frame = make_chain([{"type": "call", "strike": 100, "iv": 0.25},
                        {"type": "put", "strike": 100, "iv": 0.25}], expiry=EXPIRY,
                       spot=100.0, T=T)
    row = whale_flows.skew_row("TEST", frame, 100.0, T, EXPIRY, dt.date(2026, 11, 20), 1.5)
    straddle = frame["mid"].sum()  # spot on the strike: no intrinsic value
    assert row["straddle"] == pytest.approx(straddle)
    assert (row["breakout_low"], row["breakout_high"]) == (pytest.approx(100 - straddle),
                                                           pytest.approx(100 + straddle))
    sigma = 100 * 0.25 * math.sqrt(T)
    assert row["sigma_high"] == pytest.approx(100 + sigma)
    assert row["move_pct"] == pytest.approx(sigma)
    assert row["atm_iv_pct"] == pytest.approx(25.0) and row["dte"] == 28
    assert math.isnan(row["rr25_pts"])  # no 25-delta wings in a one-strike chain


def test_whale_fresh_and_skew_tables_filter_and_rank():
    a = whale_flows.whale_result("AAA", _quote(volume=2e6), [_chain(_whale_frame())])
    b = whale_flows.whale_result("BBB", _quote(volume=1e6), [_chain(_whale_frame())])
    both = whale_flows.whale_table([a, b], top_n=1)
    assert list(both["symbol"]) == ["BBB", "AAA"]  # half the stock volume: twice the score
    assert both["whale_score"].is_monotonic_decreasing
    cut = a.whales["whale_score"].iloc[0]  # AAA's best score
    above = whale_flows.whale_table([a, b], min_score=cut + 1e-9, top_n=5)
    assert len(above) >= 1 and set(above["symbol"]) == {"BBB"}
    assert (above["whale_score"] > cut).all()
    assert whale_flows.whale_table([a, b], min_score=1e12).empty
    assert len(whale_flows.fresh_table([a, b], top_n=2)) == 4
    assert len(whale_flows.skew_table([a, b], reference_only=True)) == 2


# --- scan tasks on the simulated market ----------------------------------------------------------

def test_command_task_on_the_simulated_market():
    row = command_center.command_task("AAPL", source=fetch)
    assert row.symbol == "AAPL" and row.expiry == fetch.expirations("AAPL")[0]
    assert row.flow_expiry > clock.today()  # flow components never read a 0DTE
    assert 0 <= row.score.value <= 100 and len(row.score.components) == 8
    assert row.score.value == bias_score.total_score(row.score.components)
    assert row.short is not None and row.score.component("short").included
    assert len(row.card.bars) == command_center.CARD_DAYS


def test_an_index_has_no_short_volume_and_the_score_leaves_it_out():
    row = command_center.command_task("^SPX", source=fetch)
    assert row.short is None and not row.score.component("short").included


def test_watch_and_whale_tasks_on_the_simulated_market():
    row = dashboard.watch_task("SPY", source=fetch)
    assert row.atm_iv is not None and row.trend in bias_score.TREND_POINTS
    result = whale_flows.whale_task("NVDA", source=fetch, expiries=3)
    assert len(result.skew) == 3 and list(result.skew["expiry"]) == fetch.expirations("NVDA")[:3]
    assert not result.whales.empty and set(result.whales["expiry"]) <= set(result.skew["expiry"])


def test_tasks_on_saturday_use_the_next_expiry_and_no_side():
    with clock.frozen("2026-11-21 12:00"):
        fetch.reset()
        row = command_center.command_task("SPY", source=fetch)
        assert row.expiry == dt.date(2026, 11, 23)
        result = whale_flows.whale_task("SPY", source=fetch, expiries=1)
        assert result.whales["side"].isna().all()


class _NoExpiries:
    """A source listing no expiries for anything (the rest is the simulated market)."""

    def __getattr__(self, name):
        return getattr(fetch, name)

    def expirations(self, symbol):
        return []


def test_a_symbol_without_expiries_raises_no_expiry():
    for task in (command_center.command_task, dashboard.watch_task, whale_flows.whale_task):
        with pytest.raises(NoExpiry):
            task("AAPL", source=_NoExpiries())


def test_ten_sessions_share_one_scan_and_one_fetch_per_key(upstream):
    syms = ["AAPL", "MSFT", "SPY"]
    task = functools.partial(command_center.command_task, source=fetch)
    with cf.ThreadPoolExecutor(10) as pool:
        jobs = list(pool.map(lambda _: fetch.scan("command", task, syms), range(10)))
    assert all(j is jobs[0] for j in jobs) and jobs[0].wait(60)
    assert [s for s, _ in jobs[0].ordered_results()] == syms and not jobs[0].skipped
    for kind in ("quote", "expirations", "history"):
        assert upstream.calls[kind] == len(syms), kind
    # two chains per symbol whose nearest expiry is today: levels (0DTE) and flow (next one)
    chains = sum(2 if fetch.expirations(s)[0] == clock.today() else 1 for s in syms)
    assert upstream.calls["chain"] == chains
