"""The Command Center's 0–100 bias score: one pure function per component, and their sum.

This is the module to open to see why a symbol scored 72. Every component takes plain numbers
and returns points (``None`` = "no data: left out of the score", shown as such);
:func:`bias_score` adds the included points to :data:`BASE_SCORE` (50) and clips to [0, 100];
:func:`band` names the band (Bullish ≥ 70, Neutral 31–69, Bearish ≤ 30).
The numbers come in as a :class:`ScoreInputs` built by
:func:`core.analytics.command_center.command_row` from one symbol's chain, levels, daily bars and
Reg SHO record; the docstring of each component says which chain and how. Two expiries per
symbol, each a FULL chain (never the page's strike-capped view):

- the **levels expiry**, the nearest listed one (a 0DTE included): absolute gamma strike, OI walls;
- the **flow expiry**, the nearest listed one at least one calendar day out: premium, whale
  scores, put/call volume and the activity component. A 0DTE is never a flow input: its day
  volume is mostly intraday round trips, and its premium valued at the current mid follows the
  day's move rather than the money that came in.

Units: prices in the underlying's currency per share; premiums in $; ratios dimensionless.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from core.analytics.scans import finite, money

BASE_SCORE = 50
BULLISH_MIN = 70   # score >= 70: Bullish
BEARISH_MAX = 30   # score <= 30: Bearish; in between (31-69): Neutral
BANDS = ("Bullish", "Neutral", "Bearish")


def gamma_points(spot: float, abs_gamma_strike: float | None, strike_step: float | None = None,
                 points: int = 15) -> int:
    """Price vs the absolute gamma strike (max GROSS gamma, call GEX + |put GEX|, of the scanned
    levels expiry's full chain; :func:`core.analytics.exposure.gamma_walls`): +15 when spot is
    above it, −15 when below — but **0 when spot is within one strike of it**
    (|spot − K| ≤ ``strike_step``, the listing's gap from K to the next strike toward spot), as
    then the sign only says which side of the nearest strike spot sits on. 0 too when the strike
    is undefined.

    Reading: well above the dominant gamma strike, dealer hedging tends to support the price.
    """
    if not finite(abs_gamma_strike) or not finite(spot) or spot == abs_gamma_strike:
        return 0
    if finite(strike_step) and abs(spot - abs_gamma_strike) <= strike_step:
        return 0
    return points if spot > abs_gamma_strike else -points


def premium_points(call_premium: float, put_premium: float, ratio: float = 1.5,
                   points: int = 20) -> int:
    """Call vs put premium traded today ($) in the flow expiry (the nearest one at least a day
    out; never a 0DTE): +20 when call > 1.5 × put, −20 when put > 1.5 × call, else 0. Strict
    ">": exactly 1.5× is 0. Both 0 → 0. The premium is :func:`core.fetch.traded_premium`:
    Δvolume × mid at each chain refresh once the fetch layer holds that history, else day
    volume × the current mid (the component's detail says which)."""
    call = float(call_premium) if finite(call_premium) else 0.0
    put = float(put_premium) if finite(put_premium) else 0.0
    if call > ratio * put:
        return points
    if put > ratio * call:
        return -points
    return 0


def whale_points(best_call: float | None, best_put: float | None, points: int = 10) -> int:
    """Best call vs best put whale score in the flow expiry
    (:func:`core.analytics.flows.whale_score`): +10 when the call's is higher, −10 when the
    put's is, 0 when equal. A side with no qualifying contract (None / NaN) counts as 0, so
    both missing → 0."""
    call = float(best_call) if finite(best_call) else 0.0
    put = float(best_put) if finite(best_put) else 0.0
    if call > put:
        return points
    if put > call:
        return -points
    return 0


def pc_volume_points(pc_volume: float | None, low: float = 0.8, high: float = 1.2,
                     points: int = 10) -> int:
    """Put/call volume ratio (put ÷ call) of the flow expiry: +10 when < 0.8 (calls dominate),
    −10 when > 1.2 (puts dominate), 0 in [0.8, 1.2] or when undefined (no call volume)."""
    if not finite(pc_volume):
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
    """Which OI wall of the levels expiry is nearer spot (distance |wall − spot|): call wall
    nearer −10 (resistance close by), put wall nearer +10 (support close by); equally near, or
    a wall missing → 0."""
    if not (finite(spot) and finite(call_wall) and finite(put_wall)):
        return 0
    to_call, to_put = abs(call_wall - spot), abs(put_wall - spot)
    if to_call < to_put:
        return -points
    if to_put < to_call:
        return points
    return 0


MIN_OI = 100  # activity: only contracts with at least this open interest count


def activity_points(call_vol_oi: float | None, put_vol_oi: float | None,
                    threshold: float = 5.0, ratio: float = 1.5, points: int = 10) -> int:
    """Which side the fresh money is on: the largest volume/OI among the flow expiry's calls vs
    among its puts (:func:`core.analytics.flows.vol_oi`, contracts with OI ≥ :data:`MIN_OI`).
    +10 when the call side's is > 5 and > 1.5 × the put side's; −10 when the put side's is > 5
    and > 1.5 × the call side's; else 0 (None/NaN count as 0). Symmetric: it subtracts as
    readily as it adds (the old "any contract > 5 → +10" fired for 30 symbols of 30)."""
    call = float(call_vol_oi) if finite(call_vol_oi) else 0.0
    put = float(put_vol_oi) if finite(put_vol_oi) else 0.0
    if call > threshold and call > ratio * put:
        return points
    if put > threshold and put > ratio * call:
        return -points
    return 0


def short_volume_points(short_share: float | None, high: float = 0.55, low: float = 0.45,
                        points: int = 10) -> int | None:
    """Short-sale share of the previous session's volume (FINRA Reg SHO, short ÷ total):
    +10 when > 0.55, −10 when < 0.45, 0 in [0.45, 0.55]. **None** when there is no record: the
    component is then left out of the score (not counted as 0) and the page says so."""
    if not finite(short_share):
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
    strike_step: float | None = None
    call_premium: float = 0.0
    put_premium: float = 0.0
    premium_method: str = "volume × current mid"
    best_call_whale: float | None = None
    best_put_whale: float | None = None
    pc_volume: float | None = None
    trend: str = "Mixed"
    call_wall: float | None = None
    put_wall: float | None = None
    call_vol_oi: float | None = None
    put_vol_oi: float | None = None
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


def _num(value, fmt: str = ",.2f") -> str:
    return format(float(value), fmt) if finite(value) else "n/a"


def score_components(x: ScoreInputs) -> tuple[Component, ...]:
    """The eight components of the bias score for ``x``, in display order."""
    g = gamma_points(x.spot, x.abs_gamma_strike, x.strike_step)
    where = None
    if finite(x.abs_gamma_strike) and finite(x.spot):
        near = finite(x.strike_step) and abs(x.spot - x.abs_gamma_strike) <= x.strike_step
        where = ("within one strike of" if near and x.spot != x.abs_gamma_strike else
                 "at" if x.spot == x.abs_gamma_strike else
                 "above" if x.spot > x.abs_gamma_strike else "below")
    short = short_volume_points(x.short_share)
    call_oi_side = "n/a"
    if finite(x.call_wall) and finite(x.put_wall) and finite(x.spot):
        call_oi_side = (f"call wall {_num(x.call_wall)} is {abs(x.call_wall - x.spot):,.2f} "
                        f"away, put wall {_num(x.put_wall)} {abs(x.put_wall - x.spot):,.2f}")
    return (
        Component("gamma", "Price vs abs. gamma strike (gross γ)", g,
                  f"price {_num(x.spot)} {where} {_num(x.abs_gamma_strike)}"
                  + (" (no points within one strike)" if where == "within one strike of" else "")
                  if where else "no gamma strike (no open interest)"),
        Component("premium", "Call vs put premium", premium_points(x.call_premium, x.put_premium),
                  f"calls {money(x.call_premium)} vs puts {money(x.put_premium)}, "
                  f"{x.premium_method} (±20 when one side > 1.5× the other)"),
        Component("whales", "Best call vs put whale score",
                  whale_points(x.best_call_whale, x.best_put_whale),
                  f"call {_num(x.best_call_whale, ',.1f')} vs put "
                  f"{_num(x.best_put_whale, ',.1f')}"),
        Component("pc", "Put/call volume", pc_volume_points(x.pc_volume),
                  f"P/C {_num(x.pc_volume)} (< 0.8 +10, > 1.2 −10)"),
        Component("trend", "EMA 8/21/50/200 stack", trend_points(x.trend), x.trend),
        Component("walls", "Nearer OI wall", wall_points(x.spot, x.call_wall, x.put_wall),
                  call_oi_side),
        Component("activity", "Fresh money: call vs put volume/OI",
                  activity_points(x.call_vol_oi, x.put_vol_oi),
                  f"max volume/OI (OI ≥ {MIN_OI}) calls {_num(x.call_vol_oi, ',.1f')} vs puts "
                  f"{_num(x.put_vol_oi, ',.1f')} (±10 when one side > 5 and > 1.5× the other)"),
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
