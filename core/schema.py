"""The canonical data every provider produces and every page consumes.

A chain is ONE long DataFrame per (symbol, expiry), calls and puts together, travelling with its
metadata in a :class:`Chain`. Providers fill :data:`RAW_COLUMNS` through :func:`normalise_chain`
(the single place where source quirks are fixed); the fetch layer adds :data:`GREEK_COLUMNS`
once, at fetch time, and caches the result. Cached frames are shared between sessions: never
mutate one in place (pandas copy-on-write turns an accidental write into a private copy).

Units: ``strike``/``bid``/``ask``/``last``/``mid`` in the underlying's currency per share;
``iv`` a decimal (0.25 = 25 %); ``volume``/``open_interest`` in contracts (ints, 0 when
missing); ``expiry`` a ``datetime.date``; ``last_trade`` tz-aware UTC (NaT when unknown).
Greeks: see :mod:`core.analytics.greeks` (theta per calendar day, vega per 1 vol point).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

RAW_COLUMNS = [
    "contract", "type", "strike", "expiry", "bid", "ask", "last", "mid", "volume",
    "open_interest", "iv", "iv_ok", "in_the_money", "last_trade",
]
GREEK_COLUMNS = ["delta", "gamma", "vega", "theta", "vanna", "charm"]
CHAIN_COLUMNS = RAW_COLUMNS + GREEK_COLUMNS

IV_MIN, IV_MAX = 0.01, 5.0  # IVs outside [1 %, 500 %] are flagged and left out of greek sums

# Data-quality flags a Chain may carry (shown by the UI next to the data).
MARKET_CLOSED = "market_closed"        # bid/ask are zero: mid falls back to last
OI_PRIOR_CLOSE = "oi_prior_close"      # open interest is as of the prior close (always true)
IV_CLIPPED = "iv_clipped"              # some IVs were absurd and are excluded from greek sums
STALE_LAST_TRADES = "stale_last_trades"  # some last prices are from an earlier session
STRIKES_CAPPED = "strikes_capped"      # only the N strikes nearest spot are shown
FALLBACK = "fallback"                  # auto provider could not reach Yahoo: simulated instead
EMPTY_CHAIN = "empty_chain"            # the source lists this expiry but sent no contracts

FLAG_TEXT = {
    MARKET_CLOSED: "Market closed: bid/ask are zero, mid uses the last trade.",
    OI_PRIOR_CLOSE: "Open interest is as of the prior close.",
    IV_CLIPPED: "Some implied vols were outside 1%-500% and are excluded from greek-based sums.",
    STALE_LAST_TRADES: "Some last prices are from an earlier session.",
    STRIKES_CAPPED: "Only the strikes nearest spot are shown.",
    FALLBACK: "Yahoo Finance is unreachable: showing the simulated market.",
    EMPTY_CHAIN: "The source lists this expiry but sent no contracts.",
}


@dataclasses.dataclass(frozen=True)
class Quote:
    """The underlying's price. ``day_volume`` is shares traded today (0 when unknown)."""

    symbol: str
    price: float
    prev_close: float
    as_of: dt.datetime
    source: str
    day_volume: float = 0.0
    stale: bool = False

    @property
    def change(self) -> float:
        return self.price - self.prev_close

    @property
    def change_pct(self) -> float:
        """Percent change vs the previous close (2.0 means +2 %)."""
        return 100.0 * self.change / self.prev_close if self.prev_close else 0.0


@dataclasses.dataclass(frozen=True)
class Chain:
    """One expiry's option chain with its metadata.

    ``rate`` and ``div_yield`` are the continuous decimals the greeks were computed with.
    ``stale`` is True when the fetch layer served it after a failed refresh.
    """

    symbol: str
    expiry: dt.date
    spot: float
    as_of: dt.datetime
    source: str
    frame: pd.DataFrame
    flags: frozenset = frozenset()
    rate: float = 0.0
    div_yield: float = 0.0
    stale: bool = False
    quote: Quote | None = None
    quotes_as_of: dt.datetime | None = None

    @property
    def calls(self) -> pd.DataFrame:
        return self.frame[self.frame["type"] == "call"]

    @property
    def puts(self) -> pd.DataFrame:
        return self.frame[self.frame["type"] == "put"]

    def __repr__(self) -> str:  # a chain prints as a summary, not 400 rows
        return (f"Chain({self.symbol} {self.expiry} spot={self.spot:.2f} rows={len(self.frame)} "
                f"source={self.source} as_of={self.as_of:%Y-%m-%d %H:%M:%S %Z} "
                f"stale={self.stale} flags={sorted(self.flags)})")

    def __str__(self) -> str:
        return repr(self) + "\n" + self.frame.head(10).to_string()


def empty_chain_frame() -> pd.DataFrame:
    return normalise_chain(pd.DataFrame(columns=RAW_COLUMNS))


def normalise_chain(raw: pd.DataFrame, *, iv_in_percent: bool = False) -> pd.DataFrame:
    """Coerce a provider's frame to :data:`RAW_COLUMNS` with every boundary fix applied.

    - NaN volume / open interest -> 0 (ints); negative prices -> 0;
    - ``iv_in_percent``: the source quotes IV in percent (25 = 25 %), so it is divided by 100.
      The provider states its units; nothing is guessed from the values, because an off-hours
      0DTE chain can legitimately be full of absurd decimal IVs;
    - ``iv_ok`` is False outside [IV_MIN, IV_MAX] or NaN (kept, but left out of greek sums);
    - ``mid`` = (bid + ask) / 2 when both > 0, else ``last``;
    - ``type`` lower-case ``call``/``put``; rows sorted by type then strike.
    """
    n = len(raw)

    def column(name):
        return raw[name] if name in raw.columns else pd.Series([None] * n, index=raw.index,
                                                                  dtype=object)

    def numbers(name) -> np.ndarray:
        return pd.to_numeric(column(name), errors="coerce").to_numpy(dtype="float64",
                                                                     na_value=np.nan)

    kind = np.char.lower(column("type").to_numpy(dtype=str, na_value=""))
    strike = numbers("strike")
    bid, ask, last = (np.clip(np.nan_to_num(numbers(c), nan=0.0), 0.0, None)
                      for c in ("bid", "ask", "last"))
    volume, oi = (np.clip(np.nan_to_num(numbers(c), nan=0.0), 0, None).astype("int64")
                  for c in ("volume", "open_interest"))
    iv = numbers("iv") / 100.0 if iv_in_percent else numbers("iv")
    both = (bid > 0) & (ask > 0)
    itm = column("in_the_money").to_numpy(dtype=object)
    traded = pd.to_datetime(column("last_trade"), utc=True, errors="coerce")
    if not isinstance(traded.dtype, pd.DatetimeTZDtype):  # e.g. an empty object column
        traded = traded.astype("datetime64[ns, UTC]")
    frame = pd.DataFrame({
        "contract": column("contract").astype(str).to_numpy(),
        "type": kind,
        "strike": strike,
        "expiry": column("expiry").to_numpy(dtype=object),
        "bid": bid, "ask": ask, "last": last,
        "mid": np.where(both, (bid + ask) / 2.0, last),
        "volume": volume, "open_interest": oi,
        "iv": iv,
        "iv_ok": (iv >= IV_MIN) & (iv <= IV_MAX),  # NaN compares False
        "in_the_money": np.array([bool(pd.notna(x) and x) for x in itm], dtype=bool),
        "last_trade": traded.array,
    })
    frame["type"] = frame["type"].astype(str)
    frame["contract"] = frame["contract"].astype(str)
    keep = np.isin(kind, ("call", "put")) & ~np.isnan(strike)
    frame = frame[keep] if not keep.all() else frame
    order = np.lexsort((frame["strike"].to_numpy(), frame["type"].to_numpy() != "call"))
    return frame.take(order).reset_index(drop=True)


def quality_flags(frame: pd.DataFrame, *, market_open: bool, session_start: dt.datetime | None
                  ) -> frozenset:
    """The data-quality flags a normalised frame deserves (see FLAG_TEXT)."""
    flags = {OI_PRIOR_CLOSE}
    if len(frame) and not market_open and ((frame["bid"] <= 0) & (frame["ask"] <= 0)).mean() > 0.5:
        flags.add(MARKET_CLOSED)
    if len(frame) and not frame["iv_ok"].all():
        flags.add(IV_CLIPPED)
    if session_start is not None and len(frame):
        traded = frame["last_trade"].dropna()
        if len(traded) and (traded < pd.Timestamp(session_start).tz_convert("UTC")).any():
            flags.add(STALE_LAST_TRADES)
    return frozenset(flags)
