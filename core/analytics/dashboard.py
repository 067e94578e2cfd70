"""The Trading Dashboard's computed views: the live watchlist rows (price, ATM IV, P/C, net GEX
sign, wall distances, trend and daily-bar signals), the price chart's context (VWAP, previous
day, opening range, RSI), the GEX heatmap and the unusual-activity table of one symbol.

:func:`watch_task` fetches one watchlist symbol through ``source`` (:mod:`core.fetch` in the
app). Units: prices per share; distances and changes in percent; GEX in $ per 1 % move.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from core import clock
from core.analytics import exposure, flows, levels, technicals
from core.analytics.scans import DAILY_PERIOD, finite, nearest_expiry


# --- Trading Dashboard watchlist row -----------------------------------------------------------

class MacdSignal(NamedTuple):
    """MACD(12,26,9) on daily closes: ``state`` "above"/"below" (MACD vs its signal line on the
    last bar, None while undefined); ``cross`` "bullish"/"bearish" when the latest cross is
    within the last ``lookback`` bars (else None) and ``bars_ago`` (0 = on the last bar)."""

    state: str | None
    cross: str | None
    bars_ago: int | None


def macd_signal(close: pd.Series, lookback: int = 5) -> MacdSignal:
    """See :class:`MacdSignal`; crosses from :func:`core.analytics.technicals.macd_crosses`."""
    m = technicals.macd(close)
    hist = m["hist"].dropna()
    state = None if hist.empty or hist.iloc[-1] == 0 else (
        "above" if hist.iloc[-1] > 0 else "below")
    crosses = technicals.macd_crosses(m)
    if crosses.empty:
        return MacdSignal(state, None, None)
    last = crosses.iloc[-1]
    ago = len(close) - 1 - int(close.index.get_loc(last["time"]))
    if ago >= lookback:
        return MacdSignal(state, None, None)
    return MacdSignal(state, str(last["direction"]), ago)


def macd_label(sig: MacdSignal) -> str:
    """``▲ bullish cross (today)`` / ``▼ bearish cross (2 bars ago)`` / ``above signal`` / ``–``."""
    if sig.cross:
        arrow = "▲" if sig.cross == "bullish" else "▼"
        when = "today" if sig.bars_ago == 0 else f"{sig.bars_ago} bar{'s' * (sig.bars_ago > 1)} ago"
        return f"{arrow} {sig.cross} cross ({when})"
    return f"{sig.state} signal" if sig.state else "–"


def percent_of(value: float | None, base: float) -> float | None:
    """``value`` as a percent of ``base``: value / base × 100 (e.g. an expected move of 2.13 on
    a 672.65 spot is 0.32 %). None when either is missing or base is not > 0."""
    if not finite(value) or not finite(base) or base <= 0:
        return None
    return float(value) / float(base) * 100.0


def wall_distance_pct(spot: float, wall: float | None) -> float | None:
    """Signed distance from spot to a wall in percent of spot: (wall − spot) / spot × 100
    (positive = the wall is above spot). None when the wall is undefined."""
    if not finite(wall) or not finite(spot) or spot <= 0:
        return None
    return (float(wall) - spot) / spot * 100.0


def gex_sign(net_gex: float | None) -> str:
    """"+" (dealers long gamma: hedging damps moves), "−" (short gamma: hedging amplifies
    moves), "0" or "n/a"."""
    if not finite(net_gex):
        return "n/a"
    return "+" if net_gex > 0 else "−" if net_gex < 0 else "0"


@dataclasses.dataclass(frozen=True)
class WatchRow:
    """One line of the Trading Dashboard's live watchlist table."""

    symbol: str
    expiry: dt.date
    price: float
    change_pct: float
    atm_iv: float | None
    pc_volume: float | None
    net_gex: float
    call_wall: float | None
    put_wall: float | None
    trend: str
    rsi: float | None
    squeeze: bool
    breakout: str | None
    macd: MacdSignal
    as_of: dt.datetime
    stale: bool

    @property
    def call_wall_pct(self) -> float | None:
        return wall_distance_pct(self.price, self.call_wall)

    @property
    def put_wall_pct(self) -> float | None:
        return wall_distance_pct(self.price, self.put_wall)


def watch_row(symbol: str, quote, key_levels: levels.KeyLevels, daily: pd.DataFrame,
              expiry: dt.date) -> WatchRow:
    """A :class:`WatchRow` from the quote, the nearest expiry's levels (ATM IV, P/C by volume,
    net GEX, OI walls) and daily bars (EMA stack, RSI(14), squeeze, 20-day breakout, MACD)."""
    close = daily["close"]
    rsi = technicals.rsi(close).iloc[-1] if len(close) else np.nan
    return WatchRow(
        symbol=symbol, expiry=expiry, price=float(quote.price),
        change_pct=float(quote.change_pct), atm_iv=key_levels.atm_iv,
        pc_volume=key_levels.pc_volume, net_gex=float(key_levels.net_gex),
        call_wall=key_levels.call_wall_oi, put_wall=key_levels.put_wall_oi,
        trend=technicals.ema_stack(close), rsi=float(rsi) if finite(rsi) else None,
        squeeze=technicals.squeeze(daily), breakout=technicals.breakout(daily),
        macd=macd_signal(close), as_of=quote.as_of, stale=bool(getattr(quote, "stale", False)))


WATCH_COLUMNS = ["symbol", "price", "change_pct", "atm_iv_pct", "pc_volume", "net_gex_sign",
                 "call_wall", "call_wall_pct", "put_wall", "put_wall_pct", "trend", "rsi",
                 "squeeze", "breakout", "macd", "expiry"]


def watch_table(rows: Iterable[WatchRow]) -> pd.DataFrame:
    """The watchlist table (columns :data:`WATCH_COLUMNS`; ATM IV and wall distances in %)."""
    records = [{
        "symbol": r.symbol, "price": r.price, "change_pct": r.change_pct,
        "atm_iv_pct": None if r.atm_iv is None else 100.0 * r.atm_iv,
        "pc_volume": r.pc_volume, "net_gex_sign": gex_sign(r.net_gex),
        "call_wall": r.call_wall, "call_wall_pct": r.call_wall_pct,
        "put_wall": r.put_wall, "put_wall_pct": r.put_wall_pct, "trend": r.trend, "rsi": r.rsi,
        "squeeze": "on" if r.squeeze else "–",
        "breakout": {"up": "▲ 20-day high", "down": "▼ 20-day low"}.get(r.breakout, "–"),
        "macd": macd_label(r.macd), "expiry": r.expiry,
    } for r in rows]
    out = pd.DataFrame(records, columns=WATCH_COLUMNS)
    nums = ["price", "change_pct", "atm_iv_pct", "pc_volume", "call_wall", "call_wall_pct",
            "put_wall", "put_wall_pct", "rsi"]
    return out.astype({c: "float64" for c in nums})


# --- Trading Dashboard: one symbol ---------------------------------------------------------------

class PriceContext(NamedTuple):
    """What the price chart draws besides the candles: ``overlays`` (name -> series; VWAP on
    intraday bars, EMA 21/50 on daily bars), the previous day's high/low and today's 30-minute
    opening range (intraday only), and RSI(14) on these bars (None until 15 bars)."""

    overlays: dict
    prev_day: technicals.DayRange | None
    opening: technicals.OpeningRange | None
    rsi: float | None


def price_context(bars: pd.DataFrame, intraday: bool) -> PriceContext:
    """:class:`PriceContext` of ``bars``. "Today" is the ET day of the last bar, so on a weekend
    the previous day is the session before the last one."""
    if not len(bars):
        return PriceContext({}, None, None, None)
    close = bars["close"]
    last_day = bars.index[-1].tz_convert(technicals.ET).date()
    rsi = technicals.rsi(close).iloc[-1]
    if intraday:
        overlays = {"VWAP": technicals.vwap(bars)}
        opening = technicals.opening_range(bars, 30)
    else:
        overlays = {"EMA 21": technicals.ema(close, 21), "EMA 50": technicals.ema(close, 50)}
        opening = None
    return PriceContext(overlays, technicals.previous_day_high_low(bars, last_day), opening,
                        float(rsi) if finite(rsi) else None)


def gex_heatmap(chains: Sequence, strikes: int = 40) -> pd.DataFrame:
    """Net GEX ($ per 1 % move, calls +, puts −) per strike × expiry over several expiries'
    chains (:func:`core.analytics.exposure.gex_by_strike_expiry`, each chain at its own spot),
    keeping the ``strikes`` strikes nearest the nearest expiry's spot (index ascending)."""
    if not chains:
        return pd.DataFrame()
    spot = float(chains[0].spot)
    parts = [exposure.gex_by_strike_expiry(c.frame, c.spot) for c in chains if len(c.frame)]
    if not parts:
        return pd.DataFrame()
    wide = pd.concat(parts, axis=1).sort_index().sort_index(axis=1)  # one column per expiry
    order = np.argsort(np.abs(wide.index.to_numpy(dtype="float64") - spot), kind="stable")
    return wide.iloc[np.sort(order[:strikes])]


UNUSUAL_COLUMNS = ["contract", "type", "strike", "expiry", "volume", "open_interest", "vol_oi",
                   "last", "mid", "iv", "premium", "tier", "side"]


def _session_start(as_of: dt.datetime) -> dt.datetime | None:
    day = as_of.astimezone(clock.ET).date()
    return clock.session_open(day) if clock.is_session(day) else None


def market_open_at(as_of: dt.datetime) -> bool:
    """Whether the regular session was open at the data's ``as_of`` (an explicit time)."""
    return clock.market_status(as_of).is_open


def with_side(table: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    open_ = market_open_at(as_of)
    side = flows.side_proxy(table, open_, since=_session_start(as_of) if open_ else None)
    return table.assign(side=side)


def unusual_table(chains: Sequence, top_n: int = 15) -> pd.DataFrame:
    """Unusual activity (:func:`core.analytics.flows.unusual`, default rules) over several
    expiries' chains, largest premium first, ``top_n`` rows, with the approximate side proxy
    (None when the market is closed). Columns :data:`UNUSUAL_COLUMNS`; ``iv`` is NaN where the
    quote's IV is flagged absurd (``iv_ok`` False)."""
    parts = [with_side(flows.unusual(c.frame), c.as_of) for c in chains if len(c.frame)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=UNUSUAL_COLUMNS)
    out = pd.concat(parts, ignore_index=True).sort_values("premium", ascending=False,
                                                           kind="stable").head(top_n)
    out = out.assign(iv=out["iv"].where(out["iv_ok"].astype(bool)))  # absurd IVs not shown
    return out[UNUSUAL_COLUMNS].reset_index(drop=True)


def watch_task(symbol: str, *, source) -> WatchRow:
    """One watchlist row: the quote, the nearest expiry's levels and a year of daily bars."""
    quote = source.quote(symbol)
    expiry = nearest_expiry(symbol, source)
    return watch_row(symbol, quote, source.key_levels(symbol, expiry),
                     source.history(symbol, DAILY_PERIOD, "1d"), expiry)
