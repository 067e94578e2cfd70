"""The canonical data every provider produces and every page consumes.

A chain is ONE long DataFrame per (symbol, expiry), calls and puts together, travelling with its
metadata in a :class:`Chain`. Providers fill :data:`RAW_COLUMNS` through :func:`normalise_chain`
(the single place where source quirks are fixed); the fetch layer adds :data:`GREEK_COLUMNS`
once, at fetch time, and caches the result. Cached frames are shared between sessions: never
mutate one in place (pandas copy-on-write turns an accidental write into a private copy).

Units: ``strike``/``bid``/``ask``/``last``/``mid`` in the underlying's currency per share;
``iv`` and ``vendor_iv`` decimals (0.25 = 25 %); ``volume``/``open_interest`` in contracts (ints,
0 when missing); ``expiry`` a ``datetime.date``; ``last_trade`` tz-aware UTC (NaT when unknown).
Greeks: see :mod:`core.analytics.greeks` (theta per calendar day, vega per 1 vol point).

IV columns: ``vendor_iv`` is what the source sent (Yahoo's ``impliedVolatility``: NOT consistent
with its own prices, kept for comparison and as the last fallback). ``iv`` is OUR implied vol,
solved from ``mid`` by :func:`core.analytics.pricing.price_chain` at fetch time; until then (a
provider's frame) it holds the vendor's number. ``iv_source`` says which one a row carries:
``mid`` (solved from its own mid), ``pair`` (its own mid cannot be solved — e.g. an ITM quote
below intrinsic — so the σ solved for the other side of the same strike), ``vendor`` (nothing
to solve from: the vendor's, flagged :data:`IV_VENDOR`) or ``none`` (neither usable: NaN).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd

RAW_COLUMNS = [
    "contract", "type", "strike", "expiry", "bid", "ask", "last", "mid", "volume",
    "open_interest", "iv", "iv_ok", "in_the_money", "last_trade", "vendor_iv", "iv_source",
]
GREEK_COLUMNS = ["delta", "gamma", "vega", "theta"]  # what pages read (greeks.greeks has more)
CHAIN_COLUMNS = RAW_COLUMNS + GREEK_COLUMNS

# Columns a cached chain keeps as categoricals (``core.fetch.compact_chain``): the few values
# they take, as 1-byte codes, with one dtype (and categories Index) shared by every chain instead
# of an Arrow string column each (~3.7 KB -> ~0.9 KB a 212-row column). Sorted categories: sorting
# by them orders as the strings do. Values, comparisons and groupings are unchanged.
CATEGORIES = {"type": pd.CategoricalDtype(["call", "put"]),
              "iv_source": pd.CategoricalDtype(["mid", "none", "pair", "vendor"])}

IV_MIN, IV_MAX = 0.01, 5.0  # IVs outside [1 %, 500 %] are flagged and left out of greek sums

# Data-quality flags a Chain may carry (shown by the UI next to the data). Each means exactly
# what its text says; most are set by core.analytics.pricing.chain_flags, at fetch time.
MARKET_CLOSED = "market_closed"        # no regular session now: quotes are the last session's
OI_PRIOR_CLOSE = "oi_prior_close"      # open interest is published: as of the prior close
OI_NOT_PUBLISHED = "oi_not_published"  # (almost) every OI is 0: OCC's file is not out yet
IV_CLIPPED = "iv_clipped"              # some IVs were absurd and are excluded from greek sums
IV_VENDOR = "iv_vendor"                # some IVs are the vendor's (no price to solve from)
IV_UNSOLVED = "iv_unsolved"            # no IV at all could be solved from the prices
QUOTES_DELAYED = "quotes_delayed"      # the option quotes lag the spot (see Chain.quotes_lag)
STALE_LAST_TRADES = "stale_last_trades"  # no contract of this expiry traded this session
NON_STANDARD = "non_standard"          # adjusted / non-standard contracts were left out
STRIKES_CAPPED = "strikes_capped"      # only the N strikes nearest spot are shown
FALLBACK = "fallback"                  # auto provider could not reach Yahoo: simulated instead
EMPTY_CHAIN = "empty_chain"            # the source lists this expiry but sent no contracts

FLAG_TEXT = {
    MARKET_CLOSED: "Market closed: option quotes are from the last session.",
    OI_PRIOR_CLOSE: "Open interest is as of the prior close.",
    OI_NOT_PUBLISHED: ("Open interest is not published yet (0 on almost every contract): walls, "
                       "max pain and GEX are not available until it is."),
    IV_CLIPPED: "Some implied vols were outside 1%-500% and are excluded from greek-based sums.",
    IV_VENDOR: ("Some IVs are the vendor's (no two-sided quote or trade this session to solve "
                "from); the rest are solved from the mids."),
    IV_UNSOLVED: "No implied vol could be solved from these prices: greeks are not available.",
    QUOTES_DELAYED: "Option quotes lag the underlying's price.",
    STALE_LAST_TRADES: "No contract of this expiry has traded this session yet.",
    NON_STANDARD: "Adjusted / non-standard contracts are left out.",
    STRIKES_CAPPED: "Only the strikes nearest spot are shown.",
    FALLBACK: "Yahoo Finance is unreachable: showing the simulated market.",
    EMPTY_CHAIN: "The source lists this expiry but sent no contracts.",
}


@dataclasses.dataclass(frozen=True)
class Quote:
    """The underlying's price. ``day_volume`` is shares traded today (0 when unknown).

    ``session`` says which market the price is from: ``regular``, ``pre-market`` or
    ``after-hours`` (a source's extended-hours price, used when it is newer than the regular
    one); ``as_of`` is that price's time."""

    symbol: str
    price: float
    prev_close: float
    as_of: dt.datetime
    source: str
    day_volume: float = 0.0
    stale: bool = False
    session: str = "regular"

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
    forward: float = math.nan
    implied_spot: float = math.nan
    priced_at: dt.datetime | None = None
    t_years: float = math.nan

    @property
    def quotes_lag(self) -> float | None:
        """Seconds the option quotes lag the spot (None when the quotes' time is unknown)."""
        if self.quotes_as_of is None:
            return None
        return max((self.as_of - self.quotes_as_of).total_seconds(), 0.0)

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


def two_sided(bid, ask) -> np.ndarray:
    """True where a quote is two-sided and not crossed: bid > 0, ask > 0 and ask >= bid."""
    bid, ask = np.asarray(bid, dtype="float64"), np.asarray(ask, dtype="float64")
    return (bid > 0) & (ask > 0) & (ask >= bid)


def mid_price(bid, ask, last, last_trade, session_start: dt.datetime | None) -> np.ndarray:
    """The price a contract is worth now, per share: (bid + ask) / 2 from a two-sided, uncrossed
    quote (:func:`two_sided`); else ``last`` when that trade is from this session (at or after
    ``session_start``; any trade when it is None); else NaN — a days-old last price is not a
    price. ``last_trade`` is a tz-aware datetime array / Series (NaT when unknown)."""
    bid, ask, last = (np.asarray(v, dtype="float64") for v in (bid, ask, last))
    traded = pd.DatetimeIndex(pd.to_datetime(last_trade, utc=True))
    recent = ~traded.isna()
    if session_start is not None:
        recent &= traded >= pd.Timestamp(session_start).tz_convert("UTC")
    return np.where(two_sided(bid, ask), (bid + ask) / 2.0,
                    np.where(np.asarray(recent) & (last > 0), last, np.nan))


def normalise_chain(raw: pd.DataFrame, *, iv_in_percent: bool = False,
                    session_start: dt.datetime | None = None) -> pd.DataFrame:
    """Coerce a provider's frame to :data:`RAW_COLUMNS` with every boundary fix applied.

    - NaN volume / open interest -> 0 (ints); negative prices -> 0;
    - ``iv_in_percent``: the source quotes IV in percent (25 = 25 %), so it is divided by 100.
      The provider states its units; nothing is guessed from the values, because an off-hours
      0DTE chain can legitimately be full of absurd decimal IVs;
    - the source's IV goes to ``vendor_iv`` and, until the fetch layer solves ours, to ``iv``
      (``iv_source`` ``vendor``, or ``none`` when NaN); ``iv_ok`` is False outside
      [IV_MIN, IV_MAX] or NaN (kept, but left out of greek sums);
    - ``mid`` by :func:`mid_price` (two-sided quote, else a last trade of this session, else
      NaN); the fetch layer applies the same rule again with its own clock;
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
    itm = column("in_the_money").to_numpy(dtype=object)
    traded = pd.to_datetime(column("last_trade"), utc=True, errors="coerce")
    if not isinstance(traded.dtype, pd.DatetimeTZDtype):  # e.g. an empty object column
        traded = traded.astype("datetime64[ns, UTC]")
    mid = mid_price(bid, ask, last, traded, session_start)
    frame = pd.DataFrame({
        "contract": column("contract").astype(str).to_numpy(),
        "type": kind,
        "strike": strike,
        "expiry": column("expiry").to_numpy(dtype=object),
        "bid": bid, "ask": ask, "last": last,
        "mid": mid,
        "volume": volume, "open_interest": oi,
        "iv": iv,
        "iv_ok": (iv >= IV_MIN) & (iv <= IV_MAX),  # NaN compares False
        "in_the_money": np.array([bool(pd.notna(x) and x) for x in itm], dtype=bool),
        "last_trade": traded.array,
        "vendor_iv": iv,
        "iv_source": np.where(np.isnan(iv), "none", "vendor"),
    })
    frame["type"] = frame["type"].astype(str)
    frame["contract"] = frame["contract"].astype(str)
    frame["iv_source"] = frame["iv_source"].astype(str)
    keep = np.isin(kind, ("call", "put")) & ~np.isnan(strike)
    frame = frame[keep] if not keep.all() else frame
    order = np.lexsort((frame["strike"].to_numpy(), frame["type"].to_numpy() != "call"))
    return frame.take(order).reset_index(drop=True)


OI_MIN_COVERAGE = 0.2  # below this share of contracts with OI > 0, OI counts as not published


def oi_published(frame: pd.DataFrame) -> bool:
    """Has the open interest of this chain been published? False when fewer than
    :data:`OI_MIN_COVERAGE` of its contracts show OI > 0 (Yahoo sends 0 on every contract before
    OCC's morning file; a few stray values do not make it published). An empty frame: False."""
    if not len(frame):
        return False
    return float((frame["open_interest"].to_numpy() > 0).mean()) >= OI_MIN_COVERAGE


DELAY_NOTE_SECONDS = 300.0  # option quotes lagging the spot by more than this are flagged


def quality_flags(frame: pd.DataFrame, *, market_open: bool, session_start: dt.datetime | None,
                  quotes_lag: float | None = None) -> frozenset:
    """The data-quality flags a chain frame deserves (see FLAG_TEXT), each meaning what it says:

    MARKET_CLOSED when there is no regular session now; OI_PRIOR_CLOSE when open interest is
    published (:func:`oi_published`), else OI_NOT_PUBLISHED; IV_CLIPPED when a finite ``iv`` is
    outside [IV_MIN, IV_MAX]; IV_VENDOR when a row carries the vendor's IV, IV_UNSOLVED when no
    row carries one solved from its price (so a provider's unsolved frame has both: the fetch
    layer recomputes every flag after solving); STALE_LAST_TRADES when no contract traded at or
    after ``session_start``; QUOTES_DELAYED when the market is open and the option quotes lag
    the spot by more than :data:`DELAY_NOTE_SECONDS` (``quotes_lag`` seconds).
    """
    if not len(frame):
        return frozenset({MARKET_CLOSED} if not market_open else set())
    flags = {OI_PRIOR_CLOSE if oi_published(frame) else OI_NOT_PUBLISHED}
    if not market_open:
        flags.add(MARKET_CLOSED)
    iv = frame["iv"].to_numpy(dtype="float64", na_value=np.nan)
    if (np.isfinite(iv) & ((iv < IV_MIN) | (iv > IV_MAX))).any():
        flags.add(IV_CLIPPED)
    source = frame["iv_source"].to_numpy(dtype=str)
    if (source == "vendor").any():
        flags.add(IV_VENDOR)
    if not (source == "mid").any():
        flags.add(IV_UNSOLVED)
    if session_start is not None:
        traded = frame["last_trade"].dropna()
        if not len(traded) or not (traded >= pd.Timestamp(session_start).tz_convert("UTC")).any():
            flags.add(STALE_LAST_TRADES)
    if market_open and quotes_lag is not None and quotes_lag > DELAY_NOTE_SECONDS:
        flags.add(QUOTES_DELAYED)
    return frozenset(flags)


def chain_notes(chain: Chain) -> list[str]:
    """What a reader must know about one chain's numbers, in words (for the UI's data notes):

    where its IVs come from (solved from the mids / the other side of the strike / the vendor),
    how old its option quotes are against the spot ("options 30 min behind the spot"), which
    spot it is priced at (pre-market / after-hours), then the text of each flag it carries."""
    notes = []
    frame = chain.frame
    if len(frame) and "iv_source" in frame:
        counts = frame["iv_source"].value_counts()
        total = int(counts.sum())
        solved = int(counts.get("mid", 0)) + int(counts.get("pair", 0))
        vendor = int(counts.get("vendor", 0))
        text = f"IV: solved from the option mids for {solved} of {total} contracts"
        if vendor:
            text += f", the vendor's for {vendor}"
        notes.append(text + ".")
    lag = chain.quotes_lag
    if chain.quotes_as_of is not None:
        when = chain.quotes_as_of.astimezone(chain.as_of.tzinfo or dt.timezone.utc)
        if lag is not None and lag > DELAY_NOTE_SECONDS and MARKET_CLOSED not in chain.flags:
            notes.append(f"Options delayed {lag / 60:.0f} min: quotes as of {when:%H:%M} ET, "
                         f"spot as of {chain.as_of:%H:%M:%S} ET.")
        else:
            notes.append(f"Option quotes as of {when:%a %H:%M} ET.")
    if chain.quote is not None and chain.quote.session != "regular":
        notes.append(f"Spot is the {chain.quote.session} price.")
    notes += [FLAG_TEXT[f] for f in sorted(chain.flags)
              if f in FLAG_TEXT and f not in (QUOTES_DELAYED,)]
    return notes
