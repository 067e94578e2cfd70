"""Walls stacked across expiries, the option finder's filters and columns, the group comparison
row, and the small helpers the Finder and Walls pages need that :mod:`core.analytics.levels`,
:mod:`~core.analytics.exposure` and :mod:`~core.analytics.volatility` do not already give.

Inputs are canonical chain frames (:data:`core.schema.CHAIN_COLUMNS`). Several expiries are
either a list of one-expiry frames (:func:`stacked_walls`) or one long frame, their
concatenation (:func:`concat`), told apart by ``expiry`` — the convention of
:mod:`core.analytics.exposure`. This module reads no clock: ``today`` is always passed in.

Units and sign conventions
--------------------------
- Strikes, spot, breakevens and levels in the underlying's currency per share.
- **Wall size** of a strike, by wall kind (:data:`WALL_KINDS`): ``volume`` = contracts traded
  today, ``oi`` = open interest in contracts, ``gamma`` = |GEX| in $ per 1 % move (call GEX for
  the call side, |put GEX| for the put side; see :func:`core.analytics.exposure.gex`).
- **Moneyness %** = (K / S − 1) × 100: negative below spot, positive above, for calls and puts
  alike (a put at −5 % is 5 % out of the money, a call at −5 % 5 % in the money).
- **DTE** = calendar days from ``today`` to the expiry (0 on the expiry day).
- **Breakeven** at expiry, per share: call K + mid, put K − mid (NaN when mid ≤ 0).
- **Probability ITM** = N(d₂) for a call, N(−d₂) for a put (BSM, risk-neutral), with
  d₂ = [ln(S/K) + (r − q − σ²/2)·T] / (σ√T), each contract's own IV and T. Not |Δ| (that is
  N(d₁)·e^{−qT}, up to 10+ points off on high-IV or long-dated contracts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr

from core import schema
from core.analytics import exposure, levels

WALL_KINDS: dict[str, str] = {
    "volume": "Volume",
    "oi": "Open interest",
    "gamma": "Gamma (GEX)",
}
WALL_UNITS: dict[str, str] = {"volume": "contracts", "oi": "contracts", "gamma": "$ per 1% move"}
SIDES = ("call", "put")


# --- small helpers -----------------------------------------------------------------------------

def clamp(asked: int, cap: int, what: str, *, low: int = 1) -> tuple[int, str | None]:
    """``asked`` clamped to [``low``, ``cap``], with a note for the user when it was changed.

    A request past a cap is never an error: e.g. ``clamp(60, 40, "strikes")`` returns
    ``(40, "Showing 40 strikes: 60 asked, the cap is 40.")``.
    """
    value = max(int(low), min(int(asked), int(cap)))
    if value == int(asked):
        return value, None
    bound = "the cap" if int(asked) > cap else "the minimum"
    return value, f"Showing {value} {what}: {int(asked)} asked, {bound} is {value}."


def pct_from_spot(level: float | None, spot: float) -> float | None:
    """Where a level sits relative to spot, in percent: (level / S − 1) × 100 (above spot > 0);
    None when the level is."""
    if level is None or not np.isfinite(level) or not spot > 0:
        return None
    return (level / spot - 1.0) * 100.0


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several expiries' frames as one long frame (the multi-expiry convention)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["type", "strike", "expiry"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def dte(expiry: dt.date, today: dt.date) -> int:
    """Calendar days from ``today`` to ``expiry`` (0 on the expiry day)."""
    return (expiry - today).days


def nearest_expiry(expiries: Sequence[dt.date], today: dt.date, target_dte: int
                   ) -> dt.date | None:
    """The listed expiry whose DTE is nearest ``target_dte`` (the earlier one on a tie); None
    when none is listed. Used to compare symbols at a like-for-like horizon (a 0DTE index next to
    a stock's weekly would not be)."""
    if not expiries:
        return None
    return min(sorted(expiries), key=lambda e: abs(dte(e, today) - target_dte))


def last_sessions(bars: pd.DataFrame, n: int = 2) -> pd.DataFrame:
    """The bars of the last ``n`` ET calendar days present in ``bars`` (index tz-aware), e.g.
    two sessions of 5-min bars out of ``history(sym, "5d", "5m")``. Empty in, empty out."""
    if not len(bars):
        return bars
    days = pd.Index(bars.index.tz_convert("America/New_York").date)
    keep = sorted(set(days))[-n:]
    return bars[days.isin(keep)]


# --- walls by kind, one or several expiries ----------------------------------------------------

def side_sizes(frame: pd.DataFrame, spot: float, kind: str) -> pd.DataFrame:
    """Per-strike wall size of each side, by wall ``kind`` (see the module's units).

    Columns ``strike`` (ascending), ``call``, ``put`` (both ≥ 0). ``volume`` and ``oi`` come from
    :func:`core.analytics.levels.by_strike`; ``gamma`` from
    :func:`core.analytics.exposure.gex_by_strike` (call GEX, |put GEX|), summed over the frame.
    """
    if kind in ("volume", "oi"):
        table = levels.by_strike(frame)
        return pd.DataFrame({"strike": table["strike"],
                             "call": table[f"call_{kind}"].astype("float64"),
                             "put": table[f"put_{kind}"].astype("float64")})
    if kind == "gamma":
        table = exposure.gex_by_strike(frame, spot)
        return pd.DataFrame({"strike": table["strike"], "call": table["call_gex"].clip(lower=0),
                             "put": table["put_gex"].abs()})
    raise ValueError(f"wall kind must be one of {sorted(WALL_KINDS)}, not {kind!r}")


def walls(frame: pd.DataFrame, spot: float, kind: str) -> levels.Walls:
    """The call and put wall of one ``kind``: the strike of the largest call / put size (ties to
    the strike nearest spot, then the lower; None when a side is empty). For ``oi``/``volume``
    these are :func:`levels.oi_walls`/:func:`levels.volume_walls`; for ``gamma`` the gamma
    walls of :func:`exposure.gamma_walls`."""
    sizes = side_sizes(frame, spot, kind)
    return levels.Walls(kind, exposure.strike_of_max(sizes["strike"], sizes["call"], spot),
                        exposure.strike_of_max(sizes["strike"], sizes["put"], spot))


@dataclasses.dataclass(frozen=True)
class StackedWalls:
    """Walls of one kind stacked across several expiries (see :func:`stacked_walls`).

    ``layers``: one row per (expiry, side, strike): ``size`` (the kind's unit) and ``relative``
    = size ÷ that expiry-side's largest size (0–1; 1 at that expiry's wall), ``is_wall``.
    ``per_expiry``: one row per expiry: ``expiry``, ``call_wall``, ``put_wall`` (NaN if none).
    ``strength``: one row per (side, strike) with any size: ``strength`` = Σ relative over the
    expiries (0 … number of expiries), ``walls`` = in how many expiries it is THE wall,
    ``expiries`` = those expiries ("20 Nov, 27 Nov"), ``size`` = Σ size, ``distance_pct`` =
    (K / S − 1) × 100; strongest first.
    """

    kind: str
    expiries: tuple
    layers: pd.DataFrame
    per_expiry: pd.DataFrame
    strength: pd.DataFrame

    def top(self, side: str, n: int = 5) -> pd.DataFrame:
        """The ``n`` strongest strikes of one side (rows of ``strength``)."""
        rows = self.strength[self.strength["side"] == side]
        return rows.head(n).reset_index(drop=True)


def expiry_list_text(values) -> str:
    return ", ".join(f"{e:%d %b}" if isinstance(e, dt.date) else str(e) for e in values)


def stacked_walls(frames: Sequence[pd.DataFrame], spot: float, kind: str) -> StackedWalls:
    """Walls of ``kind`` across several expiries (one frame each, e.g. the next three), scored.

    **Strength** of strike K on a side (call or put) = Σ over the expiries e of
    size_e(K) / max_K' size_e(K'), where size is the kind's per-strike size (:func:`side_sizes`).
    Each expiry contributes between 0 (nothing at K) and 1 (K is that expiry's wall), so the score
    runs from 0 to the number of expiries: a strike that is the wall in all three scores 3.0, and
    one that is a near-wall in each still scores high — a strike that is a wall in several
    expiries is stronger than a single expiry's wall. Expiries weigh equally (agreement across
    expiries is the point, not the size of the largest one). ``walls`` counts the expiries where
    K is THE wall (ties to the strike nearest spot, as :func:`walls`). Ranking: strength, then
    walls, then Σ size, then nearness to spot.
    """
    if kind not in WALL_KINDS:
        raise ValueError(f"wall kind must be one of {sorted(WALL_KINDS)}, not {kind!r}")
    layers, per_expiry, expiries = [], [], []
    for frame in frames:
        if not len(frame):
            continue
        expiry = frame["expiry"].iloc[0]
        expiries.append(expiry)
        sizes = side_sizes(frame, spot, kind)
        row = {"expiry": expiry}
        for side in SIDES:
            size = sizes[side].to_numpy(dtype="float64")
            top = size.max() if len(size) else 0.0
            wall = exposure.strike_of_max(sizes["strike"], size, spot)
            row[f"{side}_wall"] = np.nan if wall is None else wall
            layers.append(pd.DataFrame({
                "expiry": [expiry] * len(sizes), "side": side,
                "strike": sizes["strike"].to_numpy(dtype="float64"), "size": size,
                "relative": size / top if top > 0 else np.zeros_like(size),
                "is_wall": sizes["strike"].to_numpy(dtype="float64") == wall,
            }))
        per_expiry.append(row)
    layer_cols = ["expiry", "side", "strike", "size", "relative", "is_wall"]
    layer = (pd.concat(layers, ignore_index=True) if layers
             else pd.DataFrame(columns=layer_cols).astype({"strike": "float64", "size": "float64",
                                                          "relative": "float64"}))
    wall_rows = layer[layer["is_wall"].astype(bool)]
    named = (wall_rows.groupby(["side", "strike"])["expiry"]
             .agg(lambda s: expiry_list_text(sorted(s))).rename("expiries"))
    score = (layer[layer["size"] > 0].groupby(["side", "strike"])
             .agg(strength=("relative", "sum"), walls=("is_wall", "sum"), size=("size", "sum")))
    score = score.join(named).reset_index()
    score["expiries"] = score["expiries"].fillna("")
    score["walls"] = score["walls"].astype("int64")
    score["distance_pct"] = (score["strike"] / spot - 1.0) * 100.0
    score["_near"] = score["distance_pct"].abs()
    score = (score.sort_values(["strength", "walls", "size", "_near"],
                               ascending=[False, False, False, True], kind="stable")
             .drop(columns="_near").reset_index(drop=True))
    table = pd.DataFrame(per_expiry, columns=["expiry", "call_wall", "put_wall"])
    return StackedWalls(kind, tuple(expiries), layer, table, score)


# --- the Walls page: levels for alerts ---------------------------------------------------------

ALERT_LEVELS = ("call_wall_volume", "put_wall_volume", "call_wall_oi", "put_wall_oi",
                "call_wall_gamma", "put_wall_gamma", "zero_gamma", "max_pain", "volume_pivot")


def alert_levels(kl: levels.KeyLevels, names: Sequence[str] = ALERT_LEVELS
                 ) -> dict[str, float | None]:
    """``{name: value}`` of a :class:`~core.analytics.levels.KeyLevels`' levels, ready for
    :func:`core.analytics.levels.proximity_alerts` (None where undefined)."""
    return {name: getattr(kl, name) for name in names}


def split_by_range(named: dict[str, float | None], low: float, high: float, *,
                   pad: float = 0.25) -> tuple[dict[str, float], dict[str, float]]:
    """Split levels into those inside a price window and those outside it, so a price chart can
    draw the near ones without squashing its candles. Window: [low − pad·(high − low),
    high + pad·(high − low)]. None/NaN levels are dropped. Returns ``(inside, outside)``."""
    span = max(high - low, 0.0) * pad
    inside, outside = {}, {}
    for name, value in named.items():
        if value is None or not np.isfinite(value):
            continue
        (inside if low - span <= value <= high + span else outside)[name] = float(value)
    return inside, outside


def expected_move_pct(kl: levels.KeyLevels) -> float | None:
    """The 1σ expected move from ATM IV (S·σ·√T) in percent of spot; None when undefined."""
    if kl.one_sigma_iv is None or not kl.spot > 0:
        return None
    return 100.0 * kl.one_sigma_iv / kl.spot


# --- the Finder page: columns and filters ------------------------------------------------------

def breakeven(frame: pd.DataFrame) -> pd.Series:
    """Breakeven at expiry per share: call K + mid, put K − mid; NaN where mid ≤ 0."""
    mid = frame["mid"].astype("float64").where(frame["mid"] > 0)
    sign = np.where((frame["type"] == "call").to_numpy(), 1.0, -1.0)
    return (frame["strike"].astype("float64") + sign * mid).rename("breakeven")


def prob_itm(frame: pd.DataFrame, spot: float, T, r: float, q: float) -> pd.Series:
    """Risk-neutral probability of finishing in the money (0–1): N(d₂) for a call, N(−d₂) for a
    put, d₂ = [ln(S/K) + (r − q − σ²/2)·T] / (σ√T) with each row's own IV (``iv_ok`` rows only;
    NaN otherwise). ``T`` years: a float or a mapping ``expiry -> years`` (several expiries).
    A pricing-measure reading, not a forecast."""
    years = exposure.row_years(frame, T)
    sigma = frame["iv"].to_numpy(dtype="float64", na_value=np.nan)
    sigma = np.where(frame["iv_ok"].to_numpy(dtype=bool), sigma, np.nan)
    strike = frame["strike"].to_numpy(dtype="float64")
    with np.errstate(all="ignore"):
        vol_t = sigma * np.sqrt(years)
        d2 = (np.log(spot / strike) + (r - q - 0.5 * sigma * sigma) * years) / vol_t
        d2 = np.where((vol_t > 0) & (strike > 0) & (spot > 0), d2, np.nan)
    is_call = (frame["type"] == "call").to_numpy()
    return pd.Series(ndtr(np.where(is_call, d2, -d2)), index=frame.index, name="prob_itm")


def moneyness_pct(frame: pd.DataFrame, spot: float) -> pd.Series:
    """(K / S − 1) × 100: where the strike sits relative to spot, in percent (below spot < 0)."""
    return ((frame["strike"].astype("float64") / spot - 1.0) * 100.0).rename("moneyness_pct")


def with_finder_columns(frame: pd.DataFrame, spot: float, today: dt.date, T, r: float,
                        q: float) -> pd.DataFrame:
    """A copy of ``frame`` with ``dte``, ``moneyness_pct``, ``breakeven``, ``breakeven_pct``
    (= (breakeven / S − 1) × 100: the move the underlying needs by expiry) and ``prob_itm``
    (:func:`prob_itm`; ``T`` a float or ``expiry -> years``, ``r``/``q`` continuous)."""
    be = breakeven(frame)
    days = pd.Series([dte(e, today) for e in frame["expiry"]], index=frame.index, dtype="int64")
    return frame.assign(dte=days, moneyness_pct=moneyness_pct(frame, spot), breakeven=be,
                        breakeven_pct=(be / spot - 1.0) * 100.0,
                        prob_itm=prob_itm(frame, spot, T, r, q))


def by_type(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows of ``kind``: ``"call"``, ``"put"`` or ``"both"``."""
    if kind == "both":
        return frame
    if kind not in SIDES:
        raise ValueError("kind must be 'call', 'put' or 'both'")
    return frame[frame["type"] == kind]


def by_min_oi(frame: pd.DataFrame, min_oi: int) -> pd.DataFrame:
    """Rows with open interest ≥ ``min_oi`` contracts."""
    return frame[frame["open_interest"] >= min_oi]


def by_moneyness(frame: pd.DataFrame, spot: float, low_pct: float, high_pct: float
                 ) -> pd.DataFrame:
    """Rows whose moneyness % (K / S − 1) × 100 lies in [``low_pct``, ``high_pct``]
    (e.g. −10 … +10 keeps strikes within 10 % of spot)."""
    m = moneyness_pct(frame, spot)
    return frame[(m >= low_pct - 1e-9) & (m <= high_pct + 1e-9)]


def by_dte(frame: pd.DataFrame, today: dt.date, low: int, high: int) -> pd.DataFrame:
    """Rows whose expiry is ``low`` … ``high`` calendar days from ``today`` (inclusive)."""
    days = np.array([dte(e, today) for e in frame["expiry"]], dtype="int64")
    return frame[(days >= low) & (days <= high)]


def by_delta(frame: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    """Rows whose |Δ| lies in [``low``, ``high``] (0–1, so one band serves calls and puts).
    Rows without a delta (IV unusable) fail any band narrower than the full 0–1."""
    if low <= 0.0 and high >= 1.0:
        return frame
    d = frame["delta"].astype("float64").abs()
    return frame[(d >= low - 1e-12) & (d <= high + 1e-12)]


@dataclasses.dataclass(frozen=True)
class FinderFilters:
    """The option finder's filters (see each ``by_*`` function): ``kind`` call/put/both,
    ``min_oi`` contracts, ``moneyness`` (low %, high %), ``dte`` (low, high) days, ``delta``
    (low, high) on |Δ|."""

    kind: str = "both"
    min_oi: int = 0
    moneyness: tuple[float, float] = (-10.0, 10.0)
    dte: tuple[int, int] = (0, 60)
    delta: tuple[float, float] = (0.0, 1.0)


def apply_filters(frame: pd.DataFrame, spot: float, today: dt.date, f: FinderFilters,
                  T, r: float, q: float) -> pd.DataFrame:
    """Every finder filter in turn (type, min OI, moneyness band, DTE range, |Δ| range), then
    the finder columns (:func:`with_finder_columns`); rows sorted by expiry, type, strike."""
    out = by_type(frame, f.kind)
    out = by_min_oi(out, f.min_oi)
    out = by_moneyness(out, spot, *f.moneyness)
    out = by_dte(out, today, *f.dte)
    out = by_delta(out, *f.delta)
    out = with_finder_columns(out, spot, today, T, r, q)
    return out.sort_values(["expiry", "type", "strike"], kind="stable").reset_index(drop=True)


def top_gex_strikes(frame: pd.DataFrame, spot: float, n: int = 10) -> pd.DataFrame:
    """The ``n`` strikes with the largest |net GEX| (summed over the frame's expiries).

    Rows of :func:`core.analytics.exposure.gex_by_strike` ($ per 1 % move; calls +, puts −) plus
    ``share`` = |net GEX| ÷ Σ |net GEX| over all strikes (0–1) and ``distance_pct`` =
    (K / S − 1) × 100; largest first, ties to the strike nearest spot. Strikes with no GEX are
    left out.
    """
    table = exposure.gex_by_strike(frame, spot)
    size = table["net_gex"].abs()
    total = size.sum()
    table = table.assign(share=size / total if total > 0 else 0.0,
                         distance_pct=(table["strike"] / spot - 1.0) * 100.0,
                         _size=size, _near=(table["strike"] - spot).abs())
    table = table[table["_size"] > 0]
    table = table.sort_values(["_size", "_near"], ascending=[False, True], kind="stable")
    return table.drop(columns=["_size", "_near"]).head(n).reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class GammaSummary:
    """Dealer gamma across several expiries (one long frame of FULL chains — every total and
    level below is a sum over all strikes; cap for display with :func:`near_spot`):
    ``by_strike`` (the frame of :func:`exposure.gex_by_strike`), ``heat``
    (:func:`exposure.gex_by_strike_expiry`), ``top`` (:func:`top_gex_strikes`), ``band`` = the strike band holding 70 % of the gamma
    (:func:`exposure.gamma_range`; None without gamma), ``zero_gamma`` (re-priced, each expiry
    with its own T; None when none in range), ``net_gex`` total, $ per 1 % move, calls +."""

    by_strike: pd.DataFrame
    heat: pd.DataFrame
    top: pd.DataFrame
    band: tuple[float, float] | None
    zero_gamma: float | None
    net_gex: float
    oi_published: bool = True


def gamma_summary(frame: pd.DataFrame, spot: float, r: float, q: float, T, *,
                  top_n: int = 10, share: float = 0.70) -> GammaSummary:
    """Everything the Finder shows about gamma across the chosen expiries, in one pass (so it is
    computed once per chain version through ``fetch.derived``). ``T``: a float or a mapping
    ``expiry -> years`` (see :mod:`core.analytics.exposure`). While open interest is not
    published (:func:`core.schema.oi_published`) GEX is not computed on zeros: ``zero_gamma``
    None, ``net_gex`` NaN, ``oi_published`` False."""
    if len(frame) and not schema.oi_published(frame):
        return GammaSummary(by_strike=exposure.gex_by_strike(frame, spot),
                            heat=exposure.gex_by_strike_expiry(frame, spot),
                            top=top_gex_strikes(frame, spot, top_n), band=None, zero_gamma=None,
                            net_gex=float("nan"), oi_published=False)
    return GammaSummary(
        by_strike=exposure.gex_by_strike(frame, spot),
        heat=exposure.gex_by_strike_expiry(frame, spot),
        top=top_gex_strikes(frame, spot, top_n),
        band=exposure.gamma_range(frame, spot, share),
        zero_gamma=exposure.zero_gamma(frame, spot, r, q, T) if len(frame) else None,
        net_gex=exposure.total_gex(frame, spot) if len(frame) else 0.0,
    )


def near_spot(table: pd.DataFrame, spot: float, n: int) -> pd.DataFrame:
    """The rows of a per-strike table for the ``n`` strikes nearest spot, in strike order — a
    DISPLAY cap: levels and totals are computed on the full chain first. The strike is the
    ``strike`` column when there is one, else the index (e.g. a heatmap's)."""
    strikes = (table["strike"] if "strike" in table.columns else table.index.to_series())
    values = strikes.to_numpy(dtype="float64")
    keep = np.sort(np.argsort(np.abs(values - spot), kind="stable")[:max(int(n), 0)])
    return table.iloc[keep]


# --- the group comparison ----------------------------------------------------------------------

COMPARISON_COLUMNS = ("symbol", "spot", "expiry", "dte", "call_wall_oi", "put_wall_oi",
                      "call_wall_gamma", "put_wall_gamma", "zero_gamma", "max_pain", "pc_oi",
                      "pc_volume", "atm_iv", "em_pct", "net_gex", "regime", "flip_pct")


def comparison_row(symbol: str, expiry: dt.date, today: dt.date, kl: levels.KeyLevels) -> dict:
    """One row of the group comparison table from one expiry's key levels (plain Python values,
    columns :data:`COMPARISON_COLUMNS`): spot, expiry and DTE, OI and gamma walls, zero gamma,
    max pain, P/C by OI and volume, ATM IV (decimal), expected move in % (1σ from ATM IV),
    net GEX ($ per 1 % move, calls +), the gamma regime from the sign of that net GEX at spot
    (:func:`core.analytics.exposure.gamma_regime`: "positive · damped" / "negative · amplified")
    and the distance to the flip ``flip_pct`` = (zero gamma − spot) / spot × 100."""
    regime = exposure.gamma_regime(kl.net_gex, kl.spot, kl.zero_gamma)
    return {
        "symbol": symbol, "spot": kl.spot, "expiry": expiry, "dte": dte(expiry, today),
        "call_wall_oi": kl.call_wall_oi, "put_wall_oi": kl.put_wall_oi,
        "call_wall_gamma": kl.call_wall_gamma, "put_wall_gamma": kl.put_wall_gamma,
        "zero_gamma": kl.zero_gamma, "max_pain": kl.max_pain,
        "pc_oi": kl.pc_oi, "pc_volume": kl.pc_volume, "atm_iv": kl.atm_iv,
        "em_pct": expected_move_pct(kl), "net_gex": kl.net_gex,
        "regime": regime.label, "flip_pct": regime.flip_pct,
    }


def comparison_table(rows: Sequence[dict]) -> pd.DataFrame:
    """The rows as a frame with :data:`COMPARISON_COLUMNS` (None -> NaN), in the given order."""
    return pd.DataFrame(list(rows), columns=list(COMPARISON_COLUMNS))
