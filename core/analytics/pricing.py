"""The price-consistent chain: a forward from put-call parity, OUR implied vols solved from the
mids, greeks at the live spot — computed once per chain version, at fetch time (``core.fetch``).

A vendor's numbers are inputs, not truths. Yahoo's ``impliedVolatility`` is not consistent with
its own prices (SPY 0DTE at 10:24 ET: the 752 call says 0.013, the 752 put 0.177; an IV solved
from either mid is ~0.155), so it is kept in ``vendor_iv`` and used only where nothing can be
solved (flagged ``IV_VENDOR``).

Which spot and which T each number uses, and why
------------------------------------------------
Option quotes and the underlying's price are not simultaneous: Yahoo's option quotes lag the
spot by up to ~30 minutes, and after the close, before the open and at weekends the quotes are
the last session's while the spot may be a pre/post-market price. Pairing half-hour-old mids
with a live spot makes every IV wrong, so the work is split in two:

1. **Implied vols: at the quotes' time, from the quotes alone.**
   - ``T_q`` = years from the time of each mid to the expiry's close: the chain's
     ``quotes_as_of`` for a two-sided quote, the trade's own time for a mid taken from a last
     trade of this session (:func:`mid_times`).
   - The forward ``F`` from put-call parity, ``C − P = e^{−r T_q} (F − K)``, at the strikes
     nearest the money where both the call and the put have a two-sided quote
     (:func:`parity_forward`, the median over up to :data:`PARITY_STRIKES` strikes). It is the
     forward the option market itself priced, so neither the spot's lag nor the dividend yield
     enters the IV. Without such strikes, ``F = S e^{(r − q) T_q}`` with the chain's spot.
   - ``σ`` solved from each mid with Black-76 on that forward (BSM with ``S = F e^{−r T_q}`` and
     ``q = 0``), vectorised bisection (:func:`core.analytics.greeks.implied_vol`); NaN where no
     σ reproduces the mid (below intrinsic, no two-sided quote and no trade this session,
     crossed quote). Those rows take the σ solved for the other side of the same strike (on the
     parity forward a call and a put share one σ: ``iv_source`` = ``pair``), else the vendor's
     IV when it is plausible (``vendor``, flagged), else stay NaN (``none``).
2. **Greeks, GEX, zero gamma, expected move, every level: "now" numbers.** The live spot ``S``
   (the source's pre/post-market price when the session is not regular, labelled by
   ``Quote.session``), ``T`` = years from ``priced_at`` (the clock when the chain was fetched,
   never the last trade's time) to the expiry's close, the solved σ at each strike (sticky
   strike), ``r`` from the settings and ``q`` from the universe. ``in_the_money`` is recomputed
   from the live spot (the vendor's flag is from its own, older spot).

AM-settled index roots (SPX, NDX, RUT monthlies) settle on the expiry morning's opening prints:
their T runs to that session's open, and once it has passed they are dropped (PM-settled roots
of the same date trade on).

Units: T in years (365-day, elapsed seconds between UTC instants, so DST-safe); r, q continuous
decimals; σ decimal; forward and prices per share.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from core import clock, schema, symbols
from core.analytics import greeks
from core.schema import Chain

PARITY_STRIKES = 5  # strikes nearest the money whose parity forwards are averaged (median)
# Flags the provider sets and the pricing step keeps (every other flag is recomputed here).
PROVIDER_FLAGS = frozenset({schema.FALLBACK, schema.EMPTY_CHAIN, schema.NON_STANDARD,
                            schema.STRIKES_CAPPED})


def years_to(end: dt.datetime, start) -> np.ndarray:
    """Years (365-day) from each instant of ``start`` (tz-aware datetimes, an array or Series)
    to ``end``, floored at :data:`core.clock.MIN_T_YEARS`. Elapsed time between UTC instants, so
    a DST change in between does not add or remove an hour."""
    start = pd.DatetimeIndex(pd.to_datetime(start, utc=True))
    seconds = (pd.Timestamp(end).tz_convert("UTC") - start).total_seconds().to_numpy()
    return np.maximum(seconds / clock.SECONDS_PER_YEAR, clock.MIN_T_YEARS)


def _years(end: pd.Series, start: pd.Series) -> np.ndarray:
    """Row-wise years from ``start`` to ``end`` (aligned UTC Series), floored like
    :func:`years_to`."""
    seconds = (end - start).dt.total_seconds().to_numpy(dtype="float64")
    return np.maximum(seconds / clock.SECONDS_PER_YEAR, clock.MIN_T_YEARS)


def settles_at(frame: pd.DataFrame, expiry: dt.date) -> pd.Series:
    """When each row's contract stops trading / settles: the expiry's close, or that session's
    open for AM-settled index roots (SPX, NDX, RUT). UTC timestamps aligned with ``frame``."""
    close = pd.Timestamp(clock.expiry_close(expiry)).tz_convert("UTC")
    out = pd.Series(close, index=frame.index)
    if not len(frame):
        return out
    contracts = frame["contract"].astype(str)
    if not contracts.str.startswith(tuple(symbols.AM_SETTLED_ROOTS)).any():
        return out  # no index root at all: skip parsing the symbols
    am = symbols.contract_root(contracts).isin(symbols.AM_SETTLED_ROOTS)
    if am.any():
        opens = (clock.session_open(expiry) if clock.is_session(expiry)
                 else dt.datetime.combine(expiry, dt.time(9, 30), tzinfo=clock.ET))
        out[am.to_numpy()] = pd.Timestamp(opens).tz_convert("UTC")
    return out


def mid_times(frame: pd.DataFrame, quotes_as_of: dt.datetime | None) -> pd.Series:
    """The time each row's ``mid`` is from: ``quotes_as_of`` for a two-sided quote (its last
    trade when the quotes' time is unknown), the last trade's time for a mid taken from a trade.
    UTC timestamps aligned with ``frame``."""
    traded = pd.Series(pd.to_datetime(frame["last_trade"], utc=True), index=frame.index)
    if quotes_as_of is None:
        return traded
    quoted = schema.two_sided(frame["bid"], frame["ask"])
    return traded.where(~quoted, pd.Timestamp(quotes_as_of).tz_convert("UTC"))


def parity_forward(frame: pd.DataFrame, T: float, r: float, *, n: int = PARITY_STRIKES) -> float:
    """The forward implied by put-call parity, ``F = K + e^{rT} (C − P)``, per share.

    Uses the ``n`` strikes where both the call and the put have a two-sided quote and
    ``|C − P|`` is smallest (nearest the money: the most liquid, least skewed pairs); returns
    the median of their forwards. ``C``, ``P`` are the quote mids, ``T`` the quotes' years to
    expiry, ``r`` continuous. NaN when no strike has both quotes."""
    bid, ask = (frame[c].to_numpy(dtype="float64") for c in ("bid", "ask"))
    strike = frame["strike"].to_numpy(dtype="float64")
    is_call = (frame["type"] == "call").to_numpy()
    quoted = schema.two_sided(bid, ask)
    mid = (bid + ask) / 2.0
    calls, puts = quoted & is_call, quoted & ~is_call
    common, i, j = np.intersect1d(strike[calls], strike[puts], return_indices=True)
    if not len(common):
        return float("nan")
    diff = mid[calls][i] - mid[puts][j]
    nearest = np.lexsort((common, np.abs(diff)))[:n]
    return float(np.median(common[nearest] + np.exp(r * T) * diff[nearest]))


def solve_iv(frame: pd.DataFrame, forward: float, T, r: float) -> np.ndarray:
    """σ reproducing each row's ``mid`` with Black-76 on ``forward`` (discounting at ``r`` over
    ``T`` years, a scalar or one per row). NaN where no σ in the solver's bracket does."""
    T = np.broadcast_to(np.asarray(T, dtype="float64"), (len(frame),))
    discounted = forward * np.exp(-r * T)  # BSM with S = F e^{-rT} and q = 0 is Black-76
    return greeks.implied_vol(frame["mid"].to_numpy(dtype="float64", na_value=np.nan),
                              discounted, frame["strike"].to_numpy(dtype="float64"), T, r, 0.0,
                              (frame["type"] == "call").to_numpy())


def pair_iv(frame: pd.DataFrame, solved: np.ndarray) -> np.ndarray:
    """For each row, the IV solved for the OTHER side at the same strike (NaN when none): on
    the parity forward a call and a put of one strike have one Black-76 σ, so an ITM quote that
    sits below intrinsic (stale against the OTM side) borrows its partner's."""
    strike = frame["strike"].to_numpy(dtype="float64")
    is_call = (frame["type"] == "call").to_numpy()
    calls, puts = np.flatnonzero(is_call), np.flatnonzero(~is_call)
    _, i, j = np.intersect1d(strike[calls], strike[puts], return_indices=True)
    out = np.full(len(frame), np.nan)
    out[calls[i]] = solved[puts[j]]
    out[puts[j]] = solved[calls[i]]
    return out


@dataclasses.dataclass(frozen=True)
class Market:
    """What the pricing step needs to know about the clock (read by ``core.fetch``):
    ``now`` (the pricing time), whether the regular session is open, and when the session whose
    trades count as "this session's" began (the last session that has opened)."""

    now: dt.datetime
    is_open: bool
    session_start: dt.datetime | None


def market_at(now: dt.datetime) -> Market:
    """The :class:`Market` at ``now`` from :mod:`core.clock`."""
    status = clock.market_status(now)
    return Market(now=now, is_open=status.is_open,
                  session_start=clock.session_open(clock.last_session(now)))


def price_chain(chain: Chain, *, rate: float, market: Market) -> Chain:
    """A provider's chain made price-consistent, with greeks (see the module docstring).

    Returns a new Chain: frame with ``mid`` (this session's rule), ``iv`` (solved; the vendor's
    as a flagged fallback), ``iv_ok``, ``iv_source``, ``in_the_money`` (live spot) and the
    greek columns; ``forward``, ``implied_spot``, ``priced_at`` = ``market.now``, ``t_years`` (to
    the expiry's close), ``rate``; and every data-quality flag recomputed
    (:func:`core.schema.quality_flags`) beside the provider's own (:data:`PROVIDER_FLAGS`).
    AM-settled rows are dropped once they have settled. The input is not modified.
    """
    frame = chain.frame
    settle = settles_at(frame, chain.expiry)
    now_utc = pd.Timestamp(market.now).tz_convert("UTC")
    if len(frame) and (settle <= now_utc).any() and not (settle <= now_utc).all():
        keep = (settle > now_utc).to_numpy()  # settled AM roots leave; the PM roots stay
        frame, settle = frame[keep].reset_index(drop=True), settle[keep].reset_index(drop=True)
    q = chain.div_yield
    out = frame.copy()
    out["mid"] = schema.mid_price(out["bid"], out["ask"], out["last"], out["last_trade"],
                                  market.session_start)
    quoted_at = mid_times(out, chain.quotes_as_of).fillna(
        pd.Timestamp(chain.as_of).tz_convert("UTC"))
    t_quote = _years(settle, quoted_at)
    t_ref = float(years_to(clock.expiry_close(chain.expiry), [chain.quotes_as_of or chain.as_of])[0])
    forward = parity_forward(out, t_ref, rate) if len(out) else float("nan")
    solve_with = forward if np.isfinite(forward) else chain.spot * np.exp((rate - q) * t_ref)
    solved = solve_iv(out, solve_with, t_quote, rate)
    vendor = out["vendor_iv"].to_numpy(dtype="float64", na_value=np.nan)
    vendor_ok = (vendor >= schema.IV_MIN) & (vendor <= schema.IV_MAX)
    has_solved = np.isfinite(solved)
    paired = pair_iv(out, solved)
    has_pair = ~has_solved & np.isfinite(paired)
    iv = np.where(has_solved, solved, np.where(has_pair, paired,
                                               np.where(vendor_ok, vendor, np.nan)))
    out["iv"] = iv
    out["iv_ok"] = (iv >= schema.IV_MIN) & (iv <= schema.IV_MAX)
    out["iv_source"] = np.where(has_solved, "mid", np.where(
        has_pair, "pair", np.where(vendor_ok, "vendor", "none")))
    out["iv_source"] = out["iv_source"].astype(str)
    is_call = (out["type"] == "call").to_numpy()
    strike = out["strike"].to_numpy(dtype="float64")
    out["in_the_money"] = np.where(is_call, strike < chain.spot, strike > chain.spot)
    t_now = _years(settle, pd.Series(now_utc, index=settle.index))
    out = greeks.with_greeks(out, chain.spot, t_now, rate, q)[schema.CHAIN_COLUMNS]
    t_years = float(years_to(clock.expiry_close(chain.expiry), [market.now])[0])
    implied_spot = forward * np.exp(-(rate - q) * t_ref) if np.isfinite(forward) else np.nan
    flags = (chain.flags & PROVIDER_FLAGS) | schema.quality_flags(
        out, market_open=market.is_open, session_start=market.session_start,
        quotes_lag=chain.quotes_lag)
    return dataclasses.replace(chain, frame=out, rate=rate, forward=float(forward),
                               implied_spot=float(implied_spot), priced_at=market.now,
                               t_years=t_years, flags=frozenset(flags))
