"""Yahoo Finance through yfinance 1.7 — the only module of the project that imports yfinance.

Every public call goes through three separately testable steps (OpenBB style):

1. **normalise the request** — :func:`yahoo_symbol`, :func:`expiry_date`, :func:`history_request`
   (pure; bad input raises ``InvalidSymbol`` / ``ValueError`` before any I/O);
2. **raw I/O** — ``YahooProvider._raw_*``: the only code that touches yfinance objects, run by
   ``YahooProvider._call`` under one time budget, with errors mapped by :func:`map_error`;
3. **transform** — :func:`chain_frame`, :func:`standard_only`, :func:`quote_from_underlying`,
   :func:`quote_from_chart`, :func:`history_frame`, :func:`chain_flags`, ... (pure functions of
   plain dicts / frames, unit-tested with literal data).

Upstream calls per provider call
--------------------------------
- ``listing`` (and ``expirations``): ONE ``/v7/finance/options/{sym}`` request without date:
  Yahoo answers with the expiry list AND the nearest expiry's chain; the fetch layer caches
  both, so the nearest chain costs no second request.
- ``chain``: ONE ``?date=`` request (its answer carries the expiry list too, so an expiry that
  is no longer listed is told apart without another request). yfinance's public
  ``option_chain(date)`` would first repeat the no-date request; see ``_raw_options``. The
  underlying's quote (spot, previous close, volume, time, pre/post-market price) comes with the
  chain: no extra call.
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

STANDARD_SIZE = "REGULAR"  # Yahoo's contractSize of a standard 100-share contract

# Flag for a listed expiry for which Yahoo sent no contracts (FLAG_TEXT lives in core.schema).
EMPTY_CHAIN = schema.EMPTY_CHAIN

# Longest period Yahoo serves per intraday interval (1m: 8 days; <1h: 60 days; 1h: 730 days).
INTRADAY_MAX_PERIOD = {"1m": "5d", "5m": "1mo", "15m": "1mo", "30m": "1mo", "1h": "1y"}

_SESSION_PRICES = (("pre-market", "preMarketPrice", "preMarketTime"),
                   ("after-hours", "postMarketPrice", "postMarketTime"))
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


contract_root = symbols.contract_root      # OCC parsing lives in core.symbols
contract_expiry = symbols.contract_expiry


def standard_only(frame: pd.DataFrame, sizes: pd.Series | None = None) -> tuple[pd.DataFrame, bool]:
    """Drop adjusted and non-standard contracts: roots with a trailing digit (``AMD1``: the
    deliverable is no longer 100 shares, :func:`core.symbols.is_adjusted_root`) and any
    ``contractSize`` other than REGULAR (``sizes`` aligned with ``frame``; missing = REGULAR).
    Their prices and OI must not be summed with standard contracts. Returns ``(frame, dropped
    any)``; the input is not modified."""
    if frame.empty:
        return frame, False
    odd = symbols.is_adjusted_root(contract_root(frame["contract"])).to_numpy(dtype=bool)
    if sizes is not None:
        known = sizes.notna().to_numpy(dtype=bool)
        odd = odd | (known & (sizes.astype(str).str.upper().to_numpy() != STANDARD_SIZE))
    if not odd.any():
        return frame, False
    return frame[~odd].reset_index(drop=True), True


def chain_frame(calls: pd.DataFrame | None, puts: pd.DataFrame | None, expiry: dt.date,
                *, iv_in_percent: bool = IV_IN_PERCENT,
                session_start: dt.datetime | None = None) -> tuple[pd.DataFrame, bool]:
    """yfinance's calls and puts frames -> ONE canonical long frame (core.schema.RAW_COLUMNS),
    and whether non-standard contracts were dropped (:func:`standard_only`).

    Renames with :data:`RENAME`, adds ``type`` (call/put) and ``expiry``, then applies
    ``core.schema.normalise_chain`` (NaN volume/OI -> 0, Yahoo's IV to ``vendor_iv``, absurd IVs
    flagged in ``iv_ok``, mid from a two-sided quote or a last trade since ``session_start``).
    Yahoo's ``impliedVolatility`` is a decimal (0.25 = 25 %), off-hours values of 5-20 included,
    so the unit is stated, never guessed from the values. AM- and PM-settled index roots are
    both kept: the fetch layer drops the AM root once it has settled. ``None`` or empty sides
    give an empty canonical frame.
    """
    parts = []
    for kind, side in (("call", calls), ("put", puts)):
        if side is None or len(side) == 0:
            continue
        parts.append(side.rename(columns=RENAME).assign(type=kind, expiry=expiry))
    if not parts:
        return schema.empty_chain_frame(), False
    raw = pd.concat(parts, ignore_index=True)
    sizes = raw["contractSize"] if "contractSize" in raw.columns else None
    raw, dropped = standard_only(raw, sizes.reset_index(drop=True) if sizes is not None else None)
    frame = schema.normalise_chain(raw, iv_in_percent=iv_in_percent, session_start=session_start)
    return frame, dropped


def quotes_time(frame: pd.DataFrame, spot_as_of: dt.datetime) -> dt.datetime | None:
    """When the chain's option quotes are from: its newest option trade (Yahoo sends no quote
    time; in a live answer the option data lag the underlying by up to ~30 min), never later
    than the spot's time. None when no contract has a trade time."""
    traded = frame["last_trade"].dropna() if len(frame) else frame.get("last_trade")
    if traded is None or not len(traded):
        return None
    newest = pd.Timestamp(traded.max()).tz_convert(clock.ET).to_pydatetime()
    return min(newest, spot_as_of)


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

    Regular session (``marketState`` REGULAR, or no newer extended-hours price): price =
    regularMarketPrice at regularMarketTime; prev_close = regularMarketPreviousClose (else price
    - regularMarketChange, else price). Otherwise the newest of preMarketPrice / postMarketPrice
    that is later than the regular price is the spot, labelled ``session`` "pre-market" /
    "after-hours", at its own time; before the open prev_close is then the last regular close
    (regularMarketPrice), after the close it stays the previous session's close.
    day_volume = regularMarketVolume (0 when absent, as for cash indexes). No positive price ->
    Unavailable.
    """
    u = underlying or {}
    price = _number(u.get("regularMarketPrice"))
    if math.isnan(price) or price <= 0:
        raise Unavailable(f"Yahoo Finance sent no price for {symbol}.", symbol=symbol)
    prev = _number(u.get("regularMarketPreviousClose"))
    if math.isnan(prev) or prev <= 0:
        change = _number(u.get("regularMarketChange"), 0.0)
        prev = price - change
    as_of = as_of_from(u.get("regularMarketTime"))
    session = "regular"
    if str(u.get("marketState", "REGULAR")).upper() != "REGULAR":
        for name, price_key, time_key in _SESSION_PRICES:
            extended, at = _number(u.get(price_key)), _number(u.get(time_key))
            if extended > 0 and at > 0 and as_of_from(at) > as_of:
                if name == "pre-market":
                    prev = price  # before the open, the change is against the last close
                price, as_of, session = extended, as_of_from(at), name
    return Quote(symbol=symbol, price=price, prev_close=prev, as_of=as_of, source=NAME,
                 day_volume=_number(u.get("regularMarketVolume"), 0.0), session=session)


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


def chain_flags(frame: pd.DataFrame, quotes_lag: float | None = None) -> frozenset:
    """core.schema.quality_flags with the market state from core.clock (open now?) and the
    start of the last session (trades before it are not this session's); EMPTY_CHAIN when the
    frame has no rows. (The fetch layer recomputes them after solving IVs.)"""
    status = clock.market_status()
    start = clock.session_open(clock.last_session())
    flags = schema.quality_flags(frame, market_open=status.is_open, session_start=start,
                                 quotes_lag=quotes_lag)
    return flags | {EMPTY_CHAIN} if frame.empty else flags


def no_bars(exc: yf_exceptions.YFPricesMissingError, statuses: Iterable[tuple[str, int]]) -> bool:
    """Was a YFPricesMissingError an ordinary "no bars in this window" answer? Yes when Yahoo
    gave no reason (an unknown symbol comes with "No data found, symbol may be delisted") and
    its last chart answer was HTTP 200."""
    codes = [code for path, code in statuses if "/finance/chart/" in path]
    return not exc.yahoo_reason and bool(codes) and codes[-1] == 200


def classify_empty(symbol: str, statuses: Iterable[tuple[str, int]]) -> DataError:
    """The error for an options answer without expiries, from the HTTP statuses seen.

    Any 429 among the options answers -> RateLimited (yfinance retries a 429 once with its
    other cookie strategy, which Yahoo may answer 401 "Invalid Crumb": still a rate limit, so
    the process-wide back-off starts). Else the last answer decides: 200 (an empty result) or 404 ->
    SymbolNotFound (no such symbol, or no listed options); 401/403 (e.g. "Invalid Crumb"),
    5xx, other codes or no answer at all -> Unavailable (Yahoo did not really answer).
    """
    codes = [code for path, code in statuses if "/finance/options/" in path]
    if 429 in codes:  # e.g. 429, then yfinance's retry with the other cookie answers 401
        return RateLimited(f"Yahoo Finance is rate-limiting requests (options of {symbol}); "
                           "retry in a moment.", symbol=symbol)
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
    """What ONE options request gave: the listed expiries (Yahoo's ``expirationDates`` of that
    answer), the expiry its contracts are for (None when it sent none), its calls / puts frames
    (yfinance's columns, contractSize included) and the underlying's quote dict."""

    listed: tuple[str, ...]
    expiry: dt.date | None
    calls: pd.DataFrame | None
    puts: pd.DataFrame | None
    underlying: dict | None


def expiry_epoch(expiry: dt.date) -> int:
    """Yahoo's key for an expiry in ``?date=``: 00:00 UTC of the expiry date, epoch seconds."""
    return int(dt.datetime.combine(expiry, dt.time(), tzinfo=dt.timezone.utc).timestamp())


def epoch_date(value: Any) -> dt.date | None:
    """Yahoo's ``expirationDate`` (epoch seconds, 00:00 UTC of the date) -> the date."""
    seconds = _number(value)
    if math.isnan(seconds):
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).date()


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

    def _raw_options(self, ysym: str, expiry: dt.date | None) -> RawChain:
        """ONE options request: ``/v7/finance/options/{sym}`` (the expiry list + the nearest
        expiry's chain) or, with ``expiry``, ``?date=`` (the list + that expiry's chain).

        yfinance 1.7's public ``option_chain(date)`` first makes the no-date request to learn
        the expiry keys; this calls the method behind it (``Ticker._download_options``, parsed
        by ``Ticker._options2df``) with the key computed here (:func:`expiry_epoch`), so each
        answer costs one request, and reads the answer's own expiry list (the ticker's
        ``_expirations``, emptied first). Tested against 1.7 (requirements pin it)."""
        ticker = self._ticker(ysym)
        ticker._expirations = {}
        options = ticker._download_options(None if expiry is None else expiry_epoch(expiry))
        listed = tuple(ticker._expirations)
        underlying = getattr(ticker, "_underlying", None) or None
        if not options:
            return RawChain(listed, None, None, None, underlying)
        return RawChain(listed, epoch_date(options.get("expirationDate")),
                        ticker._options2df(options.get("calls", [])),
                        ticker._options2df(options.get("puts", [])),
                        options.get("underlying") or underlying)

    def _raw_bars(self, ysym: str, period: str, interval: str, with_meta: bool):
        """One chart request. An answer for a known symbol with no bars in the window (a
        weekend's 1-minute bars: HTTP 200, ``meta`` but no ``timestamp``) is an empty result,
        not a missing symbol: yfinance raises YFPricesMissingError without Yahoo's reason for
        it, which is turned back into no bars here (:func:`no_bars`)."""
        ticker = self._ticker(ysym)
        ticker._tz = US_TZ  # US listings only: skip yfinance's time-zone lookup request
        try:
            bars = ticker.history(period=period, interval=interval, auto_adjust=False,
                                  actions=False, timeout=self.budget())
        except yf_exceptions.YFPricesMissingError as exc:
            exchange = getattr(_local, "exchange", None)
            if not no_bars(exc, exchange.statuses if exchange else []):
                raise
            bars = None
        if not with_meta:
            return bars, {}
        meta = ticker.get_history_metadata()   # lazy mapping: read only what is needed
        return bars, {k: meta[k] for k in _QUOTE_META_KEYS if k in meta}

    # -- the Provider protocol --------------------------------------------------------------

    def _options(self, symbol: str, expiry: dt.date | None) -> tuple[list[dt.date], RawChain]:
        """One options request (see :meth:`_raw_options`) -> (listed dates, the raw answer).
        Raises SymbolNotFound / RateLimited / Unavailable when the answer lists no expiry."""
        symbol, ysym = request_symbols(symbol)
        what = f"{symbol} options" + (f" {expiry}" if expiry else "")
        raw, statuses = self._call(symbol, what, self._raw_options, ysym, expiry)
        listed = parse_expirations(raw.listed)
        if not listed:
            raise classify_empty(symbol, statuses)
        return listed, raw

    def _chain_of(self, symbol: str, expiry: dt.date, raw: RawChain) -> Chain:
        """The canonical chain (no greeks) of ``expiry`` from one raw answer."""
        what = f"{symbol} options {expiry}"
        quote = self._transform(symbol, what, quote_from_underlying, symbol, raw.underlying)
        frame, dropped = self._transform(
            symbol, what, lambda: chain_frame(raw.calls, raw.puts, expiry,
                                              session_start=clock.session_open(
                                                  clock.last_session())))
        quotes_as_of = quotes_time(frame, quote.as_of)
        lag = None if quotes_as_of is None else (quote.as_of - quotes_as_of).total_seconds()
        flags = chain_flags(frame, lag) | ({schema.NON_STANDARD} if dropped else set())
        return Chain(symbol=symbol, expiry=expiry, spot=quote.price, as_of=quote.as_of,
                     source=NAME, frame=frame, flags=frozenset(flags),
                     div_yield=symbols.dividend_yield(symbol), quote=quote,
                     quotes_as_of=quotes_as_of)

    def expirations(self, symbol: str) -> list[dt.date]:
        """Listed expiries, ascending (today's while Yahoo lists it). Raises SymbolNotFound.
        One request; :meth:`listing` returns the nearest chain of the same answer too."""
        return self.listing(symbol)[0]

    def listing(self, symbol: str) -> tuple[list[dt.date], Chain | None]:
        """ONE no-date options request -> (listed expiries ascending, the nearest expiry's
        chain that came with them, or None when Yahoo sent none). The fetch layer caches both,
        so a cold view of the nearest expiry costs one request."""
        listed, raw = self._options(symbol, None)
        symbol = symbols.validate(symbol)
        if raw.expiry is None or raw.expiry not in listed:
            return listed, None
        return listed, self._chain_of(symbol, raw.expiry, raw)

    def chain(self, symbol: str, expiry: dt.date) -> Chain:
        """One expiry's canonical chain (no greeks) with spot, quote, as_of, quotes_as_of,
        flags, div_yield: ONE ``?date=`` request.

        Raises SymbolNotFound, NoExpiry (with ``next_expiry``), RateLimited or Unavailable. A
        listed expiry without contracts gives an empty frame flagged EMPTY_CHAIN."""
        exp = expiry_date(expiry)
        listed, raw = self._options(symbol, exp)
        symbol = symbols.validate(symbol)
        if exp not in listed:
            nxt = next_listed(listed, exp)
            raise NoExpiry(f"{symbol} has no options expiring {exp:%a %d %b %Y}"
                           + (f"; the next expiry is {nxt:%a %d %b %Y}." if nxt else "."),
                           symbol=symbol, next_expiry=nxt)
        if raw.expiry not in (None, exp):
            raise Unavailable(f"Yahoo Finance answered {symbol} options {exp} with another "
                              "expiry's contracts.", symbol=symbol)
        return self._chain_of(symbol, exp, raw)

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
