"""Implied-volatility views of a chain: smile, ATM IV, term structure, skew.

Inputs are canonical chain frames (:mod:`core.schema`). Only rows with ``iv_ok`` (IV inside
[1 %, 500 %]) are used, so an absurd quote never bends a smile or a skew number.

Units: ``iv`` columns are decimals (0.25 = 25 %) as in the schema; every *difference* of IVs
(risk reversal, ATM skew) is returned in **vol points** (3.2 means 3.2 percentage points of
IV, i.e. 0.032 in decimal). Strikes and spot are in the underlying's currency per share.

Sign conventions (equity-market habit, where downside puts usually trade richer):

- 25Δ risk reversal = put IV − call IV: **positive = puts richer than calls**.
- ATM skew = 95 %-moneyness put IV − ATM IV: **positive = downside puts richer than ATM**.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

VOL_POINTS = 100.0  # decimal IV difference -> vol points


def _single_expiry(frame: pd.DataFrame, what: str) -> None:
    if "expiry" in frame and frame["expiry"].nunique(dropna=True) > 1:
        raise ValueError(f"{what} needs one expiry, got {frame['expiry'].nunique()}")


def _valid(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose IV is usable (``iv_ok`` and finite)."""
    return frame[frame["iv_ok"].astype(bool) & np.isfinite(frame["iv"])]


def smile(frame: pd.DataFrame) -> pd.DataFrame:
    """IV by strike for one expiry, calls and puts side by side.

    Returns a frame indexed by ``strike`` (ascending) with columns ``call`` and ``put``: the
    decimal IV of that strike's call / put (mean if a strike appears twice), NaN where that
    side has no valid IV. Only ``iv_ok`` rows are used. Raises ``ValueError`` if the frame holds
    more than one expiry (a smile mixes nothing across expiries).
    """
    _single_expiry(frame, "smile")
    ok = _valid(frame)
    wide = ok.pivot_table(index="strike", columns="type", values="iv", aggfunc="mean")
    wide = wide.reindex(columns=["call", "put"]).sort_index()
    wide.columns.name = None
    return wide.astype("float64")


def _nearest_strike(strikes: pd.Series | np.ndarray, target: float) -> float:
    """The strike nearest ``target``; on a tie, the lower strike. NaN if there are none."""
    values = np.unique(np.asarray(strikes, dtype="float64"))  # sorted ascending
    values = values[np.isfinite(values)]
    if not len(values) or not np.isfinite(target):
        return float("nan")
    return float(values[np.argmin(np.abs(values - target))])  # argmin: first (lower) on ties


def atm_iv(frame: pd.DataFrame, spot: float) -> float:
    """ATM implied vol (decimal) of one expiry.

    ATM strike = the strike nearest ``spot`` among strikes with at least one valid (``iv_ok``)
    IV; when spot is exactly between two strikes, the lower one. ATM IV = mean of the call and
    put IV at that strike when both are valid, else the one that is. NaN if no IV is valid.
    """
    _single_expiry(frame, "atm_iv")
    ok = _valid(frame)
    k = _nearest_strike(ok["strike"], spot)
    if np.isnan(k):
        return float("nan")
    return float(ok.loc[ok["strike"] == k, "iv"].groupby(ok["type"]).mean().mean())


def term_structure(chains: Iterable[tuple[dt.date, pd.DataFrame]], spot: float, *,
                   today: dt.date | None = None) -> pd.DataFrame:
    """ATM IV per expiry: the term structure.

    ``chains`` is a list of ``(expiry, frame)``, one frame per expiry. Returns one row per
    expiry, sorted by expiry, with columns ``expiry``, ``dte`` (calendar days from ``today`` to
    the expiry; missing (NA) when ``today`` is not given — this module reads no clock) and
    ``atm_iv`` (decimal, see :func:`atm_iv`; NaN when that expiry has no valid IV).
    """
    rows = [(expiry, atm_iv(frame, spot)) for expiry, frame in chains]
    out = pd.DataFrame(rows, columns=["expiry", "atm_iv"]).astype({"atm_iv": "float64"})
    out = out.sort_values("expiry", kind="stable").reset_index(drop=True)
    dte = [(e - today).days if today is not None else pd.NA for e in out["expiry"]]
    out.insert(1, "dte", pd.array(dte, dtype="Int64"))
    return out


def _iv_nearest_delta(side: pd.DataFrame, target: float, tolerance: float) -> float:
    side = side[np.isfinite(side["delta"])]
    if not len(side):
        return float("nan")
    gap = (side["delta"] - target).abs()
    best = gap.idxmin()  # first on ties (rows are sorted by strike)
    return float(side.at[best, "iv"]) if gap[best] <= tolerance else float("nan")


def risk_reversal_25d(frame: pd.DataFrame, *, tolerance: float = 0.10) -> float:
    """25-delta risk reversal of one expiry, in vol points.

    RR = IV(put whose delta is nearest −0.25) − IV(call whose delta is nearest +0.25), × 100.
    **Positive = puts richer than calls** (the usual equity skew; e.g. 3.2 means the 25Δ put's
    IV is 3.2 vol points above the 25Δ call's). Only ``iv_ok`` rows with a finite delta are
    used. NaN when either side has no contract within ``tolerance`` delta of its target (e.g. a
    strike-capped chain that does not reach the 25Δ wings) — a far-off strike is not a 25Δ one.
    """
    _single_expiry(frame, "risk_reversal_25d")
    ok = _valid(frame)
    put_iv = _iv_nearest_delta(ok[ok["type"] == "put"], -0.25, tolerance)
    call_iv = _iv_nearest_delta(ok[ok["type"] == "call"], 0.25, tolerance)
    return (put_iv - call_iv) * VOL_POINTS


def atm_skew(frame: pd.DataFrame, spot: float, *, moneyness: float = 0.95) -> float:
    """Downside skew of one expiry, in vol points.

    ATM skew = IV of a put struck at ``moneyness`` × spot (default 95 %) − ATM IV, × 100.
    The wing IV is linearly interpolated in strike between the two valid (``iv_ok``) puts that
    bracket ``moneyness`` × spot (exact when that strike is listed); ATM IV is :func:`atm_iv`.
    **Positive = downside puts richer than ATM.** NaN when the valid puts do not reach
    ``moneyness`` × spot (no extrapolation) or there is no ATM IV.
    """
    _single_expiry(frame, "atm_skew")
    ok = _valid(frame)
    puts = ok[ok["type"] == "put"].groupby("strike")["iv"].mean().sort_index()
    wing = float(np.interp(moneyness * spot, puts.index.to_numpy(), puts.to_numpy(),
                           left=np.nan, right=np.nan)) if len(puts) else float("nan")
    return (wing - atm_iv(frame, spot)) * VOL_POINTS
