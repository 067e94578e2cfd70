"""Dealer gamma and delta exposure: GEX, DEX, zero gamma, gamma walls, the 70 % gamma band.

Inputs
------
A canonical chain frame (:data:`core.schema.CHAIN_COLUMNS`). **Multi-expiry convention**: one
long frame, the concatenation of several expiries' ``Chain.frame``
(``pd.concat(frames, ignore_index=True)``), told apart by its ``expiry`` column. Where time
matters, ``T`` is either a float (years, for every row) or a mapping ``expiry -> years``; rows
whose expiry the mapping lacks are left out.

Units and sign convention
-------------------------
- ``spot`` in the underlying's currency per share; a contract is :data:`CONTRACT_MULTIPLIER`
  shares.
- **GEX** per contract = Γ × OI × 100 × S² × 0.01: the dollar change of the dealers' delta
  position for a 1 % move of the underlying ($ per 1 % move). Dealers are assumed **long calls and
  short puts**, so call GEX is counted **+** and put GEX **−**. Positive net GEX: dealers hedge
  against the move (damping); negative: they hedge with it (amplifying).
- **DEX** per contract = Δ × OI × 100 × S, in $ of underlying, signed by the contract's own delta
  (calls +, puts −): the delta held by the options' holders; no dealer sign is applied.
- Rows with ``iv_ok`` False (or a NaN greek) are excluded: their per-contract GEX/DEX are NaN and
  they add 0 to every sum. Zero gamma skips them too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.analytics import greeks

CONTRACT_MULTIPLIER = 100
ONE_PCT = 0.01


def _call_sign(frame: pd.DataFrame) -> np.ndarray:
    """+1 for calls, -1 for puts (the dealer convention above)."""
    return np.where((frame["type"] == "call").to_numpy(), 1.0, -1.0)


def _usable(frame: pd.DataFrame) -> pd.Series:
    return frame["iv_ok"].astype(bool)


def gex(frame: pd.DataFrame, spot: float) -> pd.Series:
    """GEX per contract row, in $ per 1 % move: ±Γ × OI × 100 × S² × 0.01.

    Γ is the frame's ``gamma`` column (per $1, computed at fetch time at this spot). Sign: calls +,
    puts − (dealers long calls, short puts). NaN where ``iv_ok`` is False. Aligned to ``frame``.
    """
    gamma = frame["gamma"].astype("float64").where(_usable(frame))
    value = (gamma * frame["open_interest"] * CONTRACT_MULTIPLIER * spot * spot * ONE_PCT
             * _call_sign(frame))
    return value.rename("gex")


def dex(frame: pd.DataFrame, spot: float) -> pd.Series:
    """DEX per contract row, in $ of underlying: Δ × OI × 100 × S.

    Sign: the contract's own delta (calls +, puts −); no dealer sign. NaN where ``iv_ok`` is False.
    """
    delta = frame["delta"].astype("float64").where(_usable(frame))
    return (delta * frame["open_interest"] * CONTRACT_MULTIPLIER * spot).rename("dex")


def total_gex(frame: pd.DataFrame, spot: float) -> float:
    """Net GEX of the whole frame (all rows / expiries), $ per 1 % move; calls +, puts −."""
    return float(gex(frame, spot).sum())


def total_dex(frame: pd.DataFrame, spot: float) -> float:
    """Net DEX of the whole frame, $ of underlying; signed by each contract's delta."""
    return float(dex(frame, spot).sum())


def gex_by_strike(frame: pd.DataFrame, spot: float) -> pd.DataFrame:
    """GEX summed per strike (over every expiry in the frame), $ per 1 % move.

    Columns: ``strike``, ``call_gex`` (≥ 0), ``put_gex`` (≤ 0), ``net_gex`` = call + put; one row
    per listed strike, sorted by strike. Excluded rows (``iv_ok`` False) count 0.
    """
    parts = pd.DataFrame({"strike": frame["strike"].astype("float64"),
                          "type": frame["type"].astype(str), "gex": gex(frame, spot)})
    table = (parts.groupby(["strike", "type"])["gex"].sum()
             .unstack("type").reindex(columns=["call", "put"]).fillna(0.0))
    out = pd.DataFrame({"strike": table.index.to_numpy(dtype="float64"),
                        "call_gex": table["call"].to_numpy(dtype="float64"),
                        "put_gex": table["put"].to_numpy(dtype="float64")})
    out["net_gex"] = out["call_gex"] + out["put_gex"]
    return out


def gex_by_strike_expiry(frame: pd.DataFrame, spot: float) -> pd.DataFrame:
    """Net GEX per (strike, expiry) for a heatmap, $ per 1 % move; calls +, puts −.

    A long multi-expiry frame in; out a wide frame: index ``strike`` (ascending), one column per
    ``expiry`` (ascending). NaN where a strike is not listed in that expiry (0 where it is listed
    but every row was excluded or has no OI).
    """
    parts = pd.DataFrame({"strike": frame["strike"].astype("float64"),
                          "expiry": frame["expiry"], "gex": gex(frame, spot)})
    wide = parts.groupby(["strike", "expiry"])["gex"].sum().unstack("expiry")
    return wide.sort_index().sort_index(axis=1)


def row_years(frame: pd.DataFrame, T) -> np.ndarray:
    """Per-row T (years) from a float or an ``expiry -> years`` mapping (NaN when missing)."""
    if isinstance(T, Mapping):
        return frame["expiry"].map(T).to_numpy(dtype="float64", na_value=np.nan)
    return np.full(len(frame), float(T))


def _grid(spot: float, grid_pct: float, points: int) -> np.ndarray:
    if not (spot > 0 and 0 < grid_pct < 1 and points >= 2):
        raise ValueError("need spot > 0, 0 < grid_pct < 1 and points >= 2")
    return spot * (1.0 + np.linspace(-grid_pct, grid_pct, int(points)))


def _profile_values(frame: pd.DataFrame, spot: float, r: float, q: float, T,
                    grid_pct: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    prices = _grid(spot, grid_pct, points)
    years = row_years(frame, T)
    iv = frame["iv"].to_numpy(dtype="float64", na_value=np.nan)
    oi = frame["open_interest"].to_numpy(dtype="float64")
    keep = _usable(frame).to_numpy() & np.isfinite(iv) & (iv > 0) & (years > 0) & (oi > 0)
    strikes = frame["strike"].to_numpy(dtype="float64")[keep]
    # contracts x grid: each contract's gamma at every grid price, with its own IV and T
    gam = greeks.gamma(prices[None, :], strikes[:, None], years[keep][:, None], r, q,
                       iv[keep][:, None])
    weight = _call_sign(frame)[keep] * oi[keep] * CONTRACT_MULTIPLIER * ONE_PCT
    net = (weight @ np.nan_to_num(gam, nan=0.0)) * prices * prices
    return prices, net


def gex_profile(frame: pd.DataFrame, spot: float, r: float, q: float, T, *,
                grid_pct: float = 0.15, points: int = 121) -> pd.DataFrame:
    """Total net GEX re-priced at hypothetical spot prices, $ per 1 % move; calls +, puts −.

    Grid: ``points`` prices evenly spaced over spot × (1 ± ``grid_pct``). At each grid price S',
    GEX(S') = Σ ±Γ(S', K, T, r, q, iv) × OI × 100 × S'² × 0.01, each contract keeping its own IV
    and T (float or ``expiry -> years``); OI and IV are held fixed. Columns: ``price``, ``net_gex``.
    """
    prices, net = _profile_values(frame, spot, r, q, T, grid_pct, points)
    return pd.DataFrame({"price": prices, "net_gex": net})


def sign_crossings(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The x where y changes sign between consecutive points (x ascending).

    For y_i and y_{i+1} of opposite signs (or y_{i+1} = 0 after a non-zero y_i) the crossing is
    x_i − y_i (x_{i+1} − x_i) / (y_{i+1} − y_i) (linear interpolation). Empty when y keeps one sign.
    """
    y0, y1 = y[:-1], y[1:]
    hit = ((y0 < 0) & (y1 >= 0)) | ((y0 > 0) & (y1 <= 0))
    x0, x1, y0, y1 = x[:-1][hit], x[1:][hit], y0[hit], y1[hit]
    return x0 - y0 * (x1 - x0) / (y1 - y0)


def nearest_level(levels, spot: float) -> float | None:
    """The level nearest ``spot`` (the lower one on a tie); None when there is none."""
    levels = np.asarray(levels, dtype="float64")
    if levels.size == 0:
        return None
    order = np.lexsort((levels, np.abs(levels - spot)))
    return float(levels[order[0]])


def zero_gamma(frame: pd.DataFrame, spot: float, r: float, q: float, T, *,
               grid_pct: float = 0.15, points: int = 121) -> float | None:
    """Zero gamma: the spot level where total re-priced GEX changes sign, nearest to ``spot``.

    Total GEX is re-priced over spot × (1 ± ``grid_pct``) (see :func:`gex_profile`); between two
    consecutive grid prices whose GEX has opposite signs the crossing is located by linear
    interpolation. Returns the crossing nearest ``spot`` (price units), or None ("none in range")
    when GEX keeps one sign over the whole grid. Single or multi-expiry (long frame; ``T`` a float
    or ``expiry -> years``). Rows with ``iv_ok`` False, no OI or T ≤ 0 are left out.
    """
    prices, net = _profile_values(frame, spot, r, q, T, grid_pct, points)
    return nearest_level(sign_crossings(prices, net), spot)


def strike_of_max(strikes, values, spot: float | None = None) -> float | None:
    """The strike whose value is largest; None when no value is > 0 (nothing to point at).

    Ties: the strike nearest ``spot`` when given, else (and then) the lower strike. NaN values are
    ignored. Used for every kind of wall (gamma, OI, volume).
    """
    strikes = np.asarray(strikes, dtype="float64")
    values = np.nan_to_num(np.asarray(values, dtype="float64"), nan=-np.inf)
    if values.size == 0 or not values.max() > 0:
        return None
    candidates = strikes[values == values.max()]
    distance = np.abs(candidates - spot) if spot is not None else np.zeros_like(candidates)
    return float(candidates[np.lexsort((candidates, distance))[0]])


@dataclasses.dataclass(frozen=True)
class GammaWalls:
    """Gamma walls (strike prices). ``call_wall``: max call GEX; ``put_wall``: max |put GEX|;
    ``abs_gamma_strike``: max GROSS gamma, call GEX + |put GEX| (not netted). None when that side
    has no GEX."""

    call_wall: float | None
    put_wall: float | None
    abs_gamma_strike: float | None


def gamma_walls(frame: pd.DataFrame, spot: float) -> GammaWalls:
    """Gamma walls from :func:`gex_by_strike` (summed over the frame's expiries).

    Call wall = strike of max call GEX; put wall = strike of max |put GEX|; absolute gamma strike
    = strike of max gross gamma |call GEX| + |put GEX| (the common definition: where the most
    gamma sits, whichever side; a strike where calls and puts cancel in net GEX still holds a lot
    of hedging). Ties go to the strike nearest ``spot``.
    """
    table = gex_by_strike(frame, spot)
    strikes = table["strike"]
    return GammaWalls(
        call_wall=strike_of_max(strikes, table["call_gex"], spot),
        put_wall=strike_of_max(strikes, table["put_gex"].abs(), spot),
        abs_gamma_strike=strike_of_max(strikes, table["call_gex"].abs() + table["put_gex"].abs(),
                                       spot),
    )


@dataclasses.dataclass(frozen=True)
class Regime:
    """The dealer-gamma regime at spot (see :func:`gamma_regime`).

    ``state``: ``positive`` / ``negative`` / ``flat`` (net GEX at spot exactly 0) / ``unknown``
    (no GEX: no open interest); ``effect``: ``damped`` / ``amplified`` / ``""``; ``label`` e.g.
    ``"positive · damped"``. ``flip_pct`` = (zero gamma − spot) / spot × 100: how far (in % of
    spot, + above) the flip is; None when zero gamma is not in range.
    """

    state: str
    effect: str
    net_gex: float
    zero_gamma: float | None
    flip_pct: float | None

    @property
    def label(self) -> str:
        return f"{self.state} · {self.effect}" if self.effect else self.state


def gamma_regime(net_gex: float | None, spot: float, zero_gamma: float | None = None) -> Regime:
    """The gamma regime from the SIGN OF NET GEX AT SPOT ($ per 1 % move, calls +, puts −; e.g.
    :func:`total_gex` or ``KeyLevels.net_gex``): positive → dealers are long gamma and hedge
    against moves (moves are **damped**); negative → short gamma, they hedge with the move
    (**amplified**). A regime says damped / amplified, never bullish / bearish.

    Zero gamma does not decide the regime (the nearest crossing can sit on the other side of a
    second one); it is reported as the distance to the flip, ``flip_pct``.
    """
    flip = None
    if zero_gamma is not None and np.isfinite(zero_gamma) and spot > 0:
        flip = (float(zero_gamma) - spot) / spot * 100.0
    if net_gex is None or not np.isfinite(net_gex):
        return Regime("unknown", "", float("nan"), zero_gamma, flip)
    if net_gex > 0:
        return Regime("positive", "damped", float(net_gex), zero_gamma, flip)
    if net_gex < 0:
        return Regime("negative", "amplified", float(net_gex), zero_gamma, flip)
    return Regime("flat", "", 0.0, zero_gamma, flip)


def gamma_range(frame: pd.DataFrame, spot: float, share: float = 0.70
                ) -> tuple[float, float] | None:
    """The strike band around spot where ``share`` (70 %) of the gamma sits: (low, high) strikes.

    Definition: weight each listed strike by its gross gamma exposure |call GEX| + |put GEX|
    (summed over the frame's expiries; puts and calls do not cancel). Find the smallest distance d
    such that strikes with |K − spot| ≤ d hold at least ``share`` of the total weight; the band is
    [lowest, highest] of those strikes. It need not be symmetric around spot. None when there is
    no gamma at all.
    """
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    table = gex_by_strike(frame, spot)
    weight = (table["call_gex"].abs() + table["put_gex"].abs()).to_numpy()
    strikes = table["strike"].to_numpy()
    total = weight.sum()
    if not total > 0:
        return None
    distance = np.abs(strikes - spot)
    order = np.argsort(distance, kind="stable")
    reached = np.cumsum(weight[order]) >= share * total * (1 - 1e-12)
    radius = distance[order][np.argmax(reached)]
    inside = strikes[distance <= radius]
    return float(inside.min()), float(inside.max())
