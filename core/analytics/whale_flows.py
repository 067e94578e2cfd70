"""Whale Flows: per symbol, the contracts ranked by whale score and by fresh positioning over
the next expiries, and one skew / implied-move row per expiry; the cross-symbol tables.

:func:`whale_task` fetches one symbol through ``source`` (:mod:`core.fetch` in the app). The
scores are :func:`core.analytics.flows.whale_score` and
:func:`core.analytics.flows.fresh_positioning`; skew from :mod:`core.analytics.volatility`.
Nothing here is a "sweep" or a "block": flows are a contract's whole day, read off one snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import pandas as pd

from core import clock
from core.analytics import flows, levels, volatility
from core.analytics.dashboard import with_side
from core.analytics.scans import full_strikes
from core.errors import NoExpiry


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

    ``rr25_pts`` = 25Δ risk reversal, IV(25Δ call) − IV(25Δ put), each interpolated to exactly
    25Δ (:func:`core.analytics.volatility.risk_reversal_25d`; vol points, − = puts richer);
    ``atm_skew_pts`` = IV(25Δ put) − ATM IV (vol points, + = downside richer;
    :func:`~core.analytics.volatility.atm_skew`). Both are None on a 0DTE (``dte`` 0: hidden, see
    :func:`~core.analytics.volatility.skew_meaningful`). ``straddle`` = the ATM straddle's TIME
    VALUE (call + put mid − |S − K|, :class:`core.analytics.levels.ExpectedMove`) and the
    breakout levels spot ± that (beyond them the move exceeds what the straddle priced; intrinsic
    value is no move); 1σ range spot ∓ S·σ·√T (ATM IV, ``T`` years to the expiry's close);
    ``move_pct`` = 1σ / spot × 100; ``dte`` calendar days from ``today``.
    """
    move = levels.expected_move(frame, spot, T)
    straddle = move.straddle_time_value
    sigma = move.one_sigma_iv
    days = (expiry - today).days
    shown = volatility.skew_meaningful(days)
    return {
        "symbol": symbol, "expiry": expiry, "dte": days, "spot": float(spot),
        "atm_iv_pct": None if move.atm_iv is None else 100.0 * move.atm_iv,
        "rr25_pts": volatility.risk_reversal_25d(frame) if shown else None,
        "atm_skew_pts": volatility.atm_skew(frame, spot) if shown else None,
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
    Fresh positioning: :func:`core.analytics.flows.fresh_positioning`, 0DTE left out (its volume
    is mostly round trips).
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
            whale_parts.append(with_side(w.head(keep), c.as_of))
        today = c.as_of.astimezone(clock.ET).date()
        f = flows.fresh_positioning(c.frame, c.spot, today=today)  # no 0DTE
        if len(f):
            fresh_parts.append(f.head(keep))
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


def whale_task(symbol: str, *, source, expiries: int = 2) -> WhaleResult:
    """One Whale Flows result over the next ``expiries`` expiries' full chains."""
    quote = source.quote(symbol)
    listed = source.expirations(symbol)[:max(1, int(expiries))]
    if not listed:
        raise NoExpiry(f"{symbol} has no listed expiry.", symbol=symbol)
    chains = [source.chain(symbol, e, strikes=full_strikes(source)) for e in listed]
    return whale_result(symbol, quote, chains, stale=any(c.stale for c in chains))
