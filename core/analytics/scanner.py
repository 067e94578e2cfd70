"""Multi-symbol scans: the Command Center bias score and suggested action, and the per-symbol rows
of the Command Center, the Trading Dashboard watchlist table and Whale Flows.

Three layers, each usable on its own:

1. **Score components** — one pure function per component of the 0–100 bias score, taking plain
   numbers and returning points (``None`` = "no data, left out of the score"). :func:`bias_score`
   adds them to :data:`BASE_SCORE` and clips to [0, 100]; :func:`band` names the band.
2. **Row builders** — pure functions of canonical data (a :class:`~core.schema.Quote`, a
   :class:`~core.analytics.levels.KeyLevels`, a chain frame, daily bars, a short-volume record)
   returning frozen rows, plus the table / filter / sort / summary helpers the pages display.
   They reuse :mod:`flows`, :mod:`volatility`, :mod:`technicals`, :mod:`levels` and
   :mod:`exposure`; nothing here recomputes what those modules define.
3. **Scan tasks** — :func:`command_task`, :func:`watch_task`, :func:`whale_task`: fetch one
   symbol's data through ``source`` and build its row. ``source`` is :mod:`core.fetch` in the app
   (``fetch.scan(name, functools.partial(command_task, source=fetch), symbols)``); it is passed
   in, so this module imports no I/O and reads no clock (times come from the data's ``as_of``).

Units: prices and levels in the underlying's currency per share; premiums in $; IV decimals;
risk reversal and skew in vol points; distances and changes in percent (2.0 = 2 %).
Nothing here is a "sweep" or a "block": flows are a contract's whole day, read off one snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from core import clock
from core.analytics import exposure, flows, levels, technicals, volatility
from core.errors import NoExpiry

# --- the bias score ----------------------------------------------------------------------------

BASE_SCORE = 50
BULLISH_MIN = 70   # score >= 70: Bullish
BEARISH_MAX = 30   # score <= 30: Bearish; in between (31-69): Neutral
BANDS = ("Bullish", "Neutral", "Bearish")
DAILY_PERIOD = "1y"  # daily bars for trend, card chart, squeeze (EMA 200 needs >= 200 closes)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and \
        math.isfinite(float(x))


def gamma_points(spot: float, abs_gamma_strike: float | None, points: int = 15) -> int:
    """Price vs the absolute gamma strike (strike of max |net GEX|): +15 when spot is above it,
    −15 when below, 0 when exactly at it or when the strike is undefined.

    Reading: above the dominant gamma strike, dealer hedging tends to support the price.
    """
    if not _finite(abs_gamma_strike) or not _finite(spot) or spot == abs_gamma_strike:
        return 0
    return points if spot > abs_gamma_strike else -points


def premium_points(call_premium: float, put_premium: float, ratio: float = 1.5,
                   points: int = 20) -> int:
    """Call vs put premium ($, volume × mid × 100): +20 when call > 1.5 × put, −20 when
    put > 1.5 × call, else 0. Strict ">": exactly 1.5× is 0. Both 0 → 0."""
    call = float(call_premium) if _finite(call_premium) else 0.0
    put = float(put_premium) if _finite(put_premium) else 0.0
    if call > ratio * put:
        return points
    if put > ratio * call:
        return -points
    return 0


def whale_points(best_call: float | None, best_put: float | None, points: int = 10) -> int:
    """Best call whale score vs best put whale score (:func:`core.analytics.flows.whale_score`):
    +10 when the call's is higher, −10 when the put's is, 0 when equal. A side with no qualifying
    contract (None / NaN) counts as 0, so both missing → 0."""
    call = float(best_call) if _finite(best_call) else 0.0
    put = float(best_put) if _finite(best_put) else 0.0
    if call > put:
        return points
    if put > call:
        return -points
    return 0


def pc_volume_points(pc_volume: float | None, low: float = 0.8, high: float = 1.2,
                     points: int = 10) -> int:
    """Put/call volume ratio (put ÷ call): +10 when < 0.8 (calls dominate), −10 when > 1.2
    (puts dominate), 0 in [0.8, 1.2] or when undefined (no call volume)."""
    if not _finite(pc_volume):
        return 0
    if pc_volume < low:
        return points
    if pc_volume > high:
        return -points
    return 0


TREND_POINTS = {"Strong up": 15, "Up": 10, "Mixed": 0, "Down": -10, "Strong down": -15}


def trend_points(trend: str) -> int:
    """EMA 8/21/50/200 stack (:func:`core.analytics.technicals.ema_stack`): Strong up +15,
    Up +10, Mixed 0, Down −10, Strong down −15 (an unknown label is 0)."""
    return TREND_POINTS.get(trend, 0)


def wall_points(spot: float, call_wall: float | None, put_wall: float | None,
                points: int = 10) -> int:
    """Which OI wall is nearer spot (distance |wall − spot|): call wall nearer −10 (resistance
    close by), put wall nearer +10 (support close by); equally near, or a wall missing → 0."""
    if not (_finite(spot) and _finite(call_wall) and _finite(put_wall)):
        return 0
    to_call, to_put = abs(call_wall - spot), abs(put_wall - spot)
    if to_call < to_put:
        return -points
    if to_put < to_call:
        return points
    return 0


def activity_points(max_vol_oi: float | None, threshold: float = 5.0, points: int = 10) -> int:
    """+10 when the largest volume/OI of any contract (:func:`core.analytics.flows.vol_oi`, OI > 0)
    is > 5 (strict): fresh money is arriving. 0 otherwise or when undefined."""
    return points if _finite(max_vol_oi) and max_vol_oi > threshold else 0


def short_volume_points(short_share: float | None, high: float = 0.55, low: float = 0.45,
                        points: int = 10) -> int | None:
    """Short-sale share of the previous session's volume (FINRA Reg SHO, short ÷ total):
    +10 when > 0.55, −10 when < 0.45, 0 in [0.45, 0.55]. **None** when there is no record: the
    component is then left out of the score (not counted as 0) and the page says so."""
    if not _finite(short_share):
        return None
    if short_share > high:
        return points
    if short_share < low:
        return -points
    return 0


def band(score: float) -> str:
    """The one set of bands used everywhere: Bullish ≥ 70, Bearish ≤ 30, else Neutral (31–69)."""
    if score >= BULLISH_MIN:
        return "Bullish"
    if score <= BEARISH_MAX:
        return "Bearish"
    return "Neutral"


@dataclasses.dataclass(frozen=True)
class ScoreInputs:
    """Everything the bias score reads, as plain numbers (None = not available)."""

    spot: float
    abs_gamma_strike: float | None = None
    call_premium: float = 0.0
    put_premium: float = 0.0
    best_call_whale: float | None = None
    best_put_whale: float | None = None
    pc_volume: float | None = None
    trend: str = "Mixed"
    call_wall: float | None = None
    put_wall: float | None = None
    max_vol_oi: float | None = None
    short_share: float | None = None


@dataclasses.dataclass(frozen=True)
class Component:
    """One line of the score: ``points`` added (None = left out: no data), and why."""

    key: str
    label: str
    points: int | None
    detail: str

    @property
    def included(self) -> bool:
        return self.points is not None


@dataclasses.dataclass(frozen=True)
class Score:
    """A 0–100 bias score, its band and the components it was built from."""

    value: int
    band: str
    components: tuple[Component, ...]

    def component(self, key: str) -> Component:
        return next(c for c in self.components if c.key == key)


def money(value: float | None) -> str:
    """``$1.23M`` / ``$456k`` / ``$789`` / ``−$86.42M`` (``n/a`` for None/NaN)."""
    if not _finite(value):
        return "n/a"
    sign, v = ("−" if value < 0 else ""), abs(float(value))
    for floor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= floor:
            digits = ",.0f" if suffix == "k" else ",.2f"
            return f"{sign}${format(v / floor, digits)}{suffix}"
    return f"{sign}${v:,.0f}"


def _num(value, fmt: str = ",.2f") -> str:
    return format(float(value), fmt) if _finite(value) else "n/a"


def score_components(x: ScoreInputs) -> tuple[Component, ...]:
    """The eight components of the bias score for ``x``, in display order."""
    g = gamma_points(x.spot, x.abs_gamma_strike)
    where = ("at" if g == 0 else "above" if g > 0 else "below") if _finite(x.abs_gamma_strike) \
        else None
    short = short_volume_points(x.short_share)
    call_oi_side = "n/a"
    if _finite(x.call_wall) and _finite(x.put_wall) and _finite(x.spot):
        call_oi_side = (f"call wall {_num(x.call_wall)} is {abs(x.call_wall - x.spot):,.2f} "
                        f"away, put wall {_num(x.put_wall)} {abs(x.put_wall - x.spot):,.2f}")
    return (
        Component("gamma", "Price vs abs. gamma strike", g,
                  f"price {_num(x.spot)} {where} {_num(x.abs_gamma_strike)}" if where
                  else "no gamma strike (no open interest)"),
        Component("premium", "Call vs put premium", premium_points(x.call_premium, x.put_premium),
                  f"calls {money(x.call_premium)} vs puts {money(x.put_premium)} "
                  "(±20 when one side > 1.5× the other)"),
        Component("whales", "Best call vs put whale score",
                  whale_points(x.best_call_whale, x.best_put_whale),
                  f"call {_num(x.best_call_whale, ',.1f')} vs put "
                  f"{_num(x.best_put_whale, ',.1f')}"),
        Component("pc", "Put/call volume", pc_volume_points(x.pc_volume),
                  f"P/C {_num(x.pc_volume)} (< 0.8 +10, > 1.2 −10)"),
        Component("trend", "EMA 8/21/50/200 stack", trend_points(x.trend), x.trend),
        Component("walls", "Nearer OI wall", wall_points(x.spot, x.call_wall, x.put_wall),
                  call_oi_side),
        Component("activity", "Max volume/OI > 5", activity_points(x.max_vol_oi),
                  f"max volume/OI {_num(x.max_vol_oi, ',.1f')}"),
        Component("short", "Short-volume share (Reg SHO)", short,
                  "no Reg SHO record: left out of the score" if short is None
                  else f"short share {100 * x.short_share:.1f}% (> 55% +10, < 45% −10)"),
    )


def total_score(components: Iterable[Component]) -> int:
    """50 + Σ points of the included components, clipped to [0, 100]."""
    total = BASE_SCORE + sum(c.points for c in components if c.points is not None)
    return int(min(max(total, 0), 100))


def bias_score(x: ScoreInputs) -> Score:
    """The Command Center's 0–100 bias score: 50 + the components of :func:`score_components`,
    clipped to [0, 100], and its :func:`band`."""
    parts = score_components(x)
    value = total_score(parts)
    return Score(value, band(value), parts)


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
    above = _finite(call_wall) and call_wall > spot
    below = _finite(put_wall) and put_wall < spot
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
    """One symbol of the Command Center scan (shared between sessions: read-only)."""

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

    @property
    def flow(self) -> float:
        """Total option premium traded today in the scanned expiry, calls + puts ($)."""
        return self.call_premium + self.put_premium


def _best(table: pd.DataFrame, kind: str, column: str) -> float | None:
    values = table.loc[table["type"] == kind, column]
    return float(values.max()) if len(values) else None


def command_row(symbol: str, quote, key_levels: levels.KeyLevels, frame: pd.DataFrame,
                daily: pd.DataFrame, short: dict | None, expiry: dt.date,
                chain_spot: float | None = None, stale: bool = False) -> CommandRow:
    """Build a :class:`CommandRow` from one symbol's data.

    ``quote``: the underlying (price, change, day volume); ``key_levels``: the scanned expiry's
    levels (walls are the OI walls, abs. gamma strike, P/C by volume); ``frame``: that expiry's
    full chain frame (premiums, whale scores, volume/OI); ``daily``: daily bars (trend, card);
    ``short``: :func:`core.fetch.short_volume`'s record or None. Whale scores use the chain's
    spot (``chain_spot``, default ``key_levels.spot``) and the underlying's dollar volume today
    (day volume × price).
    """
    price = float(quote.price)
    spot = float(chain_spot if chain_spot is not None else key_levels.spot)
    split = flows.call_put_premium(frame)
    whales = flows.whale_score(frame, spot, float(quote.day_volume) * price)
    ratio = flows.vol_oi(frame)
    max_vol_oi = float(ratio.max()) if ratio.notna().any() else None
    trend = technicals.ema_stack(daily["close"]) if len(daily) else "Mixed"
    share = short.get("short_share") if short else None
    inputs = ScoreInputs(
        spot=price, abs_gamma_strike=key_levels.abs_gamma_strike,
        call_premium=split.call, put_premium=split.put,
        best_call_whale=_best(whales, "call", "whale_score"),
        best_put_whale=_best(whales, "put", "whale_score"),
        pc_volume=key_levels.pc_volume, trend=trend,
        call_wall=key_levels.call_wall_oi, put_wall=key_levels.put_wall_oi,
        max_vol_oi=max_vol_oi, short_share=share)
    score = bias_score(inputs)
    return CommandRow(
        symbol=symbol, expiry=expiry, price=price, change_pct=float(quote.change_pct),
        score=score,
        action=suggest_action(price, score.band, key_levels.call_wall_oi, key_levels.put_wall_oi),
        trend=trend, call_premium=split.call, put_premium=split.put,
        pc_volume=key_levels.pc_volume, max_vol_oi=max_vol_oi,
        abs_gamma_strike=key_levels.abs_gamma_strike, call_wall=key_levels.call_wall_oi,
        put_wall=key_levels.put_wall_oi, zero_gamma=key_levels.zero_gamma,
        best_call_whale=inputs.best_call_whale, best_put_whale=inputs.best_put_whale,
        short=dict(short) if short else None, as_of=quote.as_of,
        stale=bool(stale or getattr(quote, "stale", False)), card=card_series(daily))


COMMAND_COLUMNS = ["symbol", "score", "band", "price", "change_pct", "trend", "call_premium",
                   "put_premium", "flow", "pc_volume", "max_vol_oi", "abs_gamma_strike",
                   "call_wall", "put_wall", "action", "target", "stop", "reward_risk",
                   "short_share", "expiry"]


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
    } for r in rows]
    out = pd.DataFrame(records, columns=COMMAND_COLUMNS)
    floats = [c for c in COMMAND_COLUMNS if c not in ("symbol", "band", "trend", "action",
                                                       "expiry", "score")]
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
    if not _finite(value) or not _finite(base) or base <= 0:
        return None
    return float(value) / float(base) * 100.0


def wall_distance_pct(spot: float, wall: float | None) -> float | None:
    """Signed distance from spot to a wall in percent of spot: (wall − spot) / spot × 100
    (positive = the wall is above spot). None when the wall is undefined."""
    if not _finite(wall) or not _finite(spot) or spot <= 0:
        return None
    return (float(wall) - spot) / spot * 100.0


def gex_sign(net_gex: float | None) -> str:
    """"+" (dealers long gamma: hedging damps moves), "−" (short gamma: hedging amplifies
    moves), "0" or "n/a"."""
    if not _finite(net_gex):
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
        trend=technicals.ema_stack(close), rsi=float(rsi) if _finite(rsi) else None,
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
                        float(rsi) if _finite(rsi) else None)


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


def _with_side(table: pd.DataFrame, as_of: dt.datetime) -> pd.DataFrame:
    open_ = market_open_at(as_of)
    side = flows.side_proxy(table, open_, since=_session_start(as_of) if open_ else None)
    return table.assign(side=side)


def unusual_table(chains: Sequence, top_n: int = 15) -> pd.DataFrame:
    """Unusual activity (:func:`core.analytics.flows.unusual`, default rules) over several
    expiries' chains, largest premium first, ``top_n`` rows, with the approximate side proxy
    (None when the market is closed). Columns :data:`UNUSUAL_COLUMNS`; ``iv`` is NaN where the
    quote's IV is flagged absurd (``iv_ok`` False)."""
    parts = [_with_side(flows.unusual(c.frame), c.as_of) for c in chains if len(c.frame)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=UNUSUAL_COLUMNS)
    out = pd.concat(parts, ignore_index=True).sort_values("premium", ascending=False,
                                                           kind="stable").head(top_n)
    out = out.assign(iv=out["iv"].where(out["iv_ok"].astype(bool)))  # absurd IVs not shown
    return out[UNUSUAL_COLUMNS].reset_index(drop=True)


# --- Whale Flows -------------------------------------------------------------------------------

WHALE_KEEP = 20  # contracts kept per symbol and table in the shared scan (top N <= this)
WHALE_COLUMNS = ["symbol", "contract", "type", "strike", "expiry", "volume", "open_interest",
                 "vol_oi", "mid", "iv", "delta", "premium", "tier", "side", "whale_score"]
FRESH_COLUMNS = ["symbol", "contract", "type", "strike", "expiry", "volume", "open_interest",
                 "vol_oi", "mid", "premium", "tier", "fresh_score"]
SKEW_COLUMNS = ["symbol", "expiry", "dte", "spot", "atm_iv_pct", "rr25_pts", "atm_skew_pts",
                "straddle", "breakout_low", "breakout_high", "sigma_low", "sigma_high",
                "move_pct", "change_pct"]


@dataclasses.dataclass(frozen=True)
class WhaleResult:
    """One symbol of the Whale Flows scan: its top whale and fresh-positioning contracts over
    the scanned expiries (:data:`WHALE_KEEP` each), one skew / implied-move row per expiry, and
    notes (e.g. no day volume yet). Shared between sessions: read-only."""

    symbol: str
    spot: float
    change_pct: float
    dollar_volume: float
    whales: pd.DataFrame
    fresh: pd.DataFrame
    skew: pd.DataFrame
    notes: tuple[str, ...]
    as_of: dt.datetime
    stale: bool


def skew_row(symbol: str, frame: pd.DataFrame, spot: float, T: float, expiry: dt.date,
             today: dt.date, change_pct: float = float("nan")) -> dict:
    """Skew and implied move of one expiry (a :data:`SKEW_COLUMNS` dict).

    ``rr25_pts`` = 25Δ risk reversal (put IV − call IV, vol points, + = puts richer);
    ``atm_skew_pts`` = 95 % put IV − ATM IV (vol points); ``straddle`` = ATM call + put mid and
    the breakout levels spot ± straddle (beyond them the move exceeds what the straddle priced);
    1σ range spot ∓ S·σ·√T (ATM IV, ``T`` years to the expiry's close); ``move_pct`` = 1σ / spot
    × 100; ``dte`` calendar days from ``today``.
    """
    move = levels.expected_move(frame, spot, T)
    straddle = move.straddle
    sigma = move.one_sigma_iv
    return {
        "symbol": symbol, "expiry": expiry, "dte": (expiry - today).days, "spot": float(spot),
        "atm_iv_pct": None if move.atm_iv is None else 100.0 * move.atm_iv,
        "rr25_pts": volatility.risk_reversal_25d(frame),
        "atm_skew_pts": volatility.atm_skew(frame, spot),
        "straddle": straddle,
        "breakout_low": None if straddle is None else spot - straddle,
        "breakout_high": None if straddle is None else spot + straddle,
        "sigma_low": None if sigma is None else spot - sigma,
        "sigma_high": None if sigma is None else spot + sigma,
        "move_pct": None if sigma is None else 100.0 * sigma / spot,
        "change_pct": change_pct,
    }


def _tag(table: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return table.assign(symbol=symbol)


def whale_result(symbol: str, quote, chains: Sequence, *, keep: int = WHALE_KEEP,
                 stale: bool = False) -> WhaleResult:
    """A :class:`WhaleResult` from the quote (price, change, day volume) and the scanned
    expiries' chains (full chains: whale ±5 %, fresh ±10 % of spot, 25Δ wings).

    Whale score: :func:`core.analytics.flows.whale_score` per chain at its own spot with the
    underlying's dollar volume today = day volume × price; the side proxy is
    :func:`core.analytics.flows.side_proxy` (approximate; None when the market is closed).
    Fresh positioning: :func:`core.analytics.flows.fresh_positioning`.
    """
    price = float(quote.price)
    dollar_volume = float(quote.day_volume) * price
    notes = []
    if not dollar_volume > 0:
        notes.append(f"{symbol}: no whale score — it needs the underlying's share volume "
                     "today (none before the open, none for a cash index).")
    whale_parts, fresh_parts, skew_rows = [], [], []
    for c in chains:
        if not len(c.frame):
            continue
        w = flows.whale_score(c.frame, c.spot, dollar_volume)
        if len(w):
            whale_parts.append(_with_side(w.head(keep), c.as_of))
        f = flows.fresh_positioning(c.frame, c.spot)
        if len(f):
            fresh_parts.append(f.head(keep))
        today = c.as_of.astimezone(clock.ET).date()
        skew_rows.append(skew_row(symbol, c.frame, c.spot,
                                  c.t_years, c.expiry, today,
                                  float(quote.change_pct)))

    def combine(parts, columns, score):
        if not parts:
            return pd.DataFrame(columns=columns)
        table = pd.concat(parts, ignore_index=True).sort_values(score, ascending=False,
                                                                 kind="stable")
        return _tag(table.head(keep), symbol)[columns].reset_index(drop=True)

    return WhaleResult(
        symbol=symbol, spot=price, change_pct=float(quote.change_pct),
        dollar_volume=dollar_volume,
        whales=combine(whale_parts, WHALE_COLUMNS, "whale_score"),
        fresh=combine(fresh_parts, FRESH_COLUMNS, "fresh_score"),
        skew=pd.DataFrame(skew_rows, columns=SKEW_COLUMNS).astype(
            {c: "float64" for c in SKEW_COLUMNS if c not in ("symbol", "expiry", "dte")}),
        notes=tuple(notes), as_of=quote.as_of,
        stale=bool(stale or getattr(quote, "stale", False)))


def whale_table(results: Iterable[WhaleResult], min_score: float = 0.0,
                top_n: int = 5) -> pd.DataFrame:
    """Every symbol's top ``top_n`` contracts by whale score with score ≥ ``min_score``, all
    ranked by whale score (largest first). Columns :data:`WHALE_COLUMNS`."""
    parts = [r.whales[r.whales["whale_score"] >= min_score].head(top_n) for r in results]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=WHALE_COLUMNS)
    return (pd.concat(parts, ignore_index=True)
            .sort_values(["whale_score", "symbol"], ascending=[False, True], kind="stable")
            .reset_index(drop=True))


def premium_total(table: pd.DataFrame) -> float:
    """Σ ``premium`` ($) of a contract table (e.g. the whale contracts shown); 0 when empty."""
    return float(table["premium"].sum()) if len(table) else 0.0


def fresh_table(results: Iterable[WhaleResult], top_n: int = 5) -> pd.DataFrame:
    """Every symbol's top ``top_n`` fresh-positioning contracts, ranked by fresh score."""
    parts = [r.fresh.head(top_n) for r in results if len(r.fresh)]
    if not parts:
        return pd.DataFrame(columns=FRESH_COLUMNS)
    return (pd.concat(parts, ignore_index=True)
            .sort_values(["fresh_score", "symbol"], ascending=[False, True], kind="stable")
            .reset_index(drop=True))


def skew_table(results: Iterable[WhaleResult], reference_only: bool = False) -> pd.DataFrame:
    """Skew & implied move rows (:data:`SKEW_COLUMNS`) of every symbol, by symbol then expiry.

    ``reference_only`` keeps one row per symbol: its first scanned expiry with at least 1 DTE
    (a 0DTE's wings rarely reach 25Δ and its 1σ move covers only the rest of the session), or
    the first expiry when every scanned one expires today.
    """
    parts = []
    for r in results:
        if not len(r.skew):
            continue
        if reference_only:
            later = r.skew[r.skew["dte"] >= 1]
            parts.append(later.head(1) if len(later) else r.skew.head(1))
        else:
            parts.append(r.skew)
    if not parts:
        return pd.DataFrame(columns=SKEW_COLUMNS)
    return pd.concat(parts, ignore_index=True)


# --- scan tasks (data through ``source``; core.fetch in the app) ------------------------------

def _nearest_expiry(symbol: str, source) -> dt.date:
    listed = source.expirations(symbol)
    if not listed:
        raise NoExpiry(f"{symbol} has no listed expiry.", symbol=symbol)
    return listed[0]


def _full(source) -> int:
    return source.settings().max_strikes_hard


def command_task(symbol: str, *, source) -> CommandRow:
    """One Command Center row: the quote, the nearest expiry's levels (``source.key_levels``) and
    full chain, a year of daily bars and the Reg SHO short-volume record."""
    quote = source.quote(symbol)
    expiry = _nearest_expiry(symbol, source)
    kl = source.key_levels(symbol, expiry)
    chain = source.chain(symbol, expiry, strikes=_full(source))
    daily = source.history(symbol, DAILY_PERIOD, "1d")
    short = source.short_volume(symbol)
    return command_row(symbol, quote, kl, chain.frame, daily, short, expiry,
                       chain_spot=chain.spot, stale=chain.stale)


def watch_task(symbol: str, *, source) -> WatchRow:
    """One watchlist row: the quote, the nearest expiry's levels and a year of daily bars."""
    quote = source.quote(symbol)
    expiry = _nearest_expiry(symbol, source)
    return watch_row(symbol, quote, source.key_levels(symbol, expiry),
                     source.history(symbol, DAILY_PERIOD, "1d"), expiry)


def whale_task(symbol: str, *, source, expiries: int = 2) -> WhaleResult:
    """One Whale Flows result over the next ``expiries`` expiries' full chains."""
    quote = source.quote(symbol)
    listed = source.expirations(symbol)[:max(1, int(expiries))]
    if not listed:
        raise NoExpiry(f"{symbol} has no listed expiry.", symbol=symbol)
    chains = [source.chain(symbol, e, strikes=_full(source)) for e in listed]
    return whale_result(symbol, quote, chains, stale=any(c.stale for c in chains))


def skipped_lines(skipped: dict[str, str]) -> list[str]:
    """A scan's skipped symbols grouped by reason, one markdown line per reason, most symbols
    first: ``**No such symbol.** — ZZ1, ZZ2``."""
    by_reason: dict[str, list[str]] = {}
    for sym, reason in skipped.items():
        by_reason.setdefault(reason, []).append(sym)
    ordered = sorted(by_reason.items(), key=lambda item: -len(item[1]))
    return [f"**{reason}** — {', '.join(syms)}" for reason, syms in ordered]


def oldest(items: Iterable[Any]) -> tuple[dt.datetime, bool] | None:
    """(oldest ``as_of``, any ``stale``) over scan rows, for the freshness badge; None if empty."""
    pairs = [(i.as_of, bool(i.stale)) for i in items]
    if not pairs:
        return None
    return min(p[0] for p in pairs), any(p[1] for p in pairs)
