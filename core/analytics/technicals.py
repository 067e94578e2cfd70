"""Price-bar technicals: moving averages, EMA stack, RSI, MACD, VWAP, day ranges, squeeze.

Bars are a DataFrame indexed by tz-aware timestamps (America/New_York; a bar is stamped at its
START, as Yahoo does) with columns ``open high low close volume``. Daily bars are stamped at
midnight ET of their session day. Prices are in the underlying's currency per share, volume in
shares. Nothing here reads a clock: "today" is an argument.

Conventions shared by every indicator:

- An indicator is NaN until it has enough bars (an EMA of span n needs n closes) — a value
  built on too little history is not shown as if it were real.
- EMA(n): alpha = 2 / (n + 1), seeded with the simple mean of the first n closes, then
  EMA_t = alpha·x_t + (1 − alpha)·EMA_{t−1}.
- Wilder smoothing(n): the same recursion with alpha = 1 / n, seeded with the simple mean of
  the first n values.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

ET = ZoneInfo("America/New_York")
STACK_SPANS = (8, 21, 50, 200)
STACK_LABELS = ("Strong up", "Up", "Mixed", "Down", "Strong down")


def _seeded_ewm(series: pd.Series, span_n: int, alpha: float) -> pd.Series:
    """Recursive average with weight ``alpha``, seeded by the SMA of the first ``span_n`` values
    after any leading NaNs; NaN before the seed."""
    x = series.astype("float64")
    out = pd.Series(np.nan, index=x.index, dtype="float64")
    first = x.first_valid_index()
    if first is None:
        return out
    start = x.index.get_loc(first)
    if len(x) - start < span_n:
        return out
    tail = x.iloc[start + span_n - 1:].copy()
    tail.iloc[0] = x.iloc[start:start + span_n].mean()
    out.iloc[start + span_n - 1:] = tail.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def ema(series: pd.Series, span: int) -> pd.Series:
    """Exponential moving average, same units as ``series``.

    alpha = 2 / (span + 1); seeded with the SMA of the first ``span`` values (NaN before):
    EMA_t = alpha·x_t + (1 − alpha)·EMA_{t−1}.
    """
    return _seeded_ewm(series, span, 2.0 / (span + 1.0))


def sma(series: pd.Series, window: int) -> pd.Series:
    """Simple moving average over the last ``window`` values (NaN until ``window`` exist)."""
    return series.astype("float64").rolling(window, min_periods=window).mean()


def ema_stack(close: pd.Series) -> str:
    """Trend label from the last close and its EMAs 8/21/50/200 (daily closes).

    With C the last close and E8, E21, E50, E200 the last EMA values:

    - "Strong up":   C > E8 > E21 > E50 > E200
    - "Up":          C > E21 > E50            (and not Strong up)
    - "Strong down": C < E8 < E21 < E50 < E200
    - "Down":        C < E21 < E50            (and not Strong down)
    - "Mixed":       anything else

    An EMA without enough history is NaN and every comparison with it is False: with fewer
    than 200 closes the "Strong" labels cannot occur, with fewer than 50 the answer is "Mixed".
    """
    if not len(close):
        return "Mixed"
    c = float(close.iloc[-1])
    e8, e21, e50, e200 = (float(ema(close, n).iloc[-1]) for n in STACK_SPANS)
    if c > e8 > e21 > e50 > e200:
        return "Strong up"
    if c < e8 < e21 < e50 < e200:
        return "Strong down"
    if c > e21 > e50:
        return "Up"
    if c < e21 < e50:
        return "Down"
    return "Mixed"


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI, 0–100.

    Change_t = C_t − C_{t−1}; gain = max(change, 0), loss = max(−change, 0). The average gain
    and loss start as the simple mean of the first ``period`` changes and then follow Wilder:
    avg_t = (avg_{t−1}·(period − 1) + x_t) / period. RSI = 100 − 100 / (1 + avg gain / avg
    loss); 100 when avg loss is 0 < avg gain, 50 when both are 0 (a flat series). NaN for the
    first ``period`` bars. Above 70 is commonly read as overbought, below 30 as oversold.
    """
    change = close.astype("float64").diff()
    gain = _seeded_ewm(change.clip(lower=0.0), period, 1.0 / period)
    loss = _seeded_ewm((-change).clip(lower=0.0), period, 1.0 / period)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = value.mask((loss == 0) & (gain > 0), 100.0).mask((loss == 0) & (gain == 0), 50.0)
    return value


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD in price units: columns ``macd``, ``signal``, ``hist``.

    macd = EMA(fast) − EMA(slow); signal = EMA(signal) of macd; hist = macd − signal.
    hist > 0 = MACD above its signal line (bullish momentum). NaN until enough closes
    (slow + signal − 1 for the signal line).
    """
    line = ema(close, fast) - ema(close, slow)
    sig = ema(line, signal)
    return pd.DataFrame({"macd": line, "signal": sig, "hist": line - sig}, index=close.index)


def macd_crosses(m: pd.DataFrame) -> pd.DataFrame:
    """Where MACD crosses its signal line, from a :func:`macd` frame.

    A cross is a change of sign of ``hist`` (zeros carry the previous sign, so touching the
    signal line and turning back is not a cross). Returns columns ``time`` (the bar's index
    value where the new sign first shows) and ``direction``: "bullish" when MACD moves above
    the signal (hist − to +), "bearish" when below (hist + to −). Oldest first.
    """
    sign = np.sign(m["hist"]).replace(0.0, np.nan).ffill()
    prev = sign.shift(1)
    hit = sign.notna() & prev.notna() & (sign != prev)
    return pd.DataFrame({
        "time": m.index[hit.to_numpy()],
        "direction": np.where(sign[hit] > 0, "bullish", "bearish"),
    })


def _session_day(index: pd.DatetimeIndex) -> np.ndarray:
    """The ET calendar day of each bar (array of datetime.date)."""
    return index.tz_convert(ET).date


def vwap(bars: pd.DataFrame) -> pd.Series:
    """Session VWAP per bar, resetting at each ET calendar day ($ per share).

    VWAP_t = Σ typical_i·volume_i / Σ volume_i over the day's bars up to and including t,
    typical = (high + low + close) / 3. NaN while the day's cumulative volume is 0.
    """
    day = _session_day(bars.index)
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    vol = bars["volume"].astype("float64")
    cum_pv = (typical * vol).groupby(day).cumsum()
    cum_v = vol.groupby(day).cumsum()
    return (cum_pv / cum_v.where(cum_v > 0)).rename("vwap")


class DayRange(NamedTuple):
    """A session's high and low ($ per share)."""

    day: dt.date
    high: float
    low: float


def previous_day_high_low(bars: pd.DataFrame, today: dt.date) -> DayRange | None:
    """High and low of the latest ET day in ``bars`` strictly before ``today``.

    Works on intraday or daily bars (the day's max ``high`` / min ``low``). The bars are used as
    given: pass regular-session bars for the usual regular-hours range. None if no earlier day.
    """
    day = pd.Series(_session_day(bars.index), index=bars.index)
    before = day < today
    if not before.any():
        return None
    last = day[before].max()
    sel = (day == last).to_numpy()
    return DayRange(last, float(bars["high"][sel].max()), float(bars["low"][sel].min()))


class OpeningRange(NamedTuple):
    """High and low of a session's first minutes. ``complete`` is False while still forming."""

    day: dt.date
    start: pd.Timestamp
    end: pd.Timestamp
    high: float
    low: float
    complete: bool


def opening_range(bars: pd.DataFrame, minutes: int = 30) -> OpeningRange | None:
    """Opening range of the latest ET day in intraday ``bars``.

    start = that day's first bar; the range is the max ``high`` / min ``low`` of the bars that
    START in [start, start + minutes). ``complete`` is True once the day has a bar starting at
    or after start + minutes (before that the range may still widen). None for no bars.
    """
    if not len(bars):
        return None
    day = _session_day(bars.index)
    latest = day.max()
    today = bars[day == latest]
    start = today.index.min()
    end = start + pd.Timedelta(minutes=minutes)
    window = today[today.index < end]
    return OpeningRange(latest, start, end, float(window["high"].max()),
                        float(window["low"].min()), bool((today.index >= end).any()))


def true_range(bars: pd.DataFrame) -> pd.Series:
    """True range ($): max(high − low, |high − prev close|, |low − prev close|); the first bar
    has no previous close and uses high − low."""
    prev = bars["close"].shift(1)
    ranges = pd.concat([bars["high"] - bars["low"], (bars["high"] - prev).abs(),
                        (bars["low"] - prev).abs()], axis=1)
    return ranges.max(axis=1, skipna=True)


def squeeze(daily: pd.DataFrame, *, window: int = 20, bb_mult: float = 2.0,
            kc_mult: float = 1.5) -> bool:
    """True when the Bollinger band sits inside the Keltner channel on the last bar.

    Bollinger(20, 2): SMA20(close) ± 2·σ20, σ the population (ddof 0) std of the last 20
    closes. Keltner(20, 1.5): SMA20(close) ± 1.5·ATR20, ATR20 the simple mean of the last 20
    true ranges. "Inside" is strict on both sides; with the shared centre it reads
    2·σ20 < 1.5·ATR20: volatility compressed relative to the usual daily range, often before
    a move. False with fewer than ``window`` bars (not enough to judge).
    """
    if len(daily) < window:
        return False
    close = daily["close"].astype("float64")
    mid = sma(close, window)
    sd = close.rolling(window, min_periods=window).std(ddof=0)
    atr = true_range(daily).rolling(window, min_periods=window).mean()
    bb_up, bb_lo = mid + bb_mult * sd, mid - bb_mult * sd
    kc_up, kc_lo = mid + kc_mult * atr, mid - kc_mult * atr
    return bool((bb_up.iloc[-1] < kc_up.iloc[-1]) and (bb_lo.iloc[-1] > kc_lo.iloc[-1]))


def breakout(daily: pd.DataFrame, *, window: int = 20) -> str | None:
    """"up" when the last close is above the highest high of the previous ``window`` bars,
    "down" when below their lowest low, else None (also None with fewer than ``window`` + 1
    bars). The last bar itself is excluded from the range it is compared with."""
    if len(daily) < window + 1:
        return None
    prior = daily.iloc[-window - 1:-1]
    close = float(daily["close"].iloc[-1])
    if close > float(prior["high"].max()):
        return "up"
    if close < float(prior["low"].min()):
        return "down"
    return None
