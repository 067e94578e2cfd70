"""Yahoo Finance through yfinance 1.7 — the only module of the project that imports yfinance.

Every public call goes through three separately testable steps (OpenBB style):

1. **normalise the request** — :func:`yahoo_symbol`, :func:`expiry_date`, :func:`history_request`
   (pure; bad input raises ``InvalidSymbol`` / ``ValueError`` before any I/O);
2. **raw I/O** — ``YahooProvider._raw_*``: the only code that touches yfinance objects, run by
   ``YahooProvider._call`` under one time budget, with errors mapped by :func:`map_error`;
3. **transform** — :func:`chain_frame`, :func:`pm_settled_only`, :func:`quote_from_underlying`,
   :func:`quote_from_chart`, :func:`history_frame`, :func:`chain_flags`, ... (pure functions of
   plain dicts / frames, unit-tested with literal data).

Upstream calls per provider call
--------------------------------
- ``expirations``: one ``/v7/finance/options/{sym}`` request (Yahoo answers with the expiry list
  and the nearest expiry's chain; there is no lighter endpoint).
- ``chain``: that same request; when the nearest expiry is the one asked for (0DTE, the common
  case) its chain is used as is, otherwise one more request with ``?date=``. The underlying's
  quote (spot, previous close, volume, time) comes with the chain: no extra call.
- ``quote`` / ``history``: one ``/v8/finance/chart/{sym}`` request. yfinance would first look up
  the exchange time zone (one more chart request per new symbol, and a quoteSummary fallback);
  options exist only on US listings, so the time zone is preset to America/New_York.
- Yahoo's cookie and crumb (``fc.yahoo.com``, ``/v1/test/getcrumb``) are fetched by yfinance on
  first use and kept by its process-wide ``YfData`` singleton.

Bounded time
------------
yfinance 1.7 does not take a timeout per call: it passes ``timeout=30`` (or 10) to each HTTP
request, and one call may make several requests (cookie, crumb, the data, a retry with the
other cookie strategy, the consent page). All of them go through the ``curl_cffi`` session
handed to ``yf.Ticker(..., session=...)``. This module hands it a :class:`BoundedSession`, whose
``request`` clamps every request's timeout to what is left of the calling thread's budget
(``core.config.settings().upstream_timeout``, default 8 s) and refuses to start a request once
the budget is spent. curl enforces that timeout over the whole transfer (DNS, connect, TLS,
body), so a provider call ends within the budget (plus a few ms of parsing) and raises
``Unavailable``, even when the network drops packets instead of refusing them. yfinance holds
a process-wide lock while it fetches the cookie and crumb; the holder's requests are bounded
by its own budget, so a thread waiting on that lock waits about one budget at most, and finds
its own budget spent (-> ``Unavailable`` at once) only if the holder used all of its own.

yfinance's caches
-----------------
yfinance keeps three small sqlite files, by default under ``platformdirs.user_cache_dir()/
py-yfinance`` (``~/.cache/py-yfinance`` on Linux):

- ``tkr-tz.db`` — symbol -> exchange time zone (saves one chart request per symbol);
- ``cookies.db`` — Yahoo's consent cookie (``A3``, pickled), reused across processes until it
  expires, so a restart does not fetch a new cookie;
- ``isin-tkr.db`` — ISIN -> symbol lookups (unused here).

:func:`set_cache_dir` moves them (e.g. to a writable volume); :func:`isolated` gives tests a
throw-away directory and a fresh cookie/crumb state, restoring both afterwards.

Errors (see :func:`map_error`): ``YFRateLimitError`` -> ``RateLimited`` after one retry with
backoff inside the budget; an unknown symbol or one without options -> ``SymbolNotFound``; an
expiry Yahoo does not list -> ``NoExpiry`` carrying the next listed one; timeouts, network
failures, refusals (401/403/5xx) and unreadable answers -> ``Unavailable``. No raw exception
leaves this module, and no failure is turned into partial data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import re
import threading
import time
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from curl_cffi.requests import exceptions as curl_exceptions
from yfinance import exceptions as yf_exceptions

from core import clock, config, schema, symbols
from core.errors import DataError, NoExpiry, RateLimited, SymbolNotFound, Unavailable
from core.providers.base import HISTORY_COLUMNS, INTERVALS, PERIODS
from core.schema import Chain, Quote

log = logging.getLogger(__name__)

NAME = "yahoo"
PROBE_URL = "https://query2.finance.yahoo.com/"
US_TZ = "America/New_York"

RATE_LIMIT_TRIES = 2          # tries of one call when Yahoo answers 429
RATE_LIMIT_BACKOFF = 0.5      # seconds before the second try (doubles per try)
MIN_REQUEST_SECONDS = 0.05    # a request is not started with less budget than this

# Yahoo's option fields -> core.schema.RAW_COLUMNS (the only per-source rename).
RENAME = {
    "contractSymbol": "contract",
    "lastTradeDate": "last_trade",
    "lastPrice": "last",
    "openInterest": "open_interest",
    "impliedVolatility": "iv",
    "inTheMoney": "in_the_money",
}

IV_IN_PERCENT = False  # Yahoo's impliedVolatility is a decimal fraction (0.25 = 25 %)

# Index option roots listed on the same dates: AM-settled (monthly, stops trading the day
# before) -> PM-settled (trades through the expiry day's close).
PM_SETTLED_ROOT = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}

# Flag for a listed expiry for which Yahoo sent no contracts (FLAG_TEXT lives in core.schema).
EMPTY_CHAIN = schema.EMPTY_CHAIN

# Longest period Yahoo serves per intraday interval (1m: 8 days; <1h: 60 days; 1h: 730 days).
INTRADAY_MAX_PERIOD = {"1m": "5d", "5m": "1mo", "15m": "1mo", "30m": "1mo", "1h": "1y"}

_OCC = re.compile(r"^(?P<root>[A-Z][A-Z0-9]*?)(?P<date>\d{6})(?P<kind>[CP])(?P<strike>\d{8})$")
_QUOTE_META_KEYS = ("regularMarketPrice", "regularMarketTime", "regularMarketVolume",
                    "previousClose", "chartPreviousClose")


# ----------------------------------------------------------------------------------------------
# yfinance configuration
# ----------------------------------------------------------------------------------------------

# With hide_exceptions (yfinance's default) a failed history() logs and returns an empty frame,
# which cannot be told apart from "no bars". Here yfinance raises, and map_error decides.
yf.config.debug.hide_exceptions = False


# ----------------------------------------------------------------------------------------------
# Bounded HTTP: one time budget per provider call, shared by all its requests
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Exchange:
    """One provider call as the HTTP layer sees it: its deadline and the answers' statuses."""

    deadline: float                                   # time.monotonic() seconds
    statuses: list = dataclasses.field(default_factory=list)  # [(url path, HTTP status)]


_local = threading.local()


@contextlib.contextmanager
def _within(exchange: _Exchange):
    saved = getattr(_local, "exchange", None)
    _local.exchange = exchange
    try:
        yield exchange
    finally:
        _local.exchange = saved


def _clamp(timeout: Any, left: float) -> Any:
    """A request's timeout limited to ``left`` seconds (numbers and (connect, read) pairs)."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return min(float(timeout), left)
    if isinstance(timeout, tuple):
        return tuple(min(float(t), left) if t is not None else left for t in timeout)
    return left


class BoundedSession(curl_requests.Session):
    """The curl_cffi session yfinance uses, with every request held to the caller's budget.

    Inside a provider call, each request's timeout is ``min(asked, budget left)``; once the
    budget is spent a request raises curl_cffi's ``Timeout`` without touching the network
    (yfinance treats it like any timeout). Outside a provider call it is a plain session.
    The HTTP status of each answer is noted for :func:`classify_empty`.
    """

    def request(self, method, url, *args, **kwargs):
        exchange = getattr(_local, "exchange", None)
        if exchange is not None:
            left = exchange.deadline - time.monotonic()
            if left < MIN_REQUEST_SECONDS:
                raise curl_exceptions.Timeout(
                    f"time budget spent before {method} {urlsplit(str(url)).netloc}")
            kwargs["timeout"] = _clamp(kwargs.get("timeout"), left)
        response = super().request(method, url, *args, **kwargs)
        if exchange is not None:
            exchange.statuses.append((urlsplit(str(url)).path, int(response.status_code)))
        return response


def make_session(**kwargs) -> BoundedSession:
    """A new :class:`BoundedSession` impersonating Chrome (as yfinance's own sessions do).
    ``kwargs`` go to ``curl_cffi.requests.Session`` (e.g. ``proxy=``)."""
    kwargs.setdefault("impersonate", "chrome")
    return BoundedSession(**kwargs)


_session_lock = threading.Lock()
_shared_session: BoundedSession | None = None


def shared_session() -> BoundedSession:
    """The process's one session (yfinance's YfData is a singleton holding one session too)."""
    global _shared_session
    with _session_lock:
        if _shared_session is None:
            _shared_session = make_session()
        return _shared_session


# ----------------------------------------------------------------------------------------------
# yfinance's on-disk caches and process state
# ----------------------------------------------------------------------------------------------

def cache_dir() -> str:
    """Where yfinance's sqlite caches live (see the module docstring for what they hold)."""
    from yfinance import cache as yf_cache

    return yf_cache._TzDBManager.get_location()


def set_cache_dir(path: str) -> str:
    """Move yfinance's three sqlite caches (time zones, cookie, ISINs) to ``path``; return the
    previous location. Open cache files are closed; the next use opens them at ``path``."""
    from yfinance import cache as yf_cache

    previous = cache_dir()
    with yf_cache._cache_init_lock:
        yf_cache.set_cache_location(str(path))
        # set_cache_location() alone keeps already-opened caches on the old files
        yf_cache._TzCacheManager._tz_cache = None
        yf_cache._CookieCacheManager._Cookie_cache = None
        yf_cache._ISINCacheManager._isin_cache = None
    return previous


@contextlib.contextmanager
def isolated(path: str):
    """Fresh yfinance state inside the block: caches under ``path``, a new YfData singleton (no
    cookie, crumb or cookie strategy carried over), a new shared session. All three are put back
    on exit, so a test leaves the process as it found it."""
    global _shared_session
    from yfinance.data import YfData

    singleton = type(YfData)
    with singleton._lock:
        saved_data = singleton._instances.pop(YfData, None)
    with _session_lock:
        saved_session, _shared_session = _shared_session, None
    previous = set_cache_dir(path)
    try:
        yield
    finally:
        set_cache_dir(previous)
        with _session_lock:
            _shared_session = saved_session
        with singleton._lock:
            singleton._instances.pop(YfData, None)
            if saved_data is not None:
                singleton._instances[YfData] = saved_data


# ----------------------------------------------------------------------------------------------
# Step 1: normalise the request
# ----------------------------------------------------------------------------------------------

def yahoo_symbol(symbol: str) -> str:
    """Validated canonical symbol -> Yahoo's spelling (class shares use '-': BRK.B -> BRK-B).
    Raises InvalidSymbol for text that is not a ticker (core.symbols.validate)."""
    return symbols.validate(symbol).replace(".", "-")


def request_symbols(symbol: str) -> tuple[str, str]:
    """``(canonical symbol, Yahoo's spelling)``: the first names results, the second is sent."""
    canonical = symbols.validate(symbol)
    return canonical, yahoo_symbol(canonical)


def expiry_date(expiry: dt.date | dt.datetime | str) -> dt.date:
    """An expiry as a date (accepts a date, a datetime or 'YYYY-MM-DD')."""
    if isinstance(expiry, dt.datetime):
        return expiry.date()
    if isinstance(expiry, dt.date):
        return expiry
    if isinstance(expiry, str):
        return dt.date.fromisoformat(expiry.strip()[:10])
    raise TypeError(f"expiry must be a date or 'YYYY-MM-DD', not {type(expiry).__name__}")


def _period_days(period: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(d|mo|y)", period).groups()
    return int(number) * {"d": 1, "mo": 31, "y": 366}[unit]


def history_request(period: str, interval: str) -> tuple[str, str]:
    """Check ``period``/``interval`` against core.providers.base and Yahoo's intraday limits.

    Raises ValueError (a caller's bug, not a data problem) when either is unknown or the
    period is longer than Yahoo keeps bars of that interval (:data:`INTRADAY_MAX_PERIOD`).
    """
    if period not in PERIODS:
        raise ValueError(f"period {period!r} not in {PERIODS}")
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r} not in {INTERVALS}")
    longest = INTRADAY_MAX_PERIOD.get(interval)
    if longest is not None and _period_days(period) > _period_days(longest):
        raise ValueError(f"Yahoo keeps {interval} bars for at most {longest}, not {period}")
    return period, interval


# ----------------------------------------------------------------------------------------------
# Step 3: transform (pure)
# ----------------------------------------------------------------------------------------------

def parse_expirations(listed: Iterable[str]) -> list[dt.date]:
    """yfinance's ``Ticker.options`` ('YYYY-MM-DD' strings) -> ascending unique dates."""
    return sorted({dt.date.fromisoformat(str(s)[:10]) for s in listed})


def next_listed(listed: Iterable[dt.date], expiry: dt.date) -> dt.date | None:
    """The first listed expiry after ``expiry`` (None when there is none)."""
    later = [e for e in listed if e > expiry]
    return min(later) if later else None


def contract_root(contracts: pd.Series) -> pd.Series:
    """OCC contract symbol -> its root: ``SPXW261120C06700000`` -> ``SPXW`` (NaN if unparsable).

    The symbol is root + YYMMDD + C/P + strike x 1000 on 8 digits; roots may hold digits
    (adjusted contracts such as ``TSLA1``)."""
    return contracts.astype(str).str.extract(_OCC)["root"]


def contract_expiry(contracts: pd.Series) -> pd.Series:
    """OCC contract symbol -> expiry date (NaT if unparsable)."""
    dates = contracts.astype(str).str.extract(_OCC)["date"]
    return pd.to_datetime(dates, format="%y%m%d", errors="coerce").dt.date


def pm_settled_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep only PM-settled contracts where an index lists AM- and PM-settled roots together.

    On a monthly expiry Yahoo lists ``^SPX`` contracts of two roots for the same date: ``SPX``
    (AM-settled: last trade the day before, settled on the expiry morning's opening prints) and
    ``SPXW`` (PM-settled: trades until the close). Levels for that day (0DTE, gamma exposure)
    must use what actually trades, so when both roots of a pair in :data:`PM_SETTLED_ROOT`
    (SPX/SPXW, NDX/NDXP, RUT/RUTW) are present, rows of the AM root are dropped, selected by
    the root of ``contract``. A frame with only one root of a pair is returned unchanged.
    Returns a new frame; the input is not modified.
    """
    if frame.empty:
        return frame
    roots = contract_root(frame["contract"])
    present = set(roots.dropna().unique())
    am_roots = [am for am, pm in PM_SETTLED_ROOT.items() if am in present and pm in present]
    if not am_roots:
        return frame
    return frame[~roots.isin(am_roots).to_numpy()].reset_index(drop=True)


def chain_frame(calls: pd.DataFrame | None, puts: pd.DataFrame | None, expiry: dt.date,
                *, iv_in_percent: bool = IV_IN_PERCENT) -> pd.DataFrame:
    """yfinance's calls and puts frames -> ONE canonical long frame (core.schema.RAW_COLUMNS).

    Renames with :data:`RENAME`, adds ``type`` (call/put) and ``expiry``, then applies
    ``core.schema.normalise_chain`` (NaN volume/OI -> 0, IVs divided by 100 when
    ``iv_in_percent``, absurd IVs flagged in ``iv_ok``, mid = (bid+ask)/2, or last when bid or
    ask is zero) and :func:`pm_settled_only`. Yahoo's ``impliedVolatility`` is a decimal
    (0.25 = 25 %), off-hours values of 5-20 (500-2000 %) included, so the unit is stated, never
    guessed from the values. ``None`` or empty sides give an empty canonical frame.
    """
    parts = []
    for kind, side in (("call", calls), ("put", puts)):
        if side is None or len(side) == 0:
            continue
        parts.append(side.rename(columns=RENAME).assign(type=kind, expiry=expiry))
    if not parts:
        return schema.empty_chain_frame()
    raw = pd.concat(parts, ignore_index=True)
    return pm_settled_only(schema.normalise_chain(raw, iv_in_percent=iv_in_percent))


def _number(value: Any, default: float = math.nan) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def as_of_from(value: Any) -> dt.datetime:
    """Yahoo's ``regularMarketTime`` (epoch seconds, or a Timestamp as yfinance formats chart
    metadata) -> tz-aware ET datetime; missing -> ``core.clock.now()``."""
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return stamp.tz_convert(clock.ET).to_pydatetime()
    seconds = _number(value)
    if math.isnan(seconds) or seconds <= 0:
        return clock.now()
    return dt.datetime.fromtimestamp(seconds, tz=clock.ET)


def quote_from_underlying(symbol: str, underlying: Mapping | None) -> Quote:
    """The ``quote`` dict Yahoo sends with an option chain -> :class:`Quote`.

    price = regularMarketPrice; prev_close = regularMarketPreviousClose (else price -
    regularMarketChange, else price); day_volume = regularMarketVolume (0 when absent, as for
    cash indexes); as_of = regularMarketTime in ET. No positive price -> Unavailable.
    """
    u = underlying or {}
    price = _number(u.get("regularMarketPrice"))
    if math.isnan(price) or price <= 0:
        raise Unavailable(f"Yahoo Finance sent no price for {symbol}.", symbol=symbol)
    prev = _number(u.get("regularMarketPreviousClose"))
    if math.isnan(prev) or prev <= 0:
        change = _number(u.get("regularMarketChange"), 0.0)
        prev = price - change
    return Quote(symbol=symbol, price=price, prev_close=prev,
                 as_of=as_of_from(u.get("regularMarketTime")), source=NAME,
                 day_volume=_number(u.get("regularMarketVolume"), 0.0))


def quote_from_chart(symbol: str, meta: Mapping, bars: pd.DataFrame) -> Quote:
    """Chart metadata + daily bars (as :func:`history_frame` returns them) -> :class:`Quote`.

    price = meta regularMarketPrice (else the last close); as_of = regularMarketTime in ET;
    prev_close = meta previousClose when Yahoo sends it, else the close of the last daily bar
    dated before as_of's ET date, else chartPreviousClose, else price; day_volume =
    regularMarketVolume, else the volume of the bar dated on as_of's date, else 0.
    """
    closes = bars["close"] if len(bars) else pd.Series(dtype="float64")
    price = _number(meta.get("regularMarketPrice"))
    if (math.isnan(price) or price <= 0) and len(closes):
        price = float(closes.iloc[-1])
    if math.isnan(price) or price <= 0:
        raise Unavailable(f"Yahoo Finance sent no price for {symbol}.", symbol=symbol)
    as_of = as_of_from(meta.get("regularMarketTime"))
    dates = np.array([ts.date() for ts in bars.index]) if len(bars) else np.array([])
    prev = _number(meta.get("previousClose"))
    if math.isnan(prev):
        before = closes[dates < as_of.date()] if len(bars) else closes
        prev = float(before.iloc[-1]) if len(before) else _number(meta.get("chartPreviousClose"))
    if math.isnan(prev) or prev <= 0:
        prev = price
    volume = _number(meta.get("regularMarketVolume"))
    if math.isnan(volume):
        today = bars["volume"][dates == as_of.date()] if len(bars) else closes
        volume = float(today.iloc[-1]) if len(today) else 0.0
    return Quote(symbol=symbol, price=price, prev_close=prev, as_of=as_of, source=NAME,
                 day_volume=volume)


def empty_history() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz=clock.ET, name="time")
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in HISTORY_COLUMNS}, index=index)
    return frame.astype({"volume": "int64"})


def history_frame(bars: pd.DataFrame | None, interval: str) -> pd.DataFrame:
    """yfinance's OHLCV frame -> tz-aware ET DatetimeIndex named ``time``, lower-case columns
    :data:`HISTORY_COLUMNS` (prices float, volume int shares, NaN -> 0). Daily bars sit at
    midnight ET of their session; bars without a close are dropped; duplicates keep the last."""
    if bars is None or len(bars) == 0:
        return empty_history()
    frame = bars.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"price bars lack {missing}")
    frame = frame[HISTORY_COLUMNS].copy()
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index
    index = index.tz_convert(clock.ET)
    if interval == "1d":
        index = index.normalize()
    frame.index = index.rename("time")
    for col in ("open", "high", "low", "close"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame["volume"] = (pd.to_numeric(frame["volume"], errors="coerce").fillna(0).clip(lower=0)
                       .astype("int64"))
    frame = frame[frame["close"].notna()]
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.sort_index()


def chain_flags(frame: pd.DataFrame) -> frozenset:
    """core.schema.quality_flags with the market state from core.clock (open now?) and the
    session start of the last session (last trades before it are stale); EMPTY_CHAIN when the
    frame has no rows."""
    status = clock.market_status()
    start = clock.session_open(clock.last_session())
    flags = schema.quality_flags(frame, market_open=status.is_open, session_start=start)
    return flags | {EMPTY_CHAIN} if frame.empty else flags


def classify_empty(symbol: str, statuses: Iterable[tuple[str, int]]) -> DataError:
    """The error for an options answer without expiries, from the HTTP statuses seen.

    The last answer of the options endpoint decides: 200 (an empty result) or 404 ->
    SymbolNotFound (no such symbol, or no listed options); 401/403 (e.g. "Invalid Crumb"),
    5xx, other codes or no answer at all -> Unavailable (Yahoo did not really answer).
    """
    codes = [code for path, code in statuses if "/finance/options/" in path]
    if codes and codes[-1] in (200, 404):
        return SymbolNotFound(f"Yahoo Finance lists no options for {symbol}.", symbol=symbol)
    if codes and codes[-1] in (401, 403):
        return Unavailable("Yahoo Finance refused the request (authorisation); "
                           "try again in a moment.", symbol=symbol)
    return Unavailable(f"Yahoo Finance did not return the options of {symbol}.", symbol=symbol)


def map_error(exc: BaseException, symbol: str, what: str, budget: float) -> DataError:
    """Map an exception raised by yfinance / curl_cffi to the error tree (messages user-safe).

    YFRateLimitError -> RateLimited; YFPricesMissingError / YFTzMissingError -> SymbolNotFound
    (unless Yahoo's stated reason says otherwise -> Unavailable); curl / requests timeouts ->
    Unavailable("did not answer within N s"); other network errors -> Unavailable("cannot be
    reached"); unreadable JSON / unexpected shapes -> Unavailable("could not be read").
    A DataError is returned unchanged.
    """
    if isinstance(exc, DataError):
        return exc
    if isinstance(exc, yf_exceptions.YFRateLimitError):
        return RateLimited(f"Yahoo Finance is rate-limiting requests ({what}); "
                           "retry in a moment.", symbol=symbol)
    if isinstance(exc, yf_exceptions.YFPricesMissingError):
        reason = (exc.yahoo_reason or "").lower()
        if not reason or "not found" in reason or "delisted" in reason:
            return SymbolNotFound(f"Yahoo Finance has no prices for {symbol}.", symbol=symbol)
        return Unavailable(f"Yahoo Finance could not serve {what}: {exc.yahoo_reason}",
                           symbol=symbol)
    if isinstance(exc, yf_exceptions.YFTickerMissingError):
        return SymbolNotFound(f"Yahoo Finance does not know {symbol}.", symbol=symbol)
    if isinstance(exc, json.JSONDecodeError):
        return Unavailable(f"Yahoo Finance sent an unreadable answer for {what}.", symbol=symbol)
    if isinstance(exc, (curl_exceptions.Timeout, TimeoutError)) or type(exc).__name__ in (
            "Timeout", "ConnectTimeout", "ReadTimeout"):
        return Unavailable(f"Yahoo Finance did not answer within {budget:g} s ({what}).",
                           symbol=symbol)
    if isinstance(exc, OSError):  # curl_cffi and requests errors are OSErrors
        return Unavailable(f"Yahoo Finance cannot be reached ({what}).", symbol=symbol)
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError,
                        yf_exceptions.YFException)):
        return Unavailable(f"Yahoo Finance sent an answer that could not be read ({what}).",
                           symbol=symbol)
    return Unavailable(f"Yahoo Finance failed ({what}).", symbol=symbol)


# ----------------------------------------------------------------------------------------------
# Step 2: raw I/O, and the provider
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RawChain:
    """What the options endpoint gave for one request: the listed expiries, and, when the asked
    expiry is listed, its calls / puts frames (yfinance's columns) and the underlying's quote."""

    listed: tuple[str, ...]
    calls: pd.DataFrame | None
    puts: pd.DataFrame | None
    underlying: dict | None


def _chain_is_for(option_chain, expiry: dt.date, nearest: bool) -> bool:
    """Is yfinance's chain from a request without ``date`` the chain of ``expiry``?

    Yes when every contract symbol encodes ``expiry``; an empty chain is taken as the
    ``nearest`` listed expiry's (Yahoo answers a request without date with the nearest)."""
    sides = [s for s in (option_chain.calls, option_chain.puts) if s is not None and len(s)]
    if not sides:
        return nearest
    expiries = pd.concat([contract_expiry(s["contractSymbol"]) for s in sides])
    return bool((expiries == expiry).all())


class YahooProvider:
    """Live data from Yahoo Finance (see the module docstring). Thread-safe; holds no data.

    ``session`` — a :class:`BoundedSession` (default: the process's shared one);
    ``timeout`` — seconds per call (default: ``settings().upstream_timeout``, read per call);
    ``backoff`` — seconds before retrying a rate-limited call (doubles per try).
    """

    name = NAME
    remote = True  # every call goes through the fetch layer's process-wide rate limiter

    def __init__(self, *, session: BoundedSession | None = None, timeout: float | None = None,
                 backoff: float = RATE_LIMIT_BACKOFF):
        self._session = session
        self._timeout = timeout
        self._backoff = backoff

    # -- plumbing ---------------------------------------------------------------------------

    def budget(self) -> float:
        """Seconds one call may take, all its requests and retries included."""
        return float(self._timeout if self._timeout is not None
                     else config.settings().upstream_timeout)

    def _ticker(self, ysym: str):
        return yf.Ticker(ysym, session=self._session or shared_session())

    def _call(self, symbol: str, what: str, fn: Callable, *args) -> tuple[Any, list]:
        """Run raw-I/O ``fn(*args)`` within the budget; return (its result, HTTP statuses).

        A rate-limited try is retried after ``backoff`` s when the budget allows it
        (RATE_LIMIT_TRIES in all); every other failure is mapped by :func:`map_error` and
        raised at once."""
        budget = self.budget()
        deadline = time.monotonic() + budget
        for attempt in range(RATE_LIMIT_TRIES):
            exchange = _Exchange(deadline)
            try:
                with _within(exchange):
                    return fn(*args), exchange.statuses
            except yf_exceptions.YFRateLimitError as exc:
                pause = self._backoff * 2 ** attempt
                if (attempt + 1 < RATE_LIMIT_TRIES
                        and time.monotonic() + pause + MIN_REQUEST_SECONDS < deadline):
                    log.info("yahoo: rate-limited (%s), retrying in %.2f s", what, pause)
                    time.sleep(pause)
                    continue
                raise map_error(exc, symbol, what, budget) from None
            except DataError:
                raise
            except Exception as exc:  # noqa: BLE001 — every failure is mapped and raised
                log.warning("yahoo: %s failed: %s: %s", what, type(exc).__name__, exc)
                raise map_error(exc, symbol, what, budget) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _transform(self, symbol: str, what: str, fn: Callable, *args):
        """Run a pure transform on Yahoo's answer; an answer of an unexpected shape (KeyError,
        TypeError, ValueError, ...) becomes Unavailable("could not be read")."""
        try:
            return fn(*args)
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            log.warning("yahoo: reading %s failed: %s: %s", what, type(exc).__name__, exc)
            raise map_error(exc, symbol, what, self.budget()) from exc

    def _raw_expirations(self, ysym: str) -> tuple[str, ...]:
        return tuple(self._ticker(ysym).options)

    def _raw_chain(self, ysym: str, expiry: dt.date) -> RawChain:
        ticker = self._ticker(ysym)
        first = ticker.option_chain()          # the expiry list + the nearest expiry's chain
        listed = tuple(ticker.options)         # filled by the request above: no new request
        underlying = first.underlying or getattr(ticker, "_underlying", None) or None
        if expiry.isoformat() not in listed:
            return RawChain(listed, None, None, underlying)
        chosen = first
        if not _chain_is_for(first, expiry, nearest=expiry.isoformat() == min(listed)):
            chosen = ticker.option_chain(expiry.isoformat())
            underlying = chosen.underlying or underlying
        return RawChain(listed, chosen.calls, chosen.puts, underlying)

    def _raw_bars(self, ysym: str, period: str, interval: str, with_meta: bool):
        ticker = self._ticker(ysym)
        ticker._tz = US_TZ  # US listings only: skip yfinance's time-zone lookup request
        bars = ticker.history(period=period, interval=interval, auto_adjust=False,
                              actions=False, timeout=self.budget())
        if not with_meta:
            return bars, {}
        meta = ticker.get_history_metadata()   # lazy mapping: read only what is needed
        return bars, {k: meta[k] for k in _QUOTE_META_KEYS if k in meta}

    # -- the Provider protocol --------------------------------------------------------------

    def expirations(self, symbol: str) -> list[dt.date]:
        """Listed expiries, ascending (today's while Yahoo lists it). Raises SymbolNotFound."""
        symbol, ysym = request_symbols(symbol)
        listed, statuses = self._call(symbol, f"expiries of {symbol}", self._raw_expirations,
                                      ysym)
        dates = parse_expirations(listed)
        if not dates:
            raise classify_empty(symbol, statuses)
        return dates

    def chain(self, symbol: str, expiry: dt.date) -> Chain:
        """One expiry's canonical chain (no greeks) with spot, quote, as_of, flags, div_yield.

        Raises SymbolNotFound, NoExpiry (with ``next_expiry``), RateLimited or Unavailable. A
        listed expiry without contracts gives an empty frame flagged EMPTY_CHAIN."""
        symbol, ysym = request_symbols(symbol)
        exp = expiry_date(expiry)
        raw, statuses = self._call(symbol, f"{symbol} options {exp}", self._raw_chain, ysym, exp)
        listed = parse_expirations(raw.listed)
        if not listed:
            raise classify_empty(symbol, statuses)
        if exp not in listed:
            nxt = next_listed(listed, exp)
            raise NoExpiry(f"{symbol} has no options expiring {exp:%a %d %b %Y}"
                           + (f"; the next expiry is {nxt:%a %d %b %Y}." if nxt else "."),
                           symbol=symbol, next_expiry=nxt)
        what = f"{symbol} options {exp}"
        quote = self._transform(symbol, what, quote_from_underlying, symbol, raw.underlying)
        frame = self._transform(symbol, what, chain_frame, raw.calls, raw.puts, exp)
        return Chain(symbol=symbol, expiry=exp, spot=quote.price, as_of=quote.as_of,
                     source=NAME, frame=frame, flags=chain_flags(frame),
                     div_yield=symbols.dividend_yield(symbol), quote=quote)

    def quote(self, symbol: str) -> Quote:
        """Last price, previous close, day volume and time, from one chart request (5 daily
        bars + metadata)."""
        symbol, ysym = request_symbols(symbol)
        (bars, meta), _ = self._call(symbol, f"quote of {symbol}", self._raw_bars, ysym, "5d",
                                     "1d", True)
        what = f"quote of {symbol}"
        daily = self._transform(symbol, what, history_frame, bars, "1d")
        return self._transform(symbol, what, quote_from_chart, symbol, meta, daily)

    def history(self, symbol: str, period: str, interval: str) -> pd.DataFrame:
        """OHLCV bars (unadjusted, regular session): tz-aware ET index ``time``, columns
        HISTORY_COLUMNS; daily bars at midnight ET of the session."""
        symbol, ysym = request_symbols(symbol)
        period, interval = history_request(period, interval)
        what = f"{period} of {interval} bars of {symbol}"
        (bars, _), _ = self._call(symbol, what, self._raw_bars, ysym, period, interval, False)
        return self._transform(symbol, what, history_frame, bars, interval)


# ----------------------------------------------------------------------------------------------
# Reachability
# ----------------------------------------------------------------------------------------------

def probe(timeout: float = 3.0, *, url: str = PROBE_URL) -> bool:
    """Is Yahoo Finance reachable? One HTTPS HEAD to ``url`` that curl bounds by ``timeout``
    seconds (DNS, connect, TLS and answer included). Any HTTP answer, even an error status,
    means reachable (True); any failure at all means False — this never raises."""
    try:
        session = curl_requests.Session(impersonate="chrome")
        try:
            session.head(url, timeout=max(float(timeout), MIN_REQUEST_SECONDS),
                         allow_redirects=False)
        finally:
            session.close()
    except Exception as exc:  # noqa: BLE001 — a probe answers False on any failure
        log.info("yahoo probe: %s unreachable: %s", url, type(exc).__name__)
        return False
    return True
