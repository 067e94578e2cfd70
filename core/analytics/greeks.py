"""Black-Scholes-Merton with a continuous dividend yield: price, greeks, implied vol.

One argument order everywhere: ``(S, K, T, r, q, sigma, is_call)``; arrays broadcast together.
A bad element (S, K, T or sigma not > 0, or NaN) gives NaN for that element, never an exception.

Units
-----
- ``S``, ``K``: price per share; ``T``: years (365-day); ``r``, ``q``: continuous decimals;
  ``sigma``: decimal (0.2 = 20 %).
- ``delta``: d(price)/dS. ``gamma``: d(delta)/dS, per $1 of the underlying.
- ``vega``: price change per 1 vol point (sigma + 0.01).
- ``theta``: price change per calendar day as time passes (negative for a long option); when
  less than a day is left (T < 1/365), the change over the time left instead: θ_annual × T,
  so a 0DTE never shows a one-day decay it cannot have (θ_day = θ_annual × min(T, 1/365)).
- ``vanna``: d(delta)/d(sigma) per 1 vol point.
- ``charm``: change of delta per calendar day as time passes (= -d(delta)/dT / 365).

Formulas (d1 = [ln(S/K) + (r - q + sigma^2/2) T] / (sigma sqrt T), d2 = d1 - sigma sqrt T)::

    call = S e^{-qT} N(d1) - K e^{-rT} N(d2)        put = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)
    delta_c = e^{-qT} N(d1)                         delta_p = -e^{-qT} N(-d1)
    gamma = e^{-qT} n(d1) / (S sigma sqrt T)        vega = S e^{-qT} n(d1) sqrt T
    theta_c = -S e^{-qT} n(d1) sigma / (2 sqrt T) - r K e^{-rT} N(d2) + q S e^{-qT} N(d1)
    theta_p = -S e^{-qT} n(d1) sigma / (2 sqrt T) + r K e^{-rT} N(-d2) - q S e^{-qT} N(-d1)
    vanna = -e^{-qT} n(d1) d2 / sigma
    -dDelta/dT (call) = q e^{-qT} N(d1) - e^{-qT} n(d1) [2 (r - q) T - d2 sigma sqrt T] / (2 T sigma sqrt T)
    -dDelta/dT (put)  = -q e^{-qT} N(-d1) - e^{-qT} n(d1) [2 (r - q) T - d2 sigma sqrt T] / (2 T sigma sqrt T)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from core.schema import GREEK_COLUMNS

DAYS_PER_YEAR = 365.0
_SQRT_2PI = np.sqrt(2.0 * np.pi)
IV_LOW, IV_HIGH = 1e-4, 5.0  # the implied-vol solver searches sigma in this bracket


def _pdf(x):
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _prepare(S, K, T, r, q, sigma, is_call):
    """Broadcast the inputs; a bad element gets S = NaN, which poisons every output of it."""
    S, K, T, r, q, sigma = (np.asarray(v, dtype="float64") for v in (S, K, T, r, q, sigma))
    is_call = np.asarray(is_call, dtype=bool)
    S, K, T, r, q, sigma, is_call = np.broadcast_arrays(S, K, T, r, q, sigma, is_call)
    bad = ~((S > 0) & (K > 0) & (T > 0) & (sigma > 0))  # NaN compares False -> bad
    with np.errstate(all="ignore"):
        S = np.where(bad, np.nan, S)
        sqrt_t = np.sqrt(T)
        vol_t = sigma * sqrt_t
        d1 = (np.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vol_t
        d2 = d1 - vol_t
    return S, K, T, r, q, sigma, is_call, sqrt_t, vol_t, d1, d2


def _signed_cdfs(d1, d2, is_call):
    """(N(d1), N(d2)) for calls and (-N(-d1), -N(-d2)) = (N(d1) - 1, N(d2) - 1) for puts: one
    formula then serves both sides (price = S e^{-qT} a - K e^{-rT} b, delta = e^{-qT} a, ...)."""
    shift = np.where(is_call, 0.0, 1.0)
    return ndtr(d1) - shift, ndtr(d2) - shift


def price(S, K, T, r, q, sigma, is_call):
    """BSM price per share (same currency as ``S``); NaN for a bad element."""
    S, K, T, r, q, sigma, is_call, _, _, d1, d2 = _prepare(S, K, T, r, q, sigma, is_call)
    with np.errstate(all="ignore"):
        a, b = _signed_cdfs(d1, d2, is_call)
        return S * np.exp(-q * T) * a - K * np.exp(-r * T) * b


def greeks(S, K, T, r, q, sigma, is_call) -> dict[str, np.ndarray]:
    """All greeks at once (see the module docstring for units): delta, gamma, vega, theta,
    vanna, charm, plus ``price``. With a = N(d1), b = N(d2) for calls and a = -N(-d1),
    b = -N(-d2) for puts, the call and put formulas of the module docstring are one each."""
    S, K, T, r, q, sigma, is_call, sqrt_t, vol_t, d1, d2 = _prepare(S, K, T, r, q, sigma, is_call)
    with np.errstate(all="ignore"):
        dq = np.exp(-q * T)
        sdq, kdr = S * dq, K * np.exp(-r * T)
        n1 = _pdf(d1)
        a, b = _signed_cdfs(d1, d2, is_call)
        dq_n1 = dq * n1
        return {
            "price": sdq * a - kdr * b,
            "delta": dq * a,
            "gamma": dq_n1 / (S * vol_t),
            "vega": sdq * n1 * sqrt_t / 100.0,
            "theta": (-sdq * n1 * sigma / (2.0 * sqrt_t) - r * kdr * b + q * sdq * a)
            * np.minimum(T, 1.0 / DAYS_PER_YEAR),  # per day, or over the time left (< 1 day)
            "vanna": -dq_n1 * d2 / sigma / 100.0,
            "charm": (q * dq * a - dq_n1 * (2.0 * (r - q) * T - d2 * vol_t) / (2.0 * T * vol_t))
            / DAYS_PER_YEAR,
        }


def gamma(S, K, T, r, q, sigma):
    """Gamma alone, e^{-qT} n(d1) / (S sigma sqrt T), per $1 of the underlying (same for calls
    and puts): the hot path of zero-gamma re-pricing. NaN for a bad element."""
    S, K, T, r, q, sigma, _, _, vol_t, d1, _ = _prepare(S, K, T, r, q, sigma, True)
    with np.errstate(all="ignore"):
        return np.exp(-q * T) * _pdf(d1) / (S * vol_t)


def implied_vol(target, S, K, T, r, q, is_call, *, tol: float = 1e-8, iterations: int = 100):
    """Vectorised implied vol by bisection on [IV_LOW, IV_HIGH].

    Returns NaN where no sigma in the bracket reproduces ``target`` (price below intrinsic value
    or above the bracket's price, or bad inputs). Bisection is chosen over Newton because it
    cannot diverge on deep OTM/ITM contracts where vega is ~0.
    """
    target = np.asarray(target, dtype="float64")
    S, K, T, r, q, _, is_call, *_ = _prepare(S, K, T, r, q, 0.2, is_call)
    target = np.broadcast_to(target, S.shape)
    lo = np.full(S.shape, IV_LOW)
    hi = np.full(S.shape, IV_HIGH)
    p_lo, p_hi = price(S, K, T, r, q, lo, is_call), price(S, K, T, r, q, hi, is_call)
    ok = np.isfinite(target) & (target >= p_lo - tol) & (target <= p_hi + tol)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = price(S, K, T, r, q, mid, is_call) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        if np.nanmax(hi - lo, initial=0.0) < tol:
            break
    return np.where(ok, 0.5 * (lo + hi), np.nan)


def with_greeks(frame: pd.DataFrame, spot: float, T, r: float, q: float) -> pd.DataFrame:
    """A copy of a canonical chain frame with :data:`core.schema.GREEK_COLUMNS` filled.

    Each row is priced at ``spot`` with its own ``iv``; ``T`` (years) is a scalar or an array
    aligned with the rows. Rows whose ``iv_ok`` is False (absurd IV) get NaN greeks, so nothing
    downstream can sum them by accident. The input frame is not modified (it may be shared).
    """
    out = frame.copy()
    is_call = (out["type"] == "call").to_numpy()
    sigma = out["iv"].to_numpy(dtype="float64", na_value=np.nan)
    if "iv_ok" in out:
        sigma = np.where(out["iv_ok"].to_numpy(dtype=bool), sigma, np.nan)
    values = greeks(spot, out["strike"].to_numpy(dtype="float64"), T, r, q, sigma, is_call)
    for name in GREEK_COLUMNS:
        out[name] = values[name]  # shape (rows,): the strikes set the broadcast shape
    return out
