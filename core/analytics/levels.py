"""Levels a trader reads off one chain: volume/OI by strike, walls, max pain, volume pivot,
expected move, put/call ratios, most active strikes, and :func:`key_levels` bundling them.

Inputs are canonical chain frames (:data:`core.schema.CHAIN_COLUMNS`). Per-strike tables and
ratios accept the same long multi-expiry frame as :mod:`core.analytics.exposure` (expiries
concatenated, told apart by ``expiry``) and sum over it; :func:`max_pain`, :func:`expected_move`
and :func:`key_levels` are for ONE expiry and raise ``ValueError`` on more.

Units: strikes, levels and moves in the underlying's currency per share; volume and OI in
contracts; ``T`` in years; ``r``, ``q`` continuous decimals; IV a decimal.
Signs: net volume / net OI per strike = put − call (positive where puts dominate).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from core import schema
from core.analytics import exposure

CONTRACT_MULTIPLIER = exposure.CONTRACT_MULTIPLIER
STRADDLE_50_FACTOR = 0.85   # time value × 0.85 ≈ the move with ~50 % odds of being exceeded
STRADDLE_1SD_FACTOR = 1.25  # time value × 1.25 ≈ one standard deviation (√(π/2) ≈ 1.2533)


def _one_expiry(frame: pd.DataFrame) -> None:
    if frame["expiry"].nunique() > 1:
        raise ValueError("this level is defined for one expiry: pass one expiry's frame")


def by_strike(frame: pd.DataFrame) -> pd.DataFrame:
    """Volume and open interest per strike (summed over the frame's expiries), in contracts.

    Columns: ``strike``, ``call_volume``, ``put_volume``, ``call_oi``, ``put_oi``,
    ``total_volume`` = call + put, ``net_volume`` = put − call, ``net_oi`` = put − call.
    One row per listed strike, sorted by strike.
    """
    table = (frame.assign(strike=frame["strike"].astype("float64"), type=frame["type"].astype(str))
             .groupby(["strike", "type"])[["volume", "open_interest"]].sum()
             .unstack("type").fillna(0))
    out = pd.DataFrame({"strike": table.index.to_numpy(dtype="float64")})
    for src, name in (("volume", "volume"), ("open_interest", "oi")):
        for side in ("call", "put"):
            col = (src, side)
            out[f"{side}_{name}"] = (table[col].to_numpy(dtype="int64") if col in table.columns
                                     else np.zeros(len(out), dtype="int64"))
    out["total_volume"] = out["call_volume"] + out["put_volume"]
    out["net_volume"] = out["put_volume"] - out["call_volume"]
    out["net_oi"] = out["put_oi"] - out["call_oi"]
    return out


@dataclasses.dataclass(frozen=True)
class Walls:
    """A pair of walls of one ``kind`` ("oi", "volume"): the strikes with the most call / put
    contracts. None when that side has none."""

    kind: str
    call: float | None
    put: float | None


MIN_WALL_OI = 50  # contracts: a strike with less open interest is no wall, whatever else it has


def oi_walls(frame: pd.DataFrame, spot: float | None = None) -> Walls:
    """OI walls: strike of max call open interest, strike of max put open interest.

    Ties go to the strike nearest ``spot`` (when given), then the lower strike. A side whose
    largest OI is under :data:`MIN_WALL_OI` contracts has no wall (None): a few stray values in
    a chain whose OI is not published yet must not draw a wall far from spot.
    """
    table = by_strike(frame)
    call_oi = table["call_oi"].where(table["call_oi"] >= MIN_WALL_OI, 0)
    put_oi = table["put_oi"].where(table["put_oi"] >= MIN_WALL_OI, 0)
    return Walls("oi", exposure.strike_of_max(table["strike"], call_oi, spot),
                 exposure.strike_of_max(table["strike"], put_oi, spot))


def volume_walls(frame: pd.DataFrame, spot: float | None = None) -> Walls:
    """Volume walls: strike of max call volume, strike of max put volume (today's contracts).

    Ties go to the strike nearest ``spot`` (when given), then the lower strike.
    """
    table = by_strike(frame)
    return Walls("volume", exposure.strike_of_max(table["strike"], table["call_volume"], spot),
                 exposure.strike_of_max(table["strike"], table["put_volume"], spot))


def pain_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """Option holders' payoff at expiry if the underlying settles at each listed strike P, in $.

    call_pain(P) = Σ_{K<P} (P − K) · callOI_K · 100;  put_pain(P) = Σ_{K>P} (K − P) · putOI_K · 100;
    ``total_pain`` = call + put. Columns ``strike`` (= P), ``call_pain``, ``put_pain``,
    ``total_pain``. One expiry only.
    """
    _one_expiry(frame)
    table = by_strike(frame)
    strikes = table["strike"].to_numpy()
    gap = strikes[:, None] - strikes[None, :]  # rows: settlement P, columns: strike K
    call_pain = np.clip(gap, 0, None) @ table["call_oi"].to_numpy(dtype="float64")
    put_pain = np.clip(-gap, 0, None) @ table["put_oi"].to_numpy(dtype="float64")
    return pd.DataFrame({"strike": strikes, "call_pain": call_pain * CONTRACT_MULTIPLIER,
                         "put_pain": put_pain * CONTRACT_MULTIPLIER,
                         "total_pain": (call_pain + put_pain) * CONTRACT_MULTIPLIER})


def max_pain(frame: pd.DataFrame) -> float | None:
    """Max pain (one expiry): the listed strike P minimising
    Σ_{K<P} (P − K)·callOI_K + Σ_{K>P} (K − P)·putOI_K (see :func:`pain_curve`).

    Price units. Ties go to the lower strike. None when the chain has no open interest.
    """
    curve = pain_curve(frame)
    if curve.empty or (frame["open_interest"].sum() == 0):
        return None
    return float(curve["strike"].iloc[int(np.argmin(curve["total_pain"].to_numpy()))])


def volume_pivot(frame: pd.DataFrame, spot: float, window_pct: float | None = 0.10
                 ) -> float | None:
    """Volume pivot: near spot, the level where net volume (put − call) per strike changes sign.

    Strikes with net volume 0 are skipped; between two consecutive remaining strikes whose net
    volumes have opposite signs the crossing is placed by linear interpolation (so it lies between
    two strikes, or on one when the nets balance). Returns the crossing nearest ``spot`` within
    spot × (1 ± ``window_pct``) (no window when None), or None. A flow level, not a gamma level:
    never call it "gamma flip" (that is :func:`core.analytics.exposure.zero_gamma`).
    """
    table = by_strike(frame)
    table = table[table["net_volume"] != 0]
    levels = exposure.sign_crossings(table["strike"].to_numpy(dtype="float64"),
                                 table["net_volume"].to_numpy(dtype="float64"))
    if window_pct is not None:
        levels = levels[np.abs(levels - spot) <= window_pct * spot]
    return exposure.nearest_level(levels, spot)


@dataclasses.dataclass(frozen=True)
class ExpectedMove:
    """Expected move to expiry, in price units (± around spot); None where inputs are missing.

    ``straddle`` = ATM call mid + put mid (its price); ``straddle_time_value`` = straddle −
    |S − K_ATM| (the intrinsic value stripped: what the straddle pays for movement);
    ``range_50`` = 0.85 × time value (≈ the ~50 % range); ``one_sigma_straddle`` = 1.25 × time
    value; ``one_sigma_iv`` = S · σ_ATM · √T.
    ``atm_strike`` / ``atm_iv`` are the strike and IV (decimal) used.
    """

    atm_strike: float | None
    atm_iv: float | None
    straddle: float | None
    straddle_time_value: float | None
    range_50: float | None
    one_sigma_straddle: float | None
    one_sigma_iv: float | None


def atm_strike(frame: pd.DataFrame, spot: float) -> float | None:
    """The strike nearest spot listed for both a call and a put (lower one on a tie)."""
    types = frame.groupby(frame["strike"].astype("float64"))["type"].nunique()
    both = types[types == 2].index.to_numpy(dtype="float64")
    return exposure.nearest_level(both, spot)


def expected_move(frame: pd.DataFrame, spot: float, T: float) -> ExpectedMove:
    """Expected move from the ATM straddle and from ATM IV (one expiry).

    ATM strike: :func:`atm_strike`. straddle = call mid + put mid there (None if either mid ≤ 0);
    time value = straddle − |S − K| (the ATM call's intrinsic max(S − K, 0) plus the put's
    max(K − S, 0); None when not > 0). Late on a 0DTE with spot between wide strikes most of the
    straddle is intrinsic, which is no move at all, so the straddle moves use the time value:
    range_50 = 0.85 × time value; one_sigma_straddle = 1.25 × time value. ATM IV = mean IV of that
    strike's call and put with ``iv_ok``; one_sigma_iv = spot × IV × √T (T in years; for 0DTE the
    time left in today's session). All in price units.
    """
    _one_expiry(frame)
    strike = atm_strike(frame, spot)
    if strike is None:
        return ExpectedMove(None, None, None, None, None, None, None)
    rows = frame[frame["strike"].astype("float64") == strike]
    mids = rows.groupby(rows["type"].astype(str))["mid"].first()
    straddle = float(mids["call"] + mids["put"]) if (mids > 0).all() and len(mids) == 2 else None
    ivs = rows.loc[rows["iv_ok"].astype(bool), "iv"].astype("float64")
    iv = float(ivs.mean()) if len(ivs) else None
    extrinsic = None if straddle is None else straddle - abs(float(spot) - strike)
    extrinsic = extrinsic if extrinsic is not None and extrinsic > 0 else None
    return ExpectedMove(
        atm_strike=strike, atm_iv=iv, straddle=straddle, straddle_time_value=extrinsic,
        range_50=None if extrinsic is None else STRADDLE_50_FACTOR * extrinsic,
        one_sigma_straddle=None if extrinsic is None else STRADDLE_1SD_FACTOR * extrinsic,
        one_sigma_iv=float(spot * iv * np.sqrt(T)) if iv is not None and T > 0 else None,
    )


def strike_gap(strikes, level: float | None, toward: float) -> float | None:
    """The listing's strike spacing at ``level`` on the side of ``toward`` (e.g. spot): the
    distance from ``level`` to the next listed strike in that direction (price units). So
    |toward − level| ≤ gap means no other listed strike lies strictly between them ("within
    one strike"). None when ``level`` is undefined or no strike lies that way."""
    if level is None or not np.isfinite(level):
        return None
    values = np.unique(np.asarray(strikes, dtype="float64"))
    side = values[values > level] if toward >= level else values[values < level]
    if not len(side):
        return None
    return float(abs((side.min() if toward >= level else side.max()) - level))


@dataclasses.dataclass(frozen=True)
class PutCallRatios:
    """Put/call ratios (put ÷ call): by volume and by OI; None when the call side is 0."""

    volume: float | None
    oi: float | None


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den > 0 else None


def put_call_ratios(frame: pd.DataFrame) -> PutCallRatios:
    """Put volume ÷ call volume and put OI ÷ call OI over the whole frame (so, on a long
    multi-expiry frame, the overall ratios across expiries). None when the call side is 0."""
    puts = frame["type"] == "put"
    calls = frame["type"] == "call"
    return PutCallRatios(
        volume=_ratio(frame.loc[puts, "volume"].sum(), frame.loc[calls, "volume"].sum()),
        oi=_ratio(frame.loc[puts, "open_interest"].sum(), frame.loc[calls, "open_interest"].sum()),
    )


def put_call_by_expiry(frame: pd.DataFrame) -> pd.DataFrame:
    """Put/call ratios per expiry of a long frame, one row per expiry (ascending).

    Columns: ``expiry``, ``call_volume``, ``put_volume``, ``call_oi``, ``put_oi``, ``pc_volume``,
    ``pc_oi`` (put ÷ call; NaN when the call side is 0). Overall: :func:`put_call_ratios`.
    """
    table = (frame.assign(type=frame["type"].astype(str))
             .groupby(["expiry", "type"])[["volume", "open_interest"]].sum()
             .unstack("type").fillna(0).sort_index())
    out = pd.DataFrame({"expiry": table.index})
    for src, name in (("volume", "volume"), ("open_interest", "oi")):
        for side in ("call", "put"):
            col = (src, side)
            out[f"{side}_{name}"] = (table[col].to_numpy(dtype="int64") if col in table.columns
                                     else np.zeros(len(out), dtype="int64"))
    for name in ("volume", "oi"):
        den = out[f"call_{name}"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"pc_{name}"] = np.where(den > 0, out[f"put_{name}"] / den, np.nan)
    return out


def most_active(frame: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The ``n`` strikes with the most total (call + put) volume, most active first.

    Rows of :func:`by_strike`; strikes with no volume are left out; ties go to the lower strike.
    """
    table = by_strike(frame)
    table = table[table["total_volume"] > 0]
    table = table.sort_values(["total_volume", "strike"], ascending=[False, True], kind="stable")
    return table.head(n).reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class KeyLevels:
    """One expiry's levels, as plain floats (price units unless said) or None when undefined.
    Computed on the expiry's FULL chain (``core.fetch.key_levels``; never a strike-capped view).

    Walls by kind: ``*_oi`` (max OI strike), ``*_volume`` (max volume strike), ``*_gamma`` (max
    call GEX / max |put GEX| strike); ``abs_gamma_strike`` = max gross gamma, call GEX +
    |put GEX| (not netted). ``zero_gamma``: spot level where re-priced total GEX changes sign
    (:func:`core.analytics.exposure.zero_gamma`). ``volume_pivot``: where net (put − call)
    volume changes sign (not a gamma level). ``pc_volume`` / ``pc_oi``: put ÷ call ratios.
    ``net_gex``: Σ Γ·OI·100·S²·0.01 at spot, $ per 1 % move, calls +, puts − (its sign is the
    gamma regime, :func:`core.analytics.exposure.gamma_regime`). Expected move fields: see
    :class:`ExpectedMove`.
    ``oi_published`` False: OI is not published yet, so every OI-based level is None (net GEX
    NaN).
    """

    spot: float
    call_wall_oi: float | None
    put_wall_oi: float | None
    call_wall_volume: float | None
    put_wall_volume: float | None
    call_wall_gamma: float | None
    put_wall_gamma: float | None
    abs_gamma_strike: float | None
    zero_gamma: float | None
    net_gex: float
    max_pain: float | None
    volume_pivot: float | None
    pc_volume: float | None
    pc_oi: float | None
    atm_strike: float | None
    atm_iv: float | None
    straddle: float | None
    straddle_time_value: float | None
    range_50: float | None
    one_sigma_straddle: float | None
    one_sigma_iv: float | None
    oi_published: bool = True


def key_levels(frame: pd.DataFrame, spot: float, T: float, r: float, q: float) -> KeyLevels:
    """Every level of one expiry's chain in one frozen dataclass (see :class:`KeyLevels`).

    ``T`` years to expiry, ``r``/``q`` continuous decimals (used by zero gamma and the IV move).
    While the chain's open interest is not published (:func:`core.schema.oi_published`: Yahoo
    sends 0 before OCC's morning file) every level built on OI — OI and gamma walls, absolute
    gamma strike, zero gamma, max pain, P/C OI — is None and ``net_gex`` NaN ("not available
    yet"), never a number computed on zeros. ``oi_published`` says which case it is.
    """
    _one_expiry(frame)
    published = schema.oi_published(frame)
    vol = volume_walls(frame, spot)
    pcr = put_call_ratios(frame)
    move = expected_move(frame, spot, T)
    if published:
        oi = oi_walls(frame, spot)
        gamma = exposure.gamma_walls(frame, spot)
        oi_based = dict(
            call_wall_oi=oi.call, put_wall_oi=oi.put,
            call_wall_gamma=gamma.call_wall, put_wall_gamma=gamma.put_wall,
            abs_gamma_strike=gamma.abs_gamma_strike,
            zero_gamma=exposure.zero_gamma(frame, spot, r, q, T),
            net_gex=exposure.total_gex(frame, spot), max_pain=max_pain(frame), pc_oi=pcr.oi)
    else:
        oi_based = dict(call_wall_oi=None, put_wall_oi=None, call_wall_gamma=None,
                        put_wall_gamma=None, abs_gamma_strike=None, zero_gamma=None,
                        net_gex=float("nan"), max_pain=None, pc_oi=None)
    return KeyLevels(
        spot=float(spot),
        call_wall_volume=vol.call, put_wall_volume=vol.put,
        volume_pivot=volume_pivot(frame, spot),
        pc_volume=pcr.volume, oi_published=published,
        **oi_based, **dataclasses.asdict(move),
    )


@dataclasses.dataclass(frozen=True)
class Alert:
    """Price is within ``distance_pct`` (percent of spot, e.g. 0.4 = 0.4 %) of a level."""

    level: str           # the level's name, e.g. "call_wall_gamma"
    value: float         # the level, in price units
    distance_pct: float  # |level - spot| / spot * 100
    side: str            # "above" (level above spot) or "below"


def proximity_alerts(spot: float, named_levels: dict[str, float | None],
                     within_pct: float) -> list[Alert]:
    """Levels within ``within_pct`` percent of ``spot`` (inclusive), nearest first.

    distance % = |level − spot| / spot × 100; None/NaN levels are ignored. The one rule every
    page uses for "price is near a level" alerts (Walls: 0.5–1 %, 0DTE: 0.3 %).
    """
    out = []
    for name, value in named_levels.items():
        if value is None or not np.isfinite(value) or spot <= 0:
            continue
        distance = abs(value - spot) / spot * 100.0
        if distance <= within_pct + 1e-12:
            out.append(Alert(name, float(value), distance, "above" if value >= spot else "below"))
    return sorted(out, key=lambda a: a.distance_pct)
