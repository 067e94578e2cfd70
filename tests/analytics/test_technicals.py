"""Technicals on constructed bars whose answers are known by hand or from a textbook example."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core.analytics import technicals as ta

ET = "America/New_York"


def _daily(close, spread=0.5):
    """Daily bars (midnight ET, business days) from closes; high/low = close ± spread."""
    close = np.asarray(close, dtype="float64")
    idx = pd.date_range("2025-01-02", periods=len(close), freq="B", tz=ET)
    return pd.DataFrame({"open": close, "high": close + spread, "low": close - spread,
                         "close": close, "volume": 1_000_000}, index=idx)


def _intraday(day, rows, start="09:30", minutes=5):
    """5-min bars on ``day`` from (high, low, close, volume) tuples."""
    idx = pd.date_range(pd.Timestamp(f"{day} {start}", tz=ET), periods=len(rows),
                        freq=f"{minutes}min")
    h, lo, c, v = zip(*rows)
    return pd.DataFrame({"open": c, "high": h, "low": lo, "close": c, "volume": v}, index=idx)


# ----------------------------------------------------------------------------- EMA / SMA

def test_ema_seeded_with_sma_then_recursive():
    # span 3: alpha 0.5; seed SMA(1, 2, 3) = 2; then 0.5*4 + 0.5*2 = 3; 0.5*5 + 0.5*3 = 4
    got = ta.ema(pd.Series([1.0, 2, 3, 4, 5]), 3)
    assert got.iloc[:2].isna().all()
    assert got.iloc[2:].tolist() == pytest.approx([2.0, 3.0, 4.0])


def test_ema_skips_leading_nans():
    got = ta.ema(pd.Series([np.nan, np.nan, 1.0, 2, 3, 4]), 3)
    assert got.iloc[:4].isna().all()
    assert got.iloc[4:].tolist() == pytest.approx([2.0, 3.0])


def test_ema_too_short_is_all_nan():
    assert ta.ema(pd.Series([1.0, 2.0]), 3).isna().all()


def test_sma():
    got = ta.sma(pd.Series([1.0, 2, 3, 4]), 2)
    assert math.isnan(got.iloc[0])
    assert got.iloc[1:].tolist() == pytest.approx([1.5, 2.5, 3.5])


# ----------------------------------------------------------------------------- EMA stack

RISE = np.arange(100.0, 350.0)  # 250 closes, +1 a day


@pytest.mark.parametrize("close, label", [
    (RISE, "Strong up"),
    (1000.0 - RISE, "Strong down"),
    # last close 5 below the prior: under EMA8 (~3.8 below) but above EMA21 (~9.5 below)
    (np.append(RISE, RISE[-1] - 5), "Up"),
    (np.append(1000.0 - RISE, 1000.0 - RISE[-1] + 5), "Down"),
    # last close between EMA21 (~9.5 below the prior) and EMA50 (~24 below)
    (np.append(RISE, RISE[-1] - 15), "Mixed"),
    (np.full(250, 100.0), "Mixed"),
    (RISE[:100], "Up"),     # no EMA200 yet: "Strong" cannot be reached
    (RISE[:40], "Mixed"),   # no EMA50 yet
])
def test_ema_stack_branches(close, label):
    assert ta.ema_stack(pd.Series(close)) == label


# ----------------------------------------------------------------------------- RSI

# The classic 14-day Wilder RSI worked example (closes of a stock over 33 sessions).
WILDER_CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
                 46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25,
                 45.71, 46.45, 45.78, 45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13]
WILDER_RSI = [70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67,
              50.39, 40.02, 41.49, 41.90, 45.50, 37.32, 33.09, 37.79]


def test_rsi_wilder_example():
    got = ta.rsi(pd.Series(WILDER_CLOSES), 14)
    assert got.iloc[:14].isna().all()
    # by hand: the first 14 changes gain 3.34 and lose 1.40 in total
    # -> RS = (3.34/14) / (1.40/14) = 2.3857, RSI = 100 - 100 / 3.3857 = 70.464
    assert got.iloc[14] == pytest.approx(100 - 100 / (1 + 3.34 / 1.40), abs=1e-9)
    # Wilder smoothing from there: avg = (prev * 13 + today) / 14
    assert got.iloc[14:].round(2).tolist() == pytest.approx(WILDER_RSI, abs=1e-9)


def test_rsi_extremes():
    assert ta.rsi(pd.Series(np.arange(30.0)), 14).iloc[-1] == 100.0
    assert ta.rsi(pd.Series(np.arange(30.0, 0, -1)), 14).iloc[-1] == pytest.approx(0.0)
    assert ta.rsi(pd.Series(np.full(30, 5.0)), 14).iloc[-1] == 50.0


# ----------------------------------------------------------------------------- MACD

def test_macd_columns_are_consistent():
    close = pd.Series(100 + np.sin(np.arange(80) / 5.0))
    m = ta.macd(close)
    assert list(m.columns) == ["macd", "signal", "hist"]
    pd.testing.assert_series_equal(m["macd"], ta.ema(close, 12) - ta.ema(close, 26),
                                   check_names=False)
    assert m["signal"].first_valid_index() == 26 + 9 - 2  # 33
    assert np.allclose((m["macd"] - m["signal"]).dropna(), m["hist"].dropna())


def test_macd_crosses_on_hand_made_histogram():
    hist = [np.nan, -1.0, -0.5, 0.0, 0.3, 0.2, -0.1, 0.0, -0.2, 0.0, 0.4]
    idx = pd.date_range("2026-01-05", periods=len(hist), freq="B", tz=ET)
    m = pd.DataFrame({"macd": 0.0, "signal": 0.0, "hist": hist}, index=idx)
    got = ta.macd_crosses(m)
    # a zero carries the previous sign: -0.1, 0.0, -0.2 is a touch, not two crosses
    assert list(zip(got["time"], got["direction"])) == [
        (idx[4], "bullish"), (idx[6], "bearish"), (idx[10], "bullish")]


def test_macd_crosses_on_a_v_then_a_peak():
    # flat, then down 40 days, up 40 days, down 40 days: the MACD crosses its signal upward
    # just after the trough and downward just after the peak, and nowhere else
    close = np.concatenate([np.full(50, 100.0), 100 - 0.5 * np.arange(1, 41),
                            80 + 0.5 * np.arange(1, 41), 100 - 0.5 * np.arange(1, 41)])
    bars = _daily(close)
    got = ta.macd_crosses(ta.macd(bars["close"]))
    trough, peak = bars.index[89], bars.index[129]
    assert got["direction"].tolist() == ["bullish", "bearish"]
    assert trough < got["time"].iloc[0] <= trough + pd.offsets.BDay(3)
    assert peak < got["time"].iloc[1] <= peak + pd.offsets.BDay(3)


# ----------------------------------------------------------------------------- VWAP

def test_vwap_by_hand_and_reset_each_day():
    day1 = _intraday("2026-11-19", [(11, 9, 10, 100),     # typical 10
                                    (12, 10, 11, 300),    # typical 11
                                    (13, 11, 9, 600)])    # typical 11
    day2 = _intraday("2026-11-20", [(21, 19, 20, 0),      # no volume yet
                                    (21, 19, 20, 50)])    # typical 20
    got = ta.vwap(pd.concat([day1, day2]))
    # (10*100) / 100; (1000 + 11*300) / 400; (4300 + 11*600) / 1000
    assert got.iloc[:3].tolist() == pytest.approx([10.0, 10.75, 10.9])
    assert math.isnan(got.iloc[3])
    assert got.iloc[4] == pytest.approx(20.0)


# ----------------------------------------------------------------------------- day ranges

def _three_days():
    return pd.concat([
        _intraday("2026-11-18", [(101, 99, 100, 1), (103, 100, 102, 1)]),
        _intraday("2026-11-19", [(105, 101, 104, 1), (106, 102, 103, 1), (104, 98, 99, 1)]),
        _intraday("2026-11-20", [(120, 90, 100, 1)]),
    ])


def test_previous_day_high_low_from_intraday_bars():
    assert ta.previous_day_high_low(_three_days(), dt.date(2026, 11, 20)) == (
        dt.date(2026, 11, 19), 106.0, 98.0)


def test_previous_day_high_low_on_a_weekend_is_the_last_session():
    assert ta.previous_day_high_low(_three_days(), dt.date(2026, 11, 21)).day == dt.date(
        2026, 11, 20)


def test_previous_day_high_low_from_daily_bars_and_none_before():
    daily = _daily([100.0, 110.0, 120.0], spread=2.0)  # 2025-01-02, 03, 06
    assert ta.previous_day_high_low(daily, dt.date(2025, 1, 6)) == (dt.date(2025, 1, 3),
                                                                     112.0, 108.0)
    assert ta.previous_day_high_low(daily, dt.date(2025, 1, 2)) is None


def test_opening_range_of_the_latest_day():
    earlier = _intraday("2026-11-19", [(200, 10, 100, 1)] * 8)
    rows = [(101, 99, 100, 1), (102, 100, 101, 1), (100, 97, 98, 1), (101, 98, 100, 1),
            (103, 99, 102, 1), (102, 100, 101, 1),    # 09:30 .. 09:55: the range
            (110, 90, 95, 1)]                         # 10:00: outside it
    got = ta.opening_range(pd.concat([earlier, _intraday("2026-11-20", rows)]), minutes=30)
    assert got.day == dt.date(2026, 11, 20)
    assert (got.high, got.low) == (103.0, 97.0)
    assert got.start == pd.Timestamp("2026-11-20 09:30", tz=ET)
    assert got.end == pd.Timestamp("2026-11-20 10:00", tz=ET)
    assert got.complete


def test_opening_range_still_forming():
    got = ta.opening_range(_intraday("2026-11-20", [(101, 99, 100, 1), (104, 98, 100, 1)]))
    assert (got.high, got.low, got.complete) == (104.0, 98.0, False)
    assert ta.opening_range(_intraday("2026-11-20", [(1, 1, 1, 1)]).iloc[0:0]) is None


# ----------------------------------------------------------------------------- squeeze, breakout

def test_squeeze_on_for_a_quiet_series_off_for_a_trend():
    quiet = _daily(100 + 0.1 * np.resize([1.0, -1.0], 40), spread=1.0)
    # sigma20 = 0.1, so 2*sigma = 0.2 < 1.5 * ATR20 (true range 2.0) = 3.0
    assert ta.squeeze(quiet)
    trend = _daily(100 + np.arange(40.0), spread=0.25)
    # sigma20 of a +1/day ramp = 5.77, 2*sigma = 11.5 > 1.5 * ATR20 (1.25) = 1.9
    assert not ta.squeeze(trend)
    assert not ta.squeeze(quiet.iloc[:10])  # too short to judge


def test_true_range_uses_the_previous_close():
    bars = pd.DataFrame({"high": [10.0, 12.0, 9.0], "low": [9.0, 11.0, 8.0],
                         "close": [9.5, 11.5, 8.5]})
    # bar 2: gap up, |12 - 9.5| = 2.5; bar 3: gap down, |8 - 11.5| = 3.5
    assert ta.true_range(bars).tolist() == [1.0, 2.5, 3.5]


def test_breakout_against_the_prior_20_bars():
    base = [100.0, 101.0] * 10  # spread 0.5: highs <= 101.5, lows >= 99.5
    assert ta.breakout(_daily(base + [101.6])) == "up"
    assert ta.breakout(_daily(base + [101.5])) is None   # equal to the 20-day high
    assert ta.breakout(_daily(base + [99.4])) == "down"
    assert ta.breakout(_daily(base + [99.5])) is None    # equal to the 20-day low
    assert ta.breakout(_daily(base + [100.5])) is None
    assert ta.breakout(_daily(base)) is None             # 20 bars: no prior 20 to beat
    # the last bar's own high does not count: _daily gives it high = close + 0.5
    assert ta.breakout(_daily(base * 2 + [105.0])) == "up"
