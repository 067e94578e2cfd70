"""Implied-volatility views of a chain: smile, ATM IV, term structure, skew.

Inputs are canonical chain frames (:mod:`core.schema`). Only rows with ``iv_ok`` (IV inside
[1 %, 500 %]) are used, so an absurd quote never bends a smile or a skew number.

Units: ``iv`` columns are decimals (0.25 = 25 %) as in the schema; every *difference* of IVs
(risk reversal, ATM skew) is returned in **vol points** (3.2 means 3.2 percentage points of
IV, i.e. 0.032 in decimal). Strikes and spot are in the underlying's currency per share.

Sign conventions (the market's):

- 25Δ risk reversal = IV(25Δ call) − IV(25Δ put), each IV interpolated to exactly ±0.25 delta:
  **negative = puts richer than calls** (the usual equity skew).
- ATM skew = IV(25Δ put) − ATM IV, measured at a DELTA, not at a fixed % of spot (95 % of spot
  is 0.3σ away on a 1-year chain and 10σ on a 0DTE): **positive = downside puts richer**.
- A 0DTE's wings are a few strikes wide and its deltas jump from 0 to 1; its skew is not
  comparable with a weekly's, and :func:`skew_meaningful` says so (callers hide it).
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


def iv_at_delta(side: pd.DataFrame, target: float) -> float:
    """The IV (decimal) of one side (calls or puts) of one expiry at exactly ``target`` delta.

    Linear interpolation in delta between the two contracts whose deltas bracket ``target``
    (exact when one sits on it; contracts sharing a delta are averaged). Only ``iv_ok`` rows with
    a finite delta are used. NaN when the side's deltas do not reach ``target`` on both sides
    (no extrapolation: a chain capped short of the 25Δ wings has no 25Δ IV).
    """
    side = _valid(side)
    side = side[np.isfinite(side["delta"])]
    if not len(side):
        return float("nan")
    curve = side.groupby("delta")["iv"].mean().sort_index()  # delta ascending
    x, y = curve.index.to_numpy(dtype="float64"), curve.to_numpy(dtype="float64")
    if not x[0] <= target <= x[-1]:
        return float("nan")
    return float(np.interp(target, x, y))


def risk_reversal_25d(frame: pd.DataFrame) -> float:
    """25-delta risk reversal of one expiry, in vol points (the market's convention).

    RR = (IV(call at Δ = +0.25) − IV(put at Δ = −0.25)) × 100, each IV interpolated linearly in
    delta between the bracketing contracts (:func:`iv_at_delta`). **Negative = puts richer than
    calls** (e.g. −3.2: the 25Δ put's IV is 3.2 vol points above the 25Δ call's). NaN when either
    side's deltas do not bracket 25Δ.
    """
    _single_expiry(frame, "risk_reversal_25d")
    call_iv = iv_at_delta(frame[frame["type"] == "call"], 0.25)
    put_iv = iv_at_delta(frame[frame["type"] == "put"], -0.25)
    return (call_iv - put_iv) * VOL_POINTS


def atm_skew(frame: pd.DataFrame, spot: float, *, put_delta: float = -0.25) -> float:
    """Downside skew of one expiry in delta units, in vol points.

    ATM skew = (IV(put at Δ = ``put_delta``, default −0.25) − ATM IV) × 100: the wing IV is
    interpolated in delta (:func:`iv_at_delta`), ATM IV is :func:`atm_iv` (the strike nearest
    spot). A delta is the same distance in standard deviations (≈ 0.67 σ√T for 25Δ) whatever the
    expiry, so a 0DTE and a 1-year chain are measured alike — unlike a fixed 95 % of spot.
    **Positive = downside puts richer than ATM.** NaN when the puts do not bracket ``put_delta``
    or there is no ATM IV.
    """
    _single_expiry(frame, "atm_skew")
    wing = iv_at_delta(frame[frame["type"] == "put"], put_delta)
    return (wing - atm_iv(frame, spot)) * VOL_POINTS


def skew_meaningful(dte: int) -> bool:
    """Whether skew numbers of an expiry ``dte`` calendar days away are shown: not on a 0DTE.

    A 0DTE's deltas jump from ~0 to ~1 within a few strikes and its wing IVs are one-tick
    quotes (a 95 %-of-spot put read +128 vol points), so its RR and skew are not comparable
    with other expiries' and are hidden (None) where a 0DTE row is shown.
    """
    return int(dte) >= 1
