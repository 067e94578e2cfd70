"""Option flow from a chain snapshot: premium, volume/OI, unusual activity, whale and fresh scores.

Everything here is read off ONE chain snapshot (day volume, open interest, quotes). There is no
trade tape, so nothing in this module (or on a page fed by it) is a "sweep" or a "block": a row
is a contract's whole day, not a trade. The side is a proxy from the last price vs the current
quote and is labelled approximate.

Units: prices in the underlying's currency per share; ``premium`` in dollars (one contract =
100 shares); volume and open interest in contracts; ``iv`` decimal; ``delta`` per share.

Volume/OI: ``volume / open_interest``; **OI = 0 gives NaN**, not ``volume / 1``: after
normalisation a missing OI is 0 too, so a zero cannot be told from "unknown", and a NaN never
passes a volume/OI filter (NaN >= x is False). OI is as of the prior close.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

SHARES_PER_CONTRACT = 100
TIERS = ((1_000_000.0, "$1M+"), (500_000.0, "$500k+"), (100_000.0, "$100k+"))


def premium(frame: pd.DataFrame) -> pd.Series:
    """Dollar premium per contract as **day volume × the CURRENT mid × 100** ($).

    A snapshot holds the whole day's volume but only the current mid, so this values every
    trade of the day at the price now; on a 0DTE that follows the day's move. Traded premium
    from consecutive chain versions (Δvolume × mid at each refresh) is
    :func:`core.fetch.traded_premium`. ``mid`` is the schema's: (bid + ask)/2 when both > 0,
    else last.
    """
    return (frame["volume"] * frame["mid"] * SHARES_PER_CONTRACT).astype("float64")


def vol_oi(frame: pd.DataFrame) -> pd.Series:
    """Volume / open interest (dimensionless); NaN where OI is 0 (see the module docstring)."""
    oi = frame["open_interest"].astype("float64")
    return frame["volume"].astype("float64") / oi.where(oi > 0)


def side_proxy(frame: pd.DataFrame, market_open: bool, *,
               since: dt.datetime | None = None) -> pd.Series:
    """APPROXIMATE aggressor side of the day's trading, per contract (not a trade tape).

    ``"ask"`` when last ≥ ask (buyers lifting offers), ``"bid"`` when last ≤ bid (sellers
    hitting bids), else ``"mid"``. ``None`` for every row when the market is closed, and for a
    row whose bid or ask is not > 0 (no live quote), whose last is not > 0, or — when ``since``
    (e.g. today's session open) is given — whose last trade is older than ``since`` or unknown.
    Returns an object Series aligned with ``frame``.
    """
    out = np.full(len(frame), None, dtype=object)
    if market_open and len(frame):
        bid, ask, last = frame["bid"], frame["ask"], frame["last"]
        usable = (bid > 0) & (ask > 0) & (last > 0)
        if since is not None:
            usable &= frame["last_trade"] >= pd.Timestamp(since)  # NaT compares False
        usable = usable.to_numpy(dtype=bool)
        label = np.select([last >= ask, last <= bid], ["ask", "bid"], default="mid")
        out[usable] = label[usable]
    return pd.Series(out, index=frame.index, dtype=object)


@dataclasses.dataclass(frozen=True)
class UnusualRules:
    """Thresholds of "unusual activity"; a contract must pass all four.

    volume > ``volume_gt`` (contracts), OI > ``oi_gt`` (contracts), last > ``last_gt`` ($ per
    share), volume/OI ≥ ``vol_oi_ge``. Note the strict ">" on the first three and "≥" on the
    last: exactly 500 volume is NOT unusual, volume/OI of exactly 1.25 IS.
    """

    volume_gt: int = 500
    oi_gt: int = 100
    last_gt: float = 0.10
    vol_oi_ge: float = 1.25


def premium_tier(value):
    """Premium tier label: ≥ $1M "$1M+", ≥ $500k "$500k+", ≥ $100k "$100k+", else None.

    Edges are inclusive (exactly $100,000 is "$100k+"). A scalar gives a str or None; a Series
    or array gives an object Series of the same length (index kept for a Series). NaN -> None.
    """
    if np.ndim(value) == 0:
        return next((label for floor, label in TIERS if value >= floor), None)
    values = pd.Series(value) if not isinstance(value, pd.Series) else value
    arr = values.to_numpy(dtype="float64")
    labels = np.select([arr >= floor for floor, _ in TIERS], [lab for _, lab in TIERS],
                       default="")
    out = pd.Series(labels, index=values.index, dtype=object)
    return out.where(out != "", None)


def _with_flow_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(premium=premium(frame), vol_oi=vol_oi(frame))


def unusual(frame: pd.DataFrame, rules: UnusualRules = UnusualRules()) -> pd.DataFrame:
    """The contracts with unusual activity under ``rules`` (see :class:`UnusualRules`).

    Returns those rows with added columns ``premium`` ($, :func:`premium`), ``vol_oi``
    (:func:`vol_oi`) and ``tier`` (:func:`premium_tier`), sorted by premium, largest first.
    """
    f = _with_flow_columns(frame)
    hit = ((f["volume"] > rules.volume_gt) & (f["open_interest"] > rules.oi_gt)
           & (f["last"] > rules.last_gt) & (f["vol_oi"] >= rules.vol_oi_ge))
    out = f[hit.fillna(False).astype(bool)]
    out = out.assign(tier=premium_tier(out["premium"]))
    return out.sort_values("premium", ascending=False, kind="stable")


def _near(frame: pd.DataFrame, spot: float, band: float) -> pd.Series:
    """Strike within ``band`` (fraction, inclusive) of spot: |K − S| ≤ band × S."""
    return (frame["strike"] - spot).abs() <= band * spot


WHALE_SCALE = 1e4  # premium as basis points of the underlying's dollar volume


def whale_score(frame: pd.DataFrame, spot: float, underlying_dollar_volume: float, *,
                band: float = 0.05) -> pd.DataFrame:
    """Contracts near spot ranked by whale score: big, new money in one contract.

    whale = 10⁴ × (premium / underlying dollar volume) × (volume / OI)

    - premium / underlying dollar volume: the option premium traded today in the contract
      (volume × mid × 100, $) as a share of the dollars the underlying itself traded today (day
      share volume × price), × 10⁴ = in basis points: **premium size counts** — twice the mid
      on the same volume is twice the score;
    - volume / OI (:func:`vol_oi`): how new the money is (volume far above the open interest).

    E.g. $200k of premium on a stock that traded $1B (2 bp) at volume/OI 2 scores 4.0.
    (The seed formula (|Δ|·S / mid) × IV × (volume/OI) × (premium / underlying $ volume) × 1000
    let the mid cancel out: it was 10⁵·|Δ|·S·IV·volume² / (OI · underlying $ volume), which
    premium size did not move. The ``leverage`` column, |Δ|·S / mid, is shown but not scored.)

    Only contracts with |K − S| ≤ ``band`` × S (default ±5 %), a valid IV (``iv_ok``), a finite
    delta, mid > 0, OI > 0 and volume > 0 are scored; calls and puts alike (``type`` says
    which). Returns those rows with added columns ``premium``, ``vol_oi``, ``tier``,
    ``leverage`` and ``whale_score``, largest score first. Empty when
    ``underlying_dollar_volume`` is not > 0 (the score needs the real day volume; the caller
    should say it is unavailable).
    """
    f = _with_flow_columns(frame)
    if not (underlying_dollar_volume > 0):
        return f.iloc[0:0].assign(tier=pd.Series(dtype=object), leverage=pd.Series(dtype=float),
                                  whale_score=pd.Series(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        leverage = f["delta"].abs() * spot / f["mid"].where(f["mid"] > 0)
    score = WHALE_SCALE * (f["premium"] / underlying_dollar_volume) * f["vol_oi"]
    keep = (_near(f, spot, band) & f["iv_ok"].astype(bool) & np.isfinite(leverage)
            & np.isfinite(score) & (f["volume"] > 0))
    out = f.assign(leverage=leverage, whale_score=score)[keep.fillna(False).astype(bool)]
    out = out.assign(tier=premium_tier(out["premium"]))
    return out.sort_values("whale_score", ascending=False, kind="stable")


def fresh_positioning(frame: pd.DataFrame, spot: float, *, band: float = 0.10,
                      min_vol_oi: float = 3.0, today: dt.date | None = None) -> pd.DataFrame:
    """Contracts where today's volume dwarfs open interest: likely new positions.

    Kept: |K − S| ≤ ``band`` × S (default ±10 %), volume/OI ≥ ``min_vol_oi`` (default 3;
    OI = 0 never qualifies, see :func:`vol_oi`) and — when ``today`` is given — an expiry after
    ``today``: a 0DTE is left out, its volume is mostly intraday round trips that open nothing
    overnight. fresh_score = volume/OI × notional / 1000, with **notional = premium** ($,
    volume × current mid × 100), so a score of 300 is e.g. volume/OI 3 on $100k of premium.
    Returns the kept rows with added columns ``premium``, ``vol_oi``, ``tier`` and
    ``fresh_score``, largest score first.
    """
    f = _with_flow_columns(frame)
    keep = _near(f, spot, band) & (f["vol_oi"] >= min_vol_oi)
    if today is not None:
        keep &= f["expiry"] > today
    out = f[keep.fillna(False).astype(bool)]
    out = out.assign(tier=premium_tier(out["premium"]),
                     fresh_score=out["vol_oi"] * out["premium"] / 1000.0)
    return out.sort_values("fresh_score", ascending=False, kind="stable")


@dataclasses.dataclass(frozen=True)
class PremiumSplit:
    """Total call and put premium ($) of a frame (one or many expiries)."""

    call: float
    put: float

    @property
    def total(self) -> float:
        return self.call + self.put

    @property
    def net(self) -> float:
        """call − put ($): positive = more money in calls."""
        return self.call - self.put

    @property
    def ratio(self) -> float:
        """call / put: > 1 = calls heavier; inf when put is 0 < call; NaN when both are 0."""
        if self.put > 0:
            return self.call / self.put
        return float("inf") if self.call > 0 else float("nan")


def call_put_premium(frame: pd.DataFrame) -> PremiumSplit:
    """Total premium ($, :func:`premium`) traded in calls vs puts."""
    p = premium(frame)
    return PremiumSplit(call=float(p[frame["type"] == "call"].sum()),
                        put=float(p[frame["type"] == "put"].sum()))
