"""The Command Center: one row per watchlist symbol (its bias score, suggested action, 30-day
card chart) and the table, filters, sorts and summary the page shows.

:func:`command_task` fetches one symbol through ``source`` (:mod:`core.fetch` in the app:
``fetch.scan(name, functools.partial(command_task, source=fetch), symbols)``);
:func:`command_row` turns that data into a frozen :class:`CommandRow`, its score from
:mod:`core.analytics.bias_score`. Units: prices per share; premiums in $; changes in percent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from core import clock
from core.analytics import flows, levels, technicals
from core.analytics.bias_score import BANDS, MIN_OI, Score, ScoreInputs, bias_score
from core.analytics.scans import DAILY_PERIOD, finite, full_strikes, nearest_expiry


# --- suggested action --------------------------------------------------------------------------

ACTION_PCT = 0.03     # fallback target / stop distance: ±3 % of spot
MIN_STOP_PCT = 0.01   # a stop is at least 1 % from spot (a wall closer than that is no stop)


@dataclasses.dataclass(frozen=True)
class Action:
    """A suggested action from the band and the OI walls. ``side``: long / short / wait.
    ``reward_risk`` = |target − entry| / |entry − stop| (None when there is no trade)."""

    side: str
    text: str
    entry: float
    target: float | None
    target_basis: str
    stop: float | None
    stop_basis: str
    reward_risk: float | None


def suggest_action(spot: float, band_name: str, call_wall: float | None,
                   put_wall: float | None, pct: float = ACTION_PCT,
                   min_stop: float = MIN_STOP_PCT) -> Action:
    """Suggested action (prices in the underlying's units).

    Bullish → long: target = the call wall when it is above spot, else spot × (1 + 3 %);
    stop = the put wall when it is below spot, but at least 1 % below spot
    (min(put wall, spot × 0.99)), else spot × (1 − 3 %).
    Bearish → short, the mirror image: target = the put wall when below spot, else
    spot × (1 − 3 %); stop = max(call wall, spot × 1.01) when the call wall is above spot, else
    spot × (1 + 3 %).
    Neutral → wait (no target, no stop). Reward/risk = |target − spot| / |spot − stop|.
    """
    up, down = spot * (1 + pct), spot * (1 - pct)
    above = finite(call_wall) and call_wall > spot
    below = finite(put_wall) and put_wall < spot
    label = f"{100 * pct:.0f}%"
    near = f"{100 * min_stop:.0f}%"
    if band_name == "Bullish":
        target, tb = (float(call_wall), "call wall (OI)") if above else (up, f"+{label}")
        if below:
            floor = spot * (1 - min_stop)
            stop, sb = ((float(put_wall), "put wall (OI)") if put_wall <= floor
                        else (floor, f"−{near}: put wall too close"))
        else:
            stop, sb = down, f"−{label}"
        side, text = "long", "Long bias: look for calls / long stock toward the target"
    elif band_name == "Bearish":
        target, tb = (float(put_wall), "put wall (OI)") if below else (down, f"−{label}")
        if above:
            cap = spot * (1 + min_stop)
            stop, sb = ((float(call_wall), "call wall (OI)") if call_wall >= cap
                        else (cap, f"+{near}: call wall too close"))
        else:
            stop, sb = up, f"+{label}"
        side, text = "short", "Short bias: look for puts / short stock toward the target"
    else:
        return Action("wait", "No edge: wait (range between the walls)", float(spot), None, "",
                      None, "", None)
    risk = abs(spot - stop)
    rr = abs(target - spot) / risk if risk > 0 else None
    return Action(side, text, float(spot), float(target), tb, float(stop), sb, rr)


# --- card series (30-day chart data) -----------------------------------------------------------

CARD_DAYS = 30


class CardSeries(NamedTuple):
    """The last ``days`` daily bars with SMA10 and EMA21 (computed on the full history, so they
    are defined from the first bar shown) and the MACD(12,26,9) crosses inside the window
    (``time``, ``direction`` bullish/bearish, ``price`` = that bar's close)."""

    bars: pd.DataFrame
    sma10: pd.Series
    ema21: pd.Series
    crosses: pd.DataFrame


def card_series(daily: pd.DataFrame, days: int = CARD_DAYS) -> CardSeries:
    """Chart data of a Command Center card from daily bars (see :class:`CardSeries`)."""
    close = daily["close"]
    tail = daily.iloc[-days:]
    crosses = technicals.macd_crosses(technicals.macd(close))
    crosses = crosses[crosses["time"].isin(tail.index)].reset_index(drop=True)
    crosses = crosses.assign(price=tail["close"].reindex(crosses["time"]).to_numpy())
    return CardSeries(tail, technicals.sma(close, 10).loc[tail.index],
                      technicals.ema(close, 21).loc[tail.index], crosses)


# --- Command Center row ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CommandRow:
    """One symbol of the Command Center scan (shared between sessions: read-only).

    ``expiry`` is the levels expiry (nearest listed); ``flow_expiry`` the flow expiry (nearest
    at least a day out; None when none is listed) — see :mod:`core.analytics.bias_score`.
    ``max_vol_oi``: the largest volume/OI of the flow expiry's contracts with OI ≥ MIN_OI."""

    symbol: str
    expiry: dt.date
    price: float
    change_pct: float
    score: Score
    action: Action
    trend: str
    call_premium: float
    put_premium: float
    pc_volume: float | None
    max_vol_oi: float | None
    abs_gamma_strike: float | None
    call_wall: float | None
    put_wall: float | None
    zero_gamma: float | None
    best_call_whale: float | None
    best_put_whale: float | None
    short: dict | None
    as_of: dt.datetime
    stale: bool
    card: CardSeries
    flow_expiry: dt.date | None = None
    premium_method: str = "volume × current mid"

    @property
    def flow(self) -> float:
        """Total option premium traded today in the flow expiry, calls + puts ($)."""
        return self.call_premium + self.put_premium


def _best(table: pd.DataFrame, kind: str, column: str) -> float | None:
    values = table.loc[table["type"] == kind, column]
    return float(values.max()) if len(values) else None


def side_max_vol_oi(frame: pd.DataFrame, kind: str, min_oi: int = MIN_OI) -> float | None:
    """The largest volume/OI among ``kind`` contracts with OI ≥ ``min_oi`` (None if none)."""
    keep = (frame["type"] == kind) & (frame["open_interest"] >= min_oi)
    ratio = flows.vol_oi(frame[keep])
    return float(ratio.max()) if ratio.notna().any() else None


class Premium(NamedTuple):
    """Call / put premium traded today ($) and how it was estimated (e.g.
    :class:`core.fetch.TradedPremium`'s ``label``)."""

    call: float
    put: float
    label: str


def command_row(symbol: str, quote, key_levels: levels.KeyLevels, frame: pd.DataFrame | None,
                daily: pd.DataFrame, short: dict | None, expiry: dt.date,
                chain_spot: float | None = None, stale: bool = False, *,
                levels_strikes=None, flow_expiry: dt.date | None = None,
                premium: Premium | None = None) -> CommandRow:
    """Build a :class:`CommandRow` from one symbol's data.

    ``quote``: the underlying (price, change, day volume); ``key_levels``: the LEVELS expiry's
    levels (OI walls, absolute gamma strike; ``levels_strikes`` its listed strikes, for "within
    one strike"); ``frame``: the FLOW expiry's full chain frame (never a 0DTE: premium, whale
    scores, P/C volume, volume/OI; None when no expiry a day out is listed — those components
    then score 0); ``premium``: its traded premium (default: volume × current mid of
    ``frame``); ``daily``: daily bars (trend, card); ``short``: :func:`core.fetch.short_volume`'s
    record or None. Whale scores use the chain's spot (``chain_spot``, default
    ``key_levels.spot``) and the underlying's dollar volume today (day volume × price).
    """
    price = float(quote.price)
    spot = float(chain_spot if chain_spot is not None else key_levels.spot)
    if frame is None:
        frame = pd.DataFrame(columns=["type", "strike", "volume", "open_interest", "mid",
                                      "delta", "iv", "iv_ok"])
    if premium is None:
        split = flows.call_put_premium(frame)
        premium = Premium(split.call, split.put, "volume × current mid")
    whales = flows.whale_score(frame, spot, float(quote.day_volume) * price) if len(frame) \
        else frame.assign(whale_score=pd.Series(dtype=float))
    call_vo, put_vo = side_max_vol_oi(frame, "call"), side_max_vol_oi(frame, "put")
    sides = [v for v in (call_vo, put_vo) if v is not None]
    max_vol_oi = max(sides) if sides else None
    pc_volume = levels.put_call_ratios(frame).volume if len(frame) else None
    trend = technicals.ema_stack(daily["close"]) if len(daily) else "Mixed"
    share = short.get("short_share") if short else None
    strikes = levels_strikes if levels_strikes is not None else frame["strike"]
    inputs = ScoreInputs(
        spot=price, abs_gamma_strike=key_levels.abs_gamma_strike,
        strike_step=levels.strike_gap(strikes, key_levels.abs_gamma_strike, price),
        call_premium=premium.call, put_premium=premium.put, premium_method=premium.label,
        best_call_whale=_best(whales, "call", "whale_score"),
        best_put_whale=_best(whales, "put", "whale_score"),
        pc_volume=pc_volume, trend=trend,
        call_wall=key_levels.call_wall_oi, put_wall=key_levels.put_wall_oi,
        call_vol_oi=call_vo, put_vol_oi=put_vo, short_share=share)
    score = bias_score(inputs)
    return CommandRow(
        symbol=symbol, expiry=expiry, price=price, change_pct=float(quote.change_pct),
        score=score,
        action=suggest_action(price, score.band, key_levels.call_wall_oi, key_levels.put_wall_oi),
        trend=trend, call_premium=premium.call, put_premium=premium.put,
        pc_volume=pc_volume, max_vol_oi=max_vol_oi,
        abs_gamma_strike=key_levels.abs_gamma_strike, call_wall=key_levels.call_wall_oi,
        put_wall=key_levels.put_wall_oi, zero_gamma=key_levels.zero_gamma,
        best_call_whale=inputs.best_call_whale, best_put_whale=inputs.best_put_whale,
        short=dict(short) if short else None, as_of=quote.as_of,
        stale=bool(stale or getattr(quote, "stale", False)), card=card_series(daily),
        flow_expiry=flow_expiry, premium_method=premium.label)


COMMAND_COLUMNS = ["symbol", "score", "band", "price", "change_pct", "trend", "call_premium",
                   "put_premium", "flow", "pc_volume", "max_vol_oi", "abs_gamma_strike",
                   "call_wall", "put_wall", "action", "target", "stop", "reward_risk",
                   "short_share", "expiry", "flow_expiry"]


def command_table(rows: Iterable[CommandRow]) -> pd.DataFrame:
    """One line per symbol (columns :data:`COMMAND_COLUMNS`), in the rows' order. Also the CSV.

    ``action`` is long / short / wait; ``short_share`` is a fraction (NaN when unavailable);
    ``change_pct`` in percent; premiums and ``flow`` in $.
    """
    records = [{
        "symbol": r.symbol, "score": r.score.value, "band": r.score.band, "price": r.price,
        "change_pct": r.change_pct, "trend": r.trend, "call_premium": r.call_premium,
        "put_premium": r.put_premium, "flow": r.flow, "pc_volume": r.pc_volume,
        "max_vol_oi": r.max_vol_oi, "abs_gamma_strike": r.abs_gamma_strike,
        "call_wall": r.call_wall, "put_wall": r.put_wall, "action": r.action.side,
        "target": r.action.target, "stop": r.action.stop, "reward_risk": r.action.reward_risk,
        "short_share": (r.short or {}).get("short_share"), "expiry": r.expiry,
        "flow_expiry": r.flow_expiry,
    } for r in rows]
    out = pd.DataFrame(records, columns=COMMAND_COLUMNS)
    floats = [c for c in COMMAND_COLUMNS if c not in ("symbol", "band", "trend", "action",
                                                       "expiry", "flow_expiry", "score")]
    return out.astype({c: "float64" for c in floats} | {"score": "int64"})


SORTS = {"Score": ("score", False), "Symbol": ("symbol", True), "Price": ("price", False),
         "Flow": ("flow", False)}


def filter_table(table: pd.DataFrame, bands: Sequence[str] = BANDS,
                 min_vol_oi: float = 0.0) -> pd.DataFrame:
    """Rows whose band is in ``bands`` and whose max volume/OI ≥ ``min_vol_oi`` (a row with no
    volume/OI passes only when ``min_vol_oi`` ≤ 0)."""
    keep = table["band"].isin(list(bands))
    if min_vol_oi > 0:
        keep &= table["max_vol_oi"].fillna(-np.inf) >= min_vol_oi
    return table[keep]


def sort_table(table: pd.DataFrame, by: str = "Score") -> pd.DataFrame:
    """Sorted by :data:`SORTS` key (score, price, flow largest first; symbol A→Z), ties by
    symbol."""
    column, ascending = SORTS[by]
    if column == "symbol":
        return table.sort_values("symbol", kind="stable")
    return table.sort_values([column, "symbol"], ascending=[ascending, True], kind="stable")


def top(table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` highest scores (ties by symbol)."""
    return sort_table(table, "Score").head(n)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Counts per band, the average score, and call / put premium totals ($)."""

    count: int
    bullish: int
    neutral: int
    bearish: int
    average: float | None
    call_premium: float
    put_premium: float


def summary(table: pd.DataFrame) -> Summary:
    """Summary metrics of a :func:`command_table` (after any filtering)."""
    counts = table["band"].value_counts()
    return Summary(len(table), int(counts.get("Bullish", 0)), int(counts.get("Neutral", 0)),
                   int(counts.get("Bearish", 0)),
                   float(table["score"].mean()) if len(table) else None,
                   float(table["call_premium"].sum()), float(table["put_premium"].sum()))


def flow_expiry(listed, today: dt.date) -> dt.date | None:
    """The flow expiry: the first listed expiry after ``today`` (at least one calendar day out:
    never a 0DTE). None when only today's is listed."""
    return next((e for e in sorted(listed) if e > today), None)


def command_task(symbol: str, *, source) -> CommandRow:
    """One Command Center row: the quote; the levels expiry (nearest listed) — its levels
    (``source.key_levels``, full chain); the flow expiry (:func:`flow_expiry`) — its full chain
    and traded premium (``source.traded_premium``); a year of daily bars; the Reg SHO record."""
    quote = source.quote(symbol)
    expiry = nearest_expiry(symbol, source)
    kl = source.key_levels(symbol, expiry)
    chain = source.chain(symbol, expiry, strikes=full_strikes(source))
    today = chain.as_of.astimezone(clock.ET).date()
    later = flow_expiry(source.expirations(symbol), today)
    flow = source.chain(symbol, later, strikes=full_strikes(source)) if later else None
    premium = None
    if flow is not None:
        traded = source.traded_premium(flow)
        premium = Premium(traded.call, traded.put, traded.label)
    daily = source.history(symbol, DAILY_PERIOD, "1d")
    short = source.short_volume(symbol)
    return command_row(symbol, quote, kl, None if flow is None else flow.frame, daily, short,
                       expiry, chain_spot=chain.spot if flow is None else flow.spot,
                       stale=chain.stale or bool(flow is not None and flow.stale),
                       levels_strikes=chain.frame["strike"], flow_expiry=later, premium=premium)
