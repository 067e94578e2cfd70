"""The deterministic simulated market: the embedded default when Yahoo is unreachable, and the
fixture every test runs on.

Everything is a pure function of ``(symbol, the current minute)`` (``core.clock.now()``): the
same minute gives the same frames on every reload, the next minute of a session moves the
market, and outside the session the market is frozen at the last close.

Random numbers
--------------
No random generator object and no global state: every draw is a counter-based hash
(splitmix64) of integer keys — the symbol's seed (``zlib.crc32`` of its name, never Python's
``hash()``), a stream id, a session index, a minute, a strike — mapped to a uniform in (0, 1)
and, through the normal quantile, to a standard normal. Any slice of the market can be drawn
vectorised and out of order, and it always draws the same numbers.

The underlying's path
---------------------
Prices are log-returns on the NYSE session grid (``exchange_calendars`` via ``core.clock``).

- Shocks follow a one-factor model: ``z = rho * z_market + sqrt(1 - rho^2) * z_family`` where
  the market factor is the S&P 500 family. A *family* shares every draw: SPY and ^SPX, QQQ and
  ^NDX, IWM and ^RUT move together exactly (SPY = ^SPX / 10.02 at every minute), stocks load
  ``rho`` = 0.55 on the market.
- Daily: ``log O_i = log C_{i-1} + gap_i`` (overnight: 20 % of the daily variance plus a rare
  jump), ``eps_i = gap_i + intraday_i``; the deviation ``x_i = phi x_{i-1} + eps_i`` is a slow
  AR(1) (half-life ~1.5 years, so prices stay in a believable band for years) and
  ``log C_i = log P0 + mu (i - a) + x_i - x_a``, with ``P0`` the universe price at the anchor
  session ``a`` (:data:`ANCHOR`). Realised vol is 85 % of the universe IV; ``mu`` 6-8 %/yr.
- Intraday: each session's minutes are a Brownian bridge from that day's open to its close
  (U-shaped variance, keyed by (family, session)), so minute bars, daily bars, quotes and the
  previous close all agree exactly. Minute ``m`` of a session is the price at open + m minutes.
- Share volume: ``avg_volume`` x a daily factor (larger on big-move days), spread over the
  session by a U-shaped cumulative curve (:func:`_volume_curve`).

Options
-------
BSM (:func:`core.analytics.greeks.price`) with the universe dividend yield and
``settings().risk_free``, on a smile ``sigma(x) = sigma_atm(T) * (1 - s*x' + c*x^2/(1+x^2/8))``
in standardised moneyness ``x = ln(K/F) / (sigma_atm sqrt max(T, 1 day))`` (put skew ``s``,
curvature ``c``; ``x' = x`` below the forward, saturating above), a term structure
(short-dated IV higher for high-vol names, lower for indexes), an IV level that rises when the
underlying falls, and 1 % per-strike noise. Mids are theoretical; bid/ask straddle them with
spreads that widen OTM and near expiry on the exchange's tick grid. Open interest clusters at
round strikes and OTM on both sides; volume follows the underlying's intraday curve, heaviest
on 0DTE near the money; a few deterministic "whale" prints per (symbol, session) have volume
3.5-20x open interest and >= $150k premium.

What a vendor delivers
----------------------
The chain arrives the way Yahoo's does (the recorded answers in the shared fixtures are the
yardstick), so the app's tests see what real data does to it:

- **Delayed option quotes.** During the regular session bid/ask/last, volume and last trades are
  those of the *quote moment*, :func:`quote_delay` (15-30 min, SPY 30) before now and never
  before the open; they are priced at the spot and T of that moment. ``Chain.spot``/``as_of``/
  ``quote`` stay live; ``Chain.quotes_as_of`` is the quote moment; no last trade is later.
- **A vendor's ``iv``** (:func:`_reported_iv`): not the vol the prices were made with — a few
  vol points of per-contract error, a T two days too long (a 0DTE's IV is a fraction of the
  price-consistent one, ~1/7 in its last hour), 0.00001 on some deep-ITM contracts, the IV of
  one tick (> 500 % late on a 0DTE) on far-OTM stubs quoted 0 x tick. The smile is in the
  prices: an IV solved from a mid at the quote moment's spot and T recovers it.
- **Closed market.** After hours, weekends and holidays keep the last session's closing quotes
  (bid/ask at the close), volumes and open interest. Pre-market on a session day (from
  midnight to the open): bid/ask 0, last prices and volumes still the previous session's, and
  open interest 0 (OCC has not published it) but for ~1 % stray values of 1-40.
- Stale last trades on illiquid strikes.

Public surface: :class:`SimulatedProvider` (the Provider protocol, plus ``short_volume``),
:func:`short_volume` (a simulated FINRA Reg SHO record), :func:`whale_prints` (the large prints
planted on a session, to check the flows page against), :func:`quote_delay` (how old a
symbol's option quotes are in the session) and :func:`cache_info`.

Memory: only small bounded ``functools.lru_cache`` s (see :func:`cache_info`), about 5 MB at
worst (64 symbols' daily paths are 3.9 MB of it); nothing grows with time or with calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import zlib

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtri

from core import clock, symbols
from core.analytics import greeks
from core.config import settings
from core.errors import DataError, NoExpiry, SymbolNotFound
from core.providers.base import HISTORY_COLUMNS, INTERVALS, PERIODS
from core.schema import FALLBACK, Chain, Quote, normalise_chain, quality_flags

NAME = "simulated"
ANCHOR = dt.date(2026, 11, 2)  # the session where each symbol's close equals its universe price
_FIRST, _LAST = dt.date(2018, 1, 2), dt.date(2032, 12, 31)  # the clock's calendar range
_NS_MIN = 60_000_000_000
_NS_PER_YEAR = clock.SECONDS_PER_YEAR * 1e9
_MAX_MIN = 390  # minutes in a regular session

# Families share every random draw (an ETF and its index move as one); the market factor is SPX.
_FAMILY = {"SPY": "SPX", "^SPX": "SPX", "QQQ": "NDX", "^NDX": "NDX", "IWM": "RUT", "^RUT": "RUT",
           "DIA": "DJI"}
_FAMILY_RHO = {"SPX": 1.0, "NDX": 0.9, "RUT": 0.8, "DJI": 0.92}
_STOCK_RHO = 0.55
# Daily option volume (contracts) of the cash indexes, which have no share volume to scale from.
_INDEX_OPTION_VOLUME = {"^SPX": 3_200_000, "^NDX": 120_000, "^RUT": 150_000}
_ROOTS = {"^SPX": ("SPX", "SPXW"), "^NDX": ("NDX", "NDXP"), "^RUT": ("RUT", "RUTW")}
_STEPS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)

# Which intraday intervals go how far back (Yahoo's own limits: 1m ~7 days, <1h ~60 days).
INTRADAY_MAX_PERIOD = {"1m": "5d", "5m": "1mo", "15m": "1mo", "30m": "1mo", "1h": "2y", "1d": "2y"}
_INTERVAL_MIN = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}
_PERIOD_SESSIONS = {"1d": 1, "2d": 2, "5d": 5}
_PERIOD_MONTHS = {"1mo": 1, "3mo": 3, "6mo": 6, "1y": 12, "2y": 24}

# Hash stream ids (one per kind of draw; never reuse one for two purposes).
(_S_GAP, _S_DAY, _S_JUMP, _S_JSIZE, _S_MIN, _S_HI, _S_LO, _S_VOLN, _S_DVOL, _S_IVLVL, _S_IVK,
 _S_OIP, _S_OID, _S_VOLC, _S_PUTSH, _S_LASTN, _S_LTSEC, _S_STALE, _S_STALEM, _S_ITM, _S_WHALE,
 _S_SHORT, _S_OPTDAY, _S_VENDOR, _S_OISTRAY, _S_OISTRAYN) = range(1, 27)


# --- counter-based random numbers -----------------------------------------------------------

def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrap-around arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash(*keys) -> np.ndarray:
    """A uint64 hash of integer keys; the keys broadcast together."""
    with np.errstate(over="ignore"):
        h = np.atleast_1d(np.asarray(0x243F6A8885A308D3, dtype=np.uint64))
        for k in keys:
            k = np.atleast_1d(np.asarray(k))
            if k.dtype != np.uint64:  # a previous hash passes through; ints are cast
                k = k.astype(np.int64).astype(np.uint64)
            h = _mix(h ^ (k + np.uint64(0x9E3779B97F4A7C15)))
    return h


def _uniform(*keys) -> np.ndarray:
    """Uniforms in (0, 1), one per broadcast key."""
    return ((_hash(*keys) >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)


def _normal(*keys) -> np.ndarray:
    """Standard normals, one per broadcast key."""
    return ndtri(_uniform(*keys))


def _draw(h: np.ndarray, stream: int) -> np.ndarray:
    """Uniforms from precomputed hashes ``h`` (one mix per draw: the chain's hot path)."""
    with np.errstate(over="ignore"):
        x = _mix(h + np.uint64(stream) * np.uint64(0xD1B54A32D192ED03))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)


def _seed(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


# --- the session table -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Table:
    days: np.ndarray      # datetime64[D], every NYSE session in the calendar range
    open_ns: np.ndarray   # int64 UTC ns of the regular open
    close_ns: np.ndarray  # int64 UTC ns of the regular close (13:00 ET on early-close days)
    minutes: np.ndarray   # int64 minutes in the session (390, or 210 on early-close days)


@functools.lru_cache(maxsize=1)
def _table() -> _Table:
    """Every session of the calendar once, as arrays (built once per process, ~0.1 MB)."""
    sched = clock.schedule().loc[str(_FIRST):str(_LAST)]
    days = sched.index.values.astype("datetime64[D]")
    open_ns = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8.copy()
    close_ns = pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8.copy()
    for arr in (days, open_ns, close_ns):
        arr.flags.writeable = False
    minutes = (close_ns - open_ns) // _NS_MIN
    minutes.flags.writeable = False
    return _Table(days, open_ns, close_ns, minutes)


def _index(day: dt.date) -> int:
    """Index of the last session on or before ``day`` (-1 before the calendar starts)."""
    return int(np.searchsorted(_table().days, np.datetime64(day, "D"), side="right")) - 1


def _session_index(day: dt.date) -> int | None:
    """Index of session ``day``, None when ``day`` is not a session."""
    i = _index(day)
    if i >= 0 and _table().days[i] == np.datetime64(day, "D"):
        return i
    return None


def _day_of(i: int) -> dt.date:
    return _table().days[i].astype(object)


def _et(ns: int) -> dt.datetime:
    return pd.Timestamp(int(ns), tz="UTC").tz_convert(clock.ET).to_pydatetime()


@dataclasses.dataclass(frozen=True)
class _Moment:
    """Where the simulated market stands at the current minute."""

    now: dt.datetime   # the current minute (ET)
    now_ns: int
    session: int       # index of the session whose prices are current
    minute: int        # minutes elapsed in that session (its length once it has closed)
    is_open: bool
    pre_market: bool   # a session day before the open: prices are the previous session's
    as_of: dt.datetime  # the current minute, or the close of ``session`` when closed
    as_of_ns: int


def _moment() -> _Moment:
    now = clock.now().replace(second=0, microsecond=0)
    now_ns = pd.Timestamp(now).value
    tab = _table()
    i = _index(now.date())
    if i < 1:
        raise DataError(f"The simulated market covers {_FIRST} to {_LAST}; it is {now:%Y-%m-%d}.")
    pre = False
    if _day_of(i) == now.date() and now_ns < tab.open_ns[i]:
        i, pre = i - 1, True
    is_open = bool(tab.open_ns[i] <= now_ns < tab.close_ns[i])
    if is_open:
        minute = int((now_ns - tab.open_ns[i]) // _NS_MIN)
        return _Moment(now, now_ns, i, minute, True, False, now, now_ns)
    close_ns = int(tab.close_ns[i])
    return _Moment(now, now_ns, i, int(tab.minutes[i]), False, pre, _et(close_ns), close_ns)


def quote_delay(symbol: str) -> dt.timedelta:
    """How far ``symbol``'s option quotes lag its live price during the regular session:
    ``15 + crc32(symbol) % 16`` minutes (15-30, SPY 30, like Yahoo's ~30). Pure (no clock)."""
    return dt.timedelta(minutes=_delay_minutes(_require(symbol)))


def _delay_minutes(p: _Params) -> int:
    return 15 + p.seed % 16


def _quote_moment(p: _Params, mo: _Moment) -> _Moment:
    """The moment the option quotes of ``p``'s chains are from (``mo`` with ``minute`` and
    ``as_of`` moved back).

    In the session: :func:`quote_delay` earlier, never before the open (the first minutes of a
    session show the opening quotes). Closed (after hours, weekend, holiday, pre-market): the
    last session's close, ``mo`` itself — its closing quotes stand until the next open."""
    if not mo.is_open:
        return mo
    minute = max(mo.minute - _delay_minutes(p), 0)
    ns = int(_table().open_ns[mo.session]) + minute * _NS_MIN
    return dataclasses.replace(mo, minute=minute, as_of=_et(ns), as_of_ns=ns)


# --- symbol parameters -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Params:
    symbol: str
    kind: str
    price: float
    vol: float
    q: float
    style: str
    avg_volume: float
    seed: int
    family_seed: int
    market_seed: int
    rho: float
    index_like: bool     # an index family (index skew, index drift)
    sigma_d: float       # daily realised vol (decimal)
    mu_d: float          # daily drift (log)
    phi: float           # AR(1) coefficient of the log deviation
    jump_p: float
    jump_sd: float
    option_volume: float  # typical contracts per day, all expiries
    liquidity: float      # spread multiplier (lower = tighter)


@functools.lru_cache(maxsize=128)
def _params(symbol: str) -> _Params:
    item = symbols.listing(symbol)
    if item is None:
        raise SymbolNotFound(f"{symbol} is not in the simulated market's universe.", symbol=symbol)
    family = _FAMILY.get(symbol, symbol)
    index_like = symbol in _FAMILY
    rho = _FAMILY_RHO.get(family, _STOCK_RHO)
    sigma_d = 0.85 * item.vol / math.sqrt(252.0)
    if symbol in _INDEX_OPTION_VOLUME:
        option_volume = float(_INDEX_OPTION_VOLUME[symbol])
    else:
        option_volume = item.avg_volume * (0.12 if item.kind == "etf" else 0.03)
    option_volume = max(option_volume, 5_000.0)
    liquidity = float(np.clip(2.0 - 0.55 * math.log10(option_volume / 1e4), 0.3, 2.0))
    return _Params(
        symbol=symbol, kind=item.kind, price=item.price, vol=item.vol, q=item.div_yield,
        style=item.expiries, avg_volume=item.avg_volume, seed=_seed(symbol),
        family_seed=_seed("family:" + family), market_seed=_seed("family:SPX"), rho=rho,
        index_like=index_like, sigma_d=sigma_d, mu_d=(0.06 if index_like else 0.08) / 252.0,
        phi=0.998, jump_p=0.01 if index_like else 0.02,
        jump_sd=(2.5 if index_like else 3.0) * sigma_d, option_volume=option_volume,
        liquidity=liquidity)


def _require(symbol: str) -> _Params:
    """Normalise ``symbol`` (InvalidSymbol on bad shape) and return its parameters."""
    return _params(symbols.validate(symbol))


def _shock(p: _Params, stream: int, *keys) -> np.ndarray:
    """Factor-model normals: rho * market + sqrt(1 - rho^2) * family (same keys for both)."""
    own = _normal(p.family_seed, stream, *keys)
    if p.rho >= 1.0:
        return own
    return p.rho * _normal(p.market_seed, stream, *keys) + math.sqrt(1 - p.rho**2) * own


# --- daily path -------------------------------------------------------------------------------

_ON_SHARE = 0.2  # overnight share of the daily variance


@functools.lru_cache(maxsize=64)
def _daily(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(open, close) of every session of the calendar (read-only float64 arrays, 60 kB)."""
    p = _params(symbol)
    tab = _table()
    idx = np.arange(len(tab.days))
    a = _index(ANCHOR)
    gap = (p.sigma_d * math.sqrt(_ON_SHARE) * _shock(p, _S_GAP, idx)
           + np.where(_uniform(p.family_seed, _S_JUMP, idx) < p.jump_p,
                      p.jump_sd * _normal(p.family_seed, _S_JSIZE, idx), 0.0))
    eps = gap + p.sigma_d * math.sqrt(1 - _ON_SHARE) * _shock(p, _S_DAY, idx)
    x = lfilter([1.0], [1.0, -p.phi], eps)
    log_close = math.log(p.price) + p.mu_d * (idx - a) + x - x[a]
    log_open = np.empty_like(log_close)
    log_open[1:] = log_close[:-1] + gap[1:]
    log_open[0] = log_close[0] - eps[0] + gap[0]
    opens, closes = np.exp(log_open), np.exp(log_close)
    opens.flags.writeable = closes.flags.writeable = False
    return opens, closes


def _day_volume(p: _Params, idx: np.ndarray) -> np.ndarray:
    """Shares traded in sessions ``idx`` (float): avg x lognormal x (bigger on big moves)."""
    if p.avg_volume <= 0:
        return np.zeros(len(idx))
    _, closes = _daily(p.symbol)
    move = np.log(closes[idx] / closes[np.maximum(idx - 1, 0)]) / p.sigma_d
    factor = np.exp(0.25 * _normal(p.seed, _S_DVOL, idx) - 0.06) \
        * (0.75 + 0.25 * np.minimum(move**2, 9))
    return np.floor(p.avg_volume * factor)


def _volume_curve(u: np.ndarray) -> np.ndarray:
    """Intraday volume intensity at session fraction ``u`` (U-shaped: heavy open and close)."""
    return 1.0 + 2.2 * np.exp(-u / 0.06) + 1.6 * np.exp(-(1.0 - u) / 0.05)


@dataclasses.dataclass(frozen=True)
class _Paths:
    """Minute paths of sessions ``idx`` (rows), padded to 390 columns.

    ``points[:, j]`` is the price at open + j minutes (j = 0..N, then held at the close);
    minute bar j spans points j..j+1 with ``high``/``low``; ``cum[:, j]`` the fraction of the
    day's share volume traded by point j; ``total`` the day's share volume.
    """

    idx: np.ndarray
    n: np.ndarray
    points: np.ndarray
    high: np.ndarray
    low: np.ndarray
    cum: np.ndarray
    total: np.ndarray


@functools.lru_cache(maxsize=4)
def _profile(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-minute weights of an ``n``-minute session (padded to 390 with zeros): variance share
    (U-shaped: busiest after the open, a little before the close), its cumulative time ``t``
    (391 points, 0..1) and the volume intensity of :func:`_volume_curve`."""
    j = np.arange(_MAX_MIN)
    u = (j + 0.5) / n
    valid = j < n
    var_w = np.where(valid, 1.0 + 1.2 * np.exp(-u / 0.05) + 0.35 * np.exp(-(1.0 - u) / 0.08), 0.0)
    var_w /= var_w.sum()
    t = np.concatenate([[0.0], np.cumsum(var_w)])
    lam = np.where(valid, _volume_curve(u), 0.0)
    for arr in (var_w, t, lam):
        arr.flags.writeable = False
    return var_w, t, lam


def _paths(p: _Params, idx: np.ndarray) -> _Paths:
    """Brownian bridges from each session's open to its close, vectorised over sessions.

    ``log p_j = log O + t_j (log C - log O) + sigma_in (W_j - t_j W_N)`` with ``W`` the
    cumulative factor-model shocks scaled by the U-shaped variance weights (``t_j`` their
    cumulative share), so the path starts at the open and ends exactly at the close."""
    tab = _table()
    opens, closes = _daily(p.symbol)
    idx = np.asarray(idx, dtype=np.int64)
    n = tab.minutes[idx]
    shapes = {int(m): _profile(int(m)) for m in np.unique(n)}
    var_w = np.stack([shapes[int(m)][0] for m in n]) if len(shapes) > 1 else \
        np.broadcast_to(shapes[int(n[0])][0], (len(idx), _MAX_MIN))
    t = np.stack([shapes[int(m)][1] for m in n]) if len(shapes) > 1 else \
        np.broadcast_to(shapes[int(n[0])][1], (len(idx), _MAX_MIN + 1))
    lam = np.stack([shapes[int(m)][2] for m in n]) if len(shapes) > 1 else \
        np.broadcast_to(shapes[int(n[0])][2], (len(idx), _MAX_MIN))
    j = np.arange(_MAX_MIN)[None, :]
    zero = np.zeros((len(idx), 1))
    root_w = np.sqrt(var_w)
    steps = _shock(p, _S_MIN, idx[:, None], j) * root_w
    w = np.concatenate([zero, np.cumsum(steps, axis=1)], axis=1)
    lo, lc = np.log(opens[idx])[:, None], np.log(closes[idx])[:, None]
    sigma_in = p.sigma_d * math.sqrt(1 - _ON_SHARE)
    points = np.exp(lo + t * (lc - lo) + sigma_in * (w - t * w[:, -1:]))
    points[:, 0] = opens[idx]
    end = np.arange(_MAX_MIN + 1)[None, :] >= n[:, None]
    points = np.where(end, closes[idx][:, None], points)  # exactly the close from point N on
    # intra-minute excursions beyond the bar's open/close: exponential, ~0.25 minute-sd
    wiggle = 0.25 * sigma_in * root_w
    a, b = points[:, :-1], points[:, 1:]
    up = -np.log(_uniform(p.family_seed, _S_HI, idx[:, None], j))
    down = -np.log(_uniform(p.family_seed, _S_LO, idx[:, None], j))
    high = np.maximum(a, b) * np.exp(wiggle * up)
    low = np.minimum(a, b) * np.exp(-wiggle * down)
    noisy = lam * (0.5 + _uniform(p.seed, _S_VOLN, idx[:, None], j))
    cum = np.concatenate([zero, np.cumsum(noisy, axis=1)], axis=1)
    cum /= cum[:, -1:]
    return _Paths(idx, n, points, high, low, cum, _day_volume(p, idx))


@dataclasses.dataclass(frozen=True)
class _Day:
    points: np.ndarray  # N + 1 prices (open .. close)
    cum: np.ndarray     # N + 1 cumulative volume fractions (0 .. 1)
    total: float        # the session's share volume
    n: int


@functools.lru_cache(maxsize=128)
def _day(symbol: str, i: int) -> _Day:
    """One session's minute path (read-only arrays, ~6 kB): the hot path of quotes and chains."""
    paths = _paths(_params(symbol), np.array([i]))
    n = int(paths.n[0])
    points, cum = paths.points[0, : n + 1].copy(), paths.cum[0, : n + 1].copy()
    points.flags.writeable = cum.flags.writeable = False
    return _Day(points, cum, float(paths.total[0]), n)


# --- expiries ---------------------------------------------------------------------------------

def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def _on_session(day: dt.date) -> dt.date | None:
    """``day`` if it is a session, else the previous session (None outside the calendar)."""
    if day > _LAST:
        return None
    i = _index(day)
    return _day_of(i) if i >= 0 else None


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    m = month - 1 + k
    return year + m // 12, m % 12 + 1


@functools.lru_cache(maxsize=256)
def _is_monthly(expiry: dt.date) -> bool:
    """True for the standard monthly expiry (3rd Friday, or the session before it)."""
    return _on_session(_third_friday(expiry.year, expiry.month)) == expiry


@functools.lru_cache(maxsize=32)
def _listing(style: str, day: dt.date, include_day: bool) -> tuple[dt.date, ...]:
    """Listed expiries as of ``day``: dailies (3 weeks, daily names), Friday weeklies (8 weeks,
    daily and weekly names), 3rd-Friday monthlies (12 months), Mar/Jun/Sep/Dec quarterlies
    (2 years) and January LEAPS (next 2 years). A date that is not a session moves to the
    previous session; dates before ``day`` (or on it unless ``include_day``) are dropped."""
    cands: set[dt.date] = set()
    if style == "daily":
        cands.update(day + dt.timedelta(days=k) for k in range(22))
    if style in ("daily", "weekly"):
        friday = day + dt.timedelta(days=(4 - day.weekday()) % 7)
        cands.update(friday + dt.timedelta(weeks=k) for k in range(9))
    for k in range(25):
        y, m = _add_months(day.year, day.month, k)
        if k <= 12 or m in (3, 6, 9, 12):
            cands.add(_third_friday(y, m))
    cands.update(leap for leap in (_third_friday(day.year + k, 1) for k in (1, 2, 3))
                 if (leap - day).days <= 800)
    out = set()
    for cand in cands:
        moved = _on_session(cand)
        if moved is not None and (moved > day or (include_day and moved == day)):
            out.add(moved)
    return tuple(sorted(out))


def _listed_now(p: _Params, mo: _Moment) -> tuple[dt.date, ...]:
    today = mo.now.date()
    i = _session_index(today)
    trading_today = i is not None and mo.now_ns < _table().close_ns[i]
    return _listing(p.style, today, trading_today)


# --- strikes ---------------------------------------------------------------------------------

def _base_step(kind: str, price: float) -> float:
    """The exchange's finest strike step near the money for this price level."""
    if kind == "etf":
        return 1.0
    if kind == "index":
        return 5.0 if price < 10_000 else 25.0
    for limit, step in ((25, 0.5), (150, 1.0), (500, 2.5), (1000, 5.0)):
        if price < limit:
            return step
    return 10.0


def _multiple(a: float, b: float) -> bool:
    r = a / b
    return abs(r - round(r)) < 1e-9


@functools.lru_cache(maxsize=256)
def _grid(kind: str, ref: float, sd_in: float, sd_out: float) -> tuple[np.ndarray, float]:
    """Strikes (read-only array) and the fine step: a fine grid within ±max(5 %, 1.5 sd_in)
    (<= 150 strikes) and a coarse grid out to ±max(8 %, 4.5 sd_out) (<= 100 strikes), in log
    terms, where ``sd = sigma sqrt(T)``; so a chain has ~60-250 strikes."""
    a_in = max(0.05, 1.5 * sd_in)
    a_out = min(max(0.08, 4.5 * sd_out), 1.6)
    fine = _base_step(kind, ref)
    lo_in, hi_in = ref * math.exp(-a_in), ref * math.exp(a_in)
    lo_out, hi_out = ref * math.exp(-a_out), ref * math.exp(a_out)
    ladder = [s for s in _STEPS if s >= fine and _multiple(s, fine)]
    for fine in ladder:
        if (hi_in - lo_in) / fine <= 150:
            break
    coarse = next((s for s in _STEPS if s >= fine and _multiple(s, fine)
                   and (hi_out - lo_out) / s <= 100), _STEPS[-1])
    parts = []
    for step, lo, hi in ((fine, lo_in, hi_in), (coarse, lo_out, hi_out)):
        k = np.arange(max(math.ceil(lo / step), 1), math.floor(hi / step) + 1)
        parts.append(np.round(k * step * 1000).astype(np.int64))
    strikes = np.union1d(parts[0], parts[1]) / 1000.0
    strikes.flags.writeable = False
    return strikes, fine


def _round_levels(fine: float, kind: str) -> tuple[float, float, float]:
    """Strikes traders crowd into: multiples of these three, increasingly."""
    if fine <= 0.5:
        return 1.0, 5.0, 10.0
    if fine <= 2.5:
        return 5.0, 10.0, 50.0
    if fine <= 5.0:
        return (25.0, 50.0, 100.0) if kind == "index" else (10.0, 50.0, 100.0)
    if fine <= 10.0:
        return 50.0, 100.0, 500.0
    return 100.0, 500.0, 1000.0


def _roundness(strikes: np.ndarray, fine: float, kind: str) -> np.ndarray:
    """0 for an ordinary strike, 1/2/3 for a multiple of the first/second/third round level."""
    out = np.zeros(len(strikes))
    for level, r in enumerate(_round_levels(fine, kind), start=1):
        ratio = strikes / r
        out = np.where(np.abs(ratio - np.round(ratio)) < 1e-9, level, out)
    return out


# --- the smile ---------------------------------------------------------------------------------

def _iv_level(p: _Params, i: int, spot: float) -> float:
    """The ATM vol level of session ``i``: the universe vol, a daily wobble, and higher after a
    fall (spot vs the close five sessions earlier)."""
    _, closes = _daily(p.symbol)
    fall = math.log(spot / closes[max(i - 5, 0)])
    beta = 1.5 if p.index_like else 0.8
    wobble = 0.07 * float(_normal(p.family_seed if p.index_like else p.seed, _S_IVLVL, i)[0])
    return p.vol * float(np.clip(math.exp(wobble - beta * fall), 0.7, 1.6))


_SMILE_MIN_T = 1.0 / 365.0


def _smile(p: _Params, level: float, spot: float, strikes: np.ndarray, t: float, r: float,
           noise: np.ndarray) -> np.ndarray:
    """Smile IV (decimal) per strike at time to expiry ``t`` (years).

    ``sigma_atm = level * (1 + a * exp(-t * 365 / 20))`` with ``a = clip(0.6 (vol - 0.25),
    -0.08, 0.25)`` (short-dated IV higher for high-vol names, lower for calm indexes);
    ``x = ln(K/F) / (sigma_atm sqrt(max(t, 1 day)))`` clipped to ±12 (the floor keeps a 0DTE
    smile from turning vertical); ``sigma = sigma_atm * max(1 - s x' + c x^2 / (1 + x^2/8), 0.3)
    * (1 + 0.012 noise)`` with ``x' = x`` below the forward and ``1.2 tanh(x / 1.2)`` above
    (call skew flattens); ``s, c`` = 0.30, 0.10 for indexes, ~0.15, 0.15 for stocks.
    """
    slope = float(np.clip((p.vol - 0.25) * 0.6, -0.08, 0.25))
    atm = level * (1.0 + slope * math.exp(-t * 365.0 / 20.0))
    fwd = spot * math.exp((r - p.q) * t)
    t_x = max(t, _SMILE_MIN_T)
    x = np.clip(np.log(strikes / fwd) / (atm * math.sqrt(t_x)), -12.0, 12.0)
    if p.index_like:
        skew, curve = 0.30, 0.10
    else:
        skew, curve = float(np.clip(0.15 - 0.1 * (p.vol - 0.3), 0.03, 0.18)), 0.15
    x_skew = np.where(x < 0, x, 1.2 * np.tanh(x / 1.2))
    shape = 1.0 - skew * x_skew + curve * x * x / (1.0 + x * x / 8.0)
    return atm * np.maximum(shape, 0.3) * (1.0 + 0.012 * noise)


def _tick(p: _Params, price: np.ndarray) -> np.ndarray:
    """Minimum price increment: ETFs 0.01; indexes 0.05 below $3 else 0.10; stocks 0.01
    below $3 else 0.05."""
    if p.kind == "etf":
        return np.full(price.shape, 0.01)
    if p.kind == "index":
        return np.where(price < 3.0, 0.05, 0.10)
    return np.where(price < 3.0, 0.01, 0.05)


def _implied_from(price: np.ndarray, spot, strikes, t, r, q, is_call, lo: np.ndarray
                  ) -> np.ndarray:
    """The vol reproducing ``price`` for the few stub rows (whose smile vol ``lo`` prices them
    below it): BSM on 16 log-spaced vols from ``lo`` to 3000 % in one vectorised call, then
    log-linear interpolation of log price (within ~3 % of the exact vol: these are display
    values of contracts nobody prices off); 30 (3000 %) when even that is too cheap."""
    frac = np.linspace(0.0, 1.0, 16)[None, :]
    a = np.log(lo)[:, None]
    grid = a + (math.log(30.0) - a) * frac
    values = np.nan_to_num(
        greeks.price(spot, strikes[:, None], t, r, q, np.exp(grid), is_call[:, None]), nan=0.0)
    k = np.clip((values < price[:, None]).sum(axis=1), 1, 15)
    rows = np.arange(len(price))
    g0, g1 = grid[rows, k - 1], grid[rows, k]
    with np.errstate(all="ignore"):
        p0, p1 = np.log(values[rows, k - 1]), np.log(values[rows, k])
        w = (np.log(price) - p0) / (p1 - p0)
    w = np.clip(np.nan_to_num(w, nan=1.0, posinf=1.0, neginf=1.0), 0.0, 1.0)
    return np.exp(g0 + w * (g1 - g0))


# --- whales -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Whale:
    rank: int         # which of the session's first four listed expiries
    is_call: bool
    offset: float     # OTM distance in sigma*sqrt(T) units (capped at 4.5 % of spot)
    ratio: float      # volume / open interest
    premium: float    # dollars
    minute: int       # minute of the session it prints
    buyer: bool       # printed at the ask (else at the bid)


@functools.lru_cache(maxsize=128)
def _whales(symbol: str, i: int) -> tuple[_Whale, ...]:
    """The large prints of ``symbol`` in session ``i`` (3-6 on liquid names, else 2-3): premium
    log-uniform in $150k-2.5M ($400k-8M on cash indexes, $150k-600k on thinner names), volume /
    OI 3.5-20, 55 % calls, 70 % at the ask, on one of the first four expiries (nearer ones
    likelier). The first prints within the first hour so a morning flows scan finds one."""
    p = _params(symbol)
    n_min = int(_table().minutes[i])
    liquid = p.option_volume >= 200_000
    u = _uniform(p.seed, _S_WHALE, i, np.arange(64)).reshape(8, 8)
    count = (3 + int(u[0, 0] * 4)) if liquid else (2 + int(u[0, 0] * 2))
    if p.kind == "index":      # index options are big-ticket: bigger prints
        lo, hi = math.log(400e3), math.log(8e6)
    elif liquid:
        lo, hi = math.log(150e3), math.log(2.5e6)
    else:
        lo, hi = math.log(150e3), math.log(6e5)
    out = []
    for k in range(count):
        row = u[k + 1] if k < 7 else u[0]
        first = k == 0
        minute = 5 + int(row[5] * 55) if first else 10 + int(row[5] * 0.85 * (n_min - 10))
        out.append(_Whale(rank=int(row[0] ** 2 * 4), is_call=bool(row[1] < 0.55),
                          offset=0.15 + 0.85 * float(row[2]), ratio=3.5 + 16.5 * float(row[3]),
                          premium=float(math.exp(lo + (hi - lo) * row[4])), minute=minute,
                          buyer=bool(row[6] < 0.7)))
    return tuple(out)


# --- the provider -----------------------------------------------------------------------------

class SimulatedProvider:
    """The simulated market behind the :class:`~core.providers.base.Provider` protocol.

    ``fallback=True`` marks every chain with :data:`core.schema.FALLBACK` (used when the auto
    provider could not reach Yahoo).
    """

    name = NAME
    remote = False  # computed locally: no upstream to be polite to, so no rate limit

    def __init__(self, fallback: bool = False):
        self.fallback = fallback

    def __repr__(self) -> str:
        return f"SimulatedProvider(fallback={self.fallback})"

    # -- expirations --
    def expirations(self, symbol: str) -> list[dt.date]:
        """Listed expiries, ascending; today's while today's session has not closed."""
        p = _require(symbol)
        return list(_listed_now(p, _moment()))

    # -- quote --
    def quote(self, symbol: str) -> Quote:
        """Price at the current minute (the last close when closed), the previous session's
        close, and shares traded today (0 pre-market, the whole day after the close)."""
        p = _require(symbol)
        return _quote(p, _moment())

    # -- history --
    def history(self, symbol: str, period: str, interval: str) -> pd.DataFrame:
        """OHLCV bars up to now (the current bar partial during the session).

        Periods :data:`~core.providers.base.PERIODS` (``1d``/``2d``/``5d`` are sessions, the
        rest calendar months back from the last session); intervals
        :data:`~core.providers.base.INTERVALS` within :data:`INTRADAY_MAX_PERIOD`. Intraday bars
        are labelled by their start (09:30, 09:35, ...; hourly 09:30, 10:30, ..., 15:30), daily
        bars at midnight ET. Raises ValueError for an unknown or too-long combination.
        """
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {INTERVALS}, not {interval!r}")
        if PERIODS.index(period) > PERIODS.index(INTRADAY_MAX_PERIOD[interval]):
            raise ValueError(f"{interval} bars go back at most {INTRADAY_MAX_PERIOD[interval]}, "
                             f"not {period}")
        p = _require(symbol)
        return _history(p, _moment(), period, interval)

    # -- short volume --
    def short_volume(self, symbol: str, day: dt.date) -> dict:
        """The simulated Reg SHO record of ``symbol`` on session ``day`` (see
        :func:`short_volume`)."""
        return short_volume(symbol, day)

    # -- chain --
    def chain(self, symbol: str, expiry: dt.date) -> Chain:
        """One expiry's chain (RAW_COLUMNS, no greeks): ``spot``/``as_of``/``quote`` live, the
        option quotes as of ``quotes_as_of`` (see the module docstring). Raises SymbolNotFound /
        NoExpiry."""
        p = _require(symbol)
        mo = _moment()
        listed = _listed_now(p, mo)
        if isinstance(expiry, dt.datetime):
            expiry = expiry.date()
        if expiry not in listed:
            later = [e for e in listed if e > expiry]
            nxt = later[0] if later else None
            hint = f"; the next one is {nxt:%Y-%m-%d}" if nxt else ""
            raise NoExpiry(f"{p.symbol} has no expiry listed on {expiry:%Y-%m-%d}{hint}.",
                           symbol=p.symbol, next_expiry=nxt)
        quote = _quote(p, mo)
        mq = _quote_moment(p, mo)
        frame = _chain_frame(p, mo, mq, expiry, quote.price)
        tab = _table()
        flags = quality_flags(frame, market_open=mo.is_open,
                              session_start=_et(tab.open_ns[mo.session]))
        if self.fallback:
            flags = flags | {FALLBACK}
        return Chain(symbol=p.symbol, expiry=expiry, spot=quote.price, as_of=mo.as_of,
                     source=NAME, frame=frame, flags=frozenset(flags),
                     rate=settings().risk_free, div_yield=p.q, quote=quote,
                     quotes_as_of=mq.as_of)


def _quote(p: _Params, mo: _Moment) -> Quote:
    day = _day(p.symbol, mo.session)
    _, closes = _daily(p.symbol)
    price = float(day.points[mo.minute])
    if mo.pre_market:
        volume = 0.0
    elif mo.is_open:
        volume = float(np.floor(day.total * day.cum[mo.minute]))
    else:
        volume = day.total
    return Quote(symbol=p.symbol, price=price, prev_close=float(closes[mo.session - 1]),
                 as_of=mo.as_of, source=NAME, day_volume=volume)


# --- history ----------------------------------------------------------------------------------

def _history(p: _Params, mo: _Moment, period: str, interval: str) -> pd.DataFrame:
    tab = _table()
    end = mo.session
    if period in _PERIOD_SESSIONS:
        start = end - _PERIOD_SESSIONS[period] + 1
    else:
        since = np.datetime64((pd.Timestamp(tab.days[end]) - pd.DateOffset(
            months=_PERIOD_MONTHS[period])).date(), "D")
        start = int(np.searchsorted(tab.days, since, side="right"))
    idx = np.arange(max(start, 0), end + 1)
    paths = _paths(p, idx)
    k = len(idx)
    j = np.arange(_MAX_MIN)[None, :]
    limit = paths.n.copy()
    opens = paths.points[:, :-1].copy()
    closes = paths.points[:, 1:].copy()
    highs, lows = paths.high.copy(), paths.low.copy()
    shares = np.floor(paths.total[:, None] * paths.cum)
    vols = np.diff(shares, axis=1)
    if mo.is_open:  # bars before the current minute, and the current one with its open only
        m = mo.minute
        now_px = paths.points[-1, m]
        opens[-1, m] = closes[-1, m] = highs[-1, m] = lows[-1, m] = now_px
        vols[-1, m] = 0.0
        limit[-1] = m + 1
    mask = j < limit[:, None]
    size = _INTERVAL_MIN.get(interval, _MAX_MIN)
    width = -(-_MAX_MIN // size) * size
    pad = width - _MAX_MIN

    def shaped(a, fill):
        a = np.where(mask, a, fill)
        if pad:
            a = np.concatenate([a, np.full((k, pad), fill)], axis=1)
        return a.reshape(k, width // size, size)

    count = shaped(np.ones_like(opens), 0.0).sum(axis=2).astype(np.int64)
    groups = count > 0
    g = np.arange(width // size)[None, :]
    first = np.minimum(g * size, width - 1)
    last = np.maximum(g * size + count - 1, 0)
    rows = np.arange(k)[:, None]
    o = np.pad(opens, ((0, 0), (0, pad)))[rows, first]
    c = np.pad(closes, ((0, 0), (0, pad)))[rows, last]
    h = shaped(highs, -np.inf).max(axis=2)
    lo = shaped(lows, np.inf).min(axis=2)
    v = shaped(vols, 0.0).sum(axis=2)
    keep = groups
    if interval == "1d":
        index = pd.DatetimeIndex(tab.days[idx][groups[:, 0]]).as_unit("ns").tz_localize(clock.ET)
    else:
        ns = tab.open_ns[idx][:, None] + g * size * _NS_MIN
        index = pd.DatetimeIndex(ns[groups].astype("datetime64[ns]"), tz="UTC").tz_convert(clock.ET)
    frame = pd.DataFrame({"open": o[keep], "high": h[keep], "low": lo[keep], "close": c[keep],
                          "volume": v[keep].astype(np.int64)}, index=index)
    frame.index.name = "time"
    return frame[HISTORY_COLUMNS]


# --- the chain --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Setup:
    """What every part of one chain computation shares (rows: calls, then puts)."""

    p: _Params
    mo: _Moment
    expiry: dt.date
    dte: int             # calendar days from the pricing session to the expiry
    t: float             # years to the expiry's close from ``as_of`` (floored)
    e_close: int         # UTC ns of the expiry's close
    spot: float
    ref: float           # the previous close: strikes and OI are laid out around it
    r: float
    strikes: np.ndarray  # n strikes
    fine: float          # the grid's fine step
    K: np.ndarray        # 2n: strikes, twice
    is_call: np.ndarray  # 2n
    h_strike: np.ndarray   # per-strike hash keys (n)
    h_contract: np.ndarray  # per-contract hash keys (2n)
    h_today: np.ndarray    # per-contract-and-session hash keys (2n)


def _setup(p: _Params, mo: _Moment, expiry: dt.date, spot: float) -> _Setup:
    tab = _table()
    i = mo.session
    e_close = int(tab.close_ns[_session_index(expiry)])
    strikes, fine, ref = _strikes(p, i, expiry)
    n = len(strikes)
    h_strike = _hash(p.seed, expiry.toordinal(), np.round(strikes * 1000).astype(np.int64))
    h_contract = np.concatenate([h_strike, _mix(h_strike ^ np.uint64(0x5BD1E995))])
    return _Setup(p=p, mo=mo, expiry=expiry, dte=(expiry - _day_of(i)).days,
                  t=max((e_close - mo.as_of_ns) / _NS_PER_YEAR, clock.MIN_T_YEARS),
                  e_close=e_close, spot=spot, ref=ref, r=settings().risk_free, strikes=strikes,
                  fine=fine, K=np.tile(strikes, 2), is_call=np.repeat([True, False], n),
                  h_strike=h_strike, h_contract=h_contract, h_today=_hash(h_contract, i))


def _quotes(c: _Setup, sig: np.ndarray) -> dict[str, np.ndarray]:
    """Theoretical prices (BSM at the smile ``sig``) and the market makers' bid/ask around them.

    ``spread = liquidity * (1.2 % of time value + 0.4 % of price) * (1 + 0.15 * |x|_otm)
    * (1 + 0.6 / (1 + dte))``, at least one tick; ``bid = floor((theo - spread/2) / tick)``,
    ``ask = ceil((theo + spread/2) / tick)`` ticks; a contract worth less than a tick is a stub
    quoted 0 x tick. Also returns ``intrinsic`` (discounted, on the forward) and ``otm``."""
    p, K, is_call, t = c.p, c.K, c.is_call, c.t
    theo = greeks.price(c.spot, K, t, c.r, p.q, sig, is_call)
    fwd = c.spot * math.exp((c.r - p.q) * t)
    intrinsic = np.where(is_call, np.maximum(fwd - K, 0), np.maximum(K - fwd, 0)) \
        * math.exp(-c.r * t)
    otm = np.where(is_call, K > fwd, K < fwd)
    x_abs = np.abs(np.log(K / fwd)) / (float(np.median(sig)) * math.sqrt(max(t, _SMILE_MIN_T)))
    tick = _tick(p, theo)
    spread = p.liquidity * (0.012 * np.maximum(theo - intrinsic, 0.0) + 0.004 * theo) \
        * (1.0 + 0.15 * np.where(otm, np.minimum(x_abs, 6.0), 0.0)) * (1.0 + 0.6 / (1.0 + c.dte))
    spread = np.maximum(tick, spread)
    stub = theo < tick
    bid = np.where(stub, 0.0, np.floor((theo - spread / 2) / tick) * tick)
    ask = np.maximum(np.where(stub, tick, np.ceil((theo + spread / 2) / tick) * tick), bid + tick)
    return {"theo": theo, "intrinsic": intrinsic, "otm": otm, "tick": tick, "spread": spread,
            "stub": stub, "bid": np.round(np.maximum(bid, 0.0), 2), "ask": np.round(ask, 2)}


def _crowding(c: _Setup) -> np.ndarray:
    """Per-contract weight of round strikes: 1, 2.2, 3.5, 5 for ordinary / round / rounder /
    roundest strikes (see :func:`_round_levels`)."""
    level = np.tile(_roundness(c.strikes, c.fine, c.p.kind), 2).astype(int)
    return np.array([1.0, 2.2, 3.5, 5.0])[level]


def _per_side(c: _Setup, weights: np.ndarray) -> np.ndarray:
    """Normalise ``weights`` to sum to 1 over the calls and over the puts separately."""
    n = len(c.strikes)
    return weights / np.where(c.is_call, weights[:n].sum(), weights[n:].sum())


def _open_interest(c: _Setup, listed: tuple[dt.date, ...]) -> np.ndarray:
    """Contracts open as of the prior close.

    Total = 2.2 x daily option volume x the expiry's OI share; puts 55 % (indexes) / 42 %;
    across strikes Gaussian humps OTM in ``x = ln(K/ref) / (vol sqrt(max(T, 7 d)))`` (calls at
    +0.6 width 1.4, puts at -0.9 width 1.6, 1 % floor) x round-strike crowding x a persistent
    lognormal factor (sd 0.5) x a small daily one (sd 0.1)."""
    p, is_call = c.p, c.is_call
    day = _day_of(c.mo.session)
    total = p.option_volume * 2.2 * _expiry_share(listed, day, c.expiry, p.style, oi=True)
    x = np.log(c.K / c.ref) / (p.vol * math.sqrt(max(c.dte + 1, 7) / 365.0))
    hump = np.where(is_call, np.exp(-0.5 * ((x - 0.6) / 1.4) ** 2),
                    np.exp(-0.5 * ((x + 0.9) / 1.6) ** 2)) + 0.01
    put_share = 0.55 if p.index_like else 0.42
    noise = np.exp(0.5 * ndtri(_draw(c.h_contract, _S_OIP)) - 0.125
                   + 0.1 * ndtri(_draw(c.h_today, _S_OID)))
    return np.floor(total * np.where(is_call, 1 - put_share, put_share)
                    * _per_side(c, hump * _crowding(c)) * noise)


def _session_volume(c: _Setup, listed: tuple[dt.date, ...]) -> np.ndarray:
    """Each contract's expected volume for the whole session (float contracts).

    Daily option volume x a daily factor (lognormal sd 0.3) x the expiry's volume share; puts
    55 % / 42 % ± 5 points a day; across strikes Gaussian humps near the money in
    ``x = ln(K/ref) / (vol sqrt(max(T, 3 d)))`` (calls at +0.3 width 0.9, puts at -0.4 width 1,
    0.2 % floor) x sqrt(crowding) x a lognormal factor (sd 0.6) per contract and session."""
    p, is_call, i = c.p, c.is_call, c.mo.session
    day_factor = math.exp(0.3 * float(_normal(p.seed, _S_OPTDAY, i)[0]) - 0.045)
    total = p.option_volume * day_factor * _expiry_share(listed, _day_of(i), c.expiry, p.style)
    put_share = float(np.clip((0.55 if p.index_like else 0.42)
                              + 0.05 * _normal(p.seed, _S_PUTSH, i)[0], 0.25, 0.75))
    x = np.log(c.K / c.ref) / (p.vol * math.sqrt(max(c.dte + 1, 3) / 365.0))
    hump = np.where(is_call, np.exp(-0.5 * ((x - 0.3) / 0.9) ** 2),
                    np.exp(-0.5 * ((x + 0.4) / 1.0) ** 2)) + 0.002
    return total * np.where(is_call, 1 - put_share, put_share) \
        * _per_side(c, hump * np.sqrt(_crowding(c))) \
        * np.exp(0.6 * ndtri(_draw(c.h_today, _S_VOLC)) - 0.18)


VENDOR_EXTRA_T = 2.0 / 365.0  # the vendor's T runs two calendar days past the expiry's close
VENDOR_IV_SD = 0.02           # its per-contract error: 2 vol points (sd, clipped at 2.5 sd)


def _reported_iv(c: _Setup, sig: np.ndarray, qt: dict[str, np.ndarray]) -> np.ndarray:
    """The ``iv`` column as a data vendor shows it — NOT the vol our prices were made with.

    Like Yahoo's ``impliedVolatility`` it does not reprice the contract's own mid:

    - the vendor's clock runs :data:`VENDOR_EXTRA_T` (2 days) too long and it keeps the
      price, i.e. the total variance: ``iv = sigma_v sqrt(T / (T + 2 d))``. A month out that is
      3 % low; a 0DTE in its last hour (T ~ 1 h, and the quote is delayed) shows ~1/7 of the
      price-consistent vol, as Yahoo's late-day 0DTE IVs do;
    - ``sigma_v = max(sigma + 0.02 z, 0.3 sigma)``: a deterministic per-contract-and-session
      error (``z`` standard normal clipped at ±2.5), different for the call and the put of a
      strike;
    - stubs (quoted 0 x one tick): the vol implied from the tick at the true T (> 500 % in a
      0DTE's last quoted minutes);
    - ~15 % of the deep-ITM contracts whose time value is under half the spread: 0.00001.

    ``sig`` is the smile vol at the quote moment (what ``theo``/bid/ask were priced with), so
    an IV solved from a mid with the quote moment's spot and T recovers the smile."""
    z = np.clip(ndtri(_draw(c.h_today, _S_VENDOR)), -2.5, 2.5)
    iv = np.maximum(sig + VENDOR_IV_SD * z, 0.3 * sig) * math.sqrt(c.t / (c.t + VENDOR_EXTRA_T))
    stub = qt["stub"]
    if stub.any():
        iv[stub] = _implied_from(qt["tick"][stub], c.spot, c.K[stub], c.t, c.r, c.p.q,
                                 c.is_call[stub], sig[stub])
    deep = (~qt["otm"]) & (qt["theo"] - qt["intrinsic"] < 0.5 * qt["spread"]) \
        & (_draw(c.h_contract, _S_ITM) < 0.15)
    iv[deep] = 1e-5
    return iv


def _contracts(c: _Setup) -> list[str]:
    """OCC symbols: root, YYMMDD, C/P, strike x 1000 on 8 digits (SPY261120C00672000)."""
    stem = f"{_root(c.p.symbol, c.expiry)}{c.expiry:%y%m%d}"
    milli = np.round(c.strikes * 1000).astype(np.int64).tolist()
    return [f"{stem}C{k:08d}" for k in milli] + [f"{stem}P{k:08d}" for k in milli]


def _chain_frame(p: _Params, mo: _Moment, mq: _Moment, expiry: dt.date, spot: float
                 ) -> pd.DataFrame:
    """The canonical frame of one expiry at the moment ``mo``, its option quotes as of ``mq``
    (:func:`_quote_moment`; see the module docstring). ``spot`` is the live price: only
    ``in_the_money`` uses it, every price is computed at the quote moment's spot and T."""
    i = mq.session
    day = _day(p.symbol, i)
    c = _setup(p, mq, expiry, float(day.points[mq.minute]))
    sig = np.tile(_smile(p, _iv_level(p, i, c.spot), c.spot, c.strikes, c.t, c.r,
                         ndtri(_draw(_hash(c.h_strike, i), _S_IVK))), 2)
    qt = _quotes(c, sig)
    listed = _listing(p.style, _day_of(i), True)
    if expiry not in listed:  # listed since (e.g. a new weekly seen on a Saturday)
        listed = tuple(sorted(listed + (expiry,)))
    oi = _open_interest(c, listed)
    expected = _session_volume(c, listed)
    volume = np.floor(expected * day.cum[mq.minute])

    # last trade: the minute the cumulative count last ticked up, else an earlier session;
    # its price is the theoretical value then, within a quarter spread
    lt_ns, lt_spot, lt_t = _last_trades(mq, c.e_close, expected, volume, c.h_today, day,
                                        _daily(p.symbol)[1])
    last = greeks.price(lt_spot, c.K, lt_t, c.r, p.q, sig, c.is_call) \
        + 0.25 * qt["spread"] * ndtri(_draw(_hash(c.h_contract, lt_ns // _NS_MIN), _S_LASTN))
    last = np.maximum(np.round(last, 2), 0.01)

    plan = _whale_plan(p.symbol, i, expiry, c.r)
    if plan:
        volume, oi, last, lt_ns = _apply_whales(mq, plan, qt, volume, oi, last, lt_ns)

    bid, ask = qt["bid"], qt["ask"]
    if mo.pre_market:  # before the open: no quotes yet, and OCC has not published OI
        bid = ask = np.zeros(len(c.K))
        oi = _unpublished_oi(c, mo)
    raw = pd.DataFrame({
        "contract": _contracts(c),
        "type": np.where(c.is_call, "call", "put"),
        "strike": c.K,
        "expiry": [expiry] * len(c.K),
        "bid": bid, "ask": ask, "last": last,
        "mid": np.where((bid > 0) & (ask > 0), (bid + ask) / 2, last),
        "volume": volume.astype(np.int64), "open_interest": oi.astype(np.int64),
        "iv": _reported_iv(c, sig, qt), "iv_ok": True,
        "in_the_money": np.where(c.is_call, c.K < spot, c.K > spot),
        "last_trade": pd.DatetimeIndex(lt_ns.astype("datetime64[ns]"), tz="UTC"),
    })
    return normalise_chain(raw)


def _unpublished_oi(c: _Setup, mo: _Moment) -> np.ndarray:
    """Open interest before the open of session day ``mo.now``: OCC has not published it, so
    Yahoo sends 0 — except on ~1 % of contracts (any strike, however far from the money), a
    stray 1-40 (the kind that puts a naive "wall" 35 % from spot)."""
    today = _index(mo.now.date())
    h = _hash(c.h_contract, today)
    stray = _draw(h, _S_OISTRAY) < 0.01
    return np.where(stray, 1.0 + np.floor(40.0 * _draw(h, _S_OISTRAYN)), 0.0)


def _expiry_share(listed: tuple[dt.date, ...], day: dt.date, expiry: dt.date, style: str, *,
                  oi: bool = False) -> float:
    """The expiry's share of the symbol's option volume (or open interest) on ``day``.

    Volume: ``exp(-dte/6)`` (x4 for a same-day expiry of a daily name, x1.5 of a weekly one)
    ``+ 0.25 exp(-dte/45)``, ``+ 0.6 exp(-dte/60)`` for monthlies. OI:
    ``(1 - exp(-(dte+1)/3)) exp(-dte/150)``, x2.5 monthlies, x1.5 quarterlies. Normalised over
    the expiries listed that day."""
    if expiry not in listed:
        return 0.0
    return float(_expiry_weights(listed, day, style, oi)[listed.index(expiry)])


@functools.lru_cache(maxsize=64)
def _expiry_weights(listed: tuple[dt.date, ...], day: dt.date, style: str, oi: bool
                    ) -> np.ndarray:
    dte = np.array([(e - day).days for e in listed], dtype=float)
    monthly = np.array([_is_monthly(e) for e in listed])
    quarterly = monthly & np.array([e.month in (3, 6, 9, 12) for e in listed])
    if oi:
        w = (1 - np.exp(-(dte + 1) / 3)) * np.exp(-dte / 150) * np.where(monthly, 2.5, 1.0) \
            * np.where(quarterly, 1.5, 1.0)
    else:
        same_day = 4.0 if style == "daily" else 1.5
        w = np.exp(-dte / 6) * np.where(dte == 0, same_day, 1.0) + 0.25 * np.exp(-dte / 45) \
            + np.where(monthly, 0.6 * np.exp(-dte / 60), 0.0) + 0.01
    w = w / w.sum()
    w.flags.writeable = False
    return w


def _last_trades(mo: _Moment, e_close: int, expected: np.ndarray, traded: np.ndarray,
                 h: np.ndarray, day: _Day, closes: np.ndarray):
    """(time ns UTC, spot then, years to expiry then) of each contract's last trade.

    Traded today: the minute the cumulative count ``floor(D * cum)`` last ticked up, plus a
    random second. Not traded today: ``1 + Exp/max(D, 0.02)`` sessions back (at most 20), at a
    random minute, at that session's close price."""
    tab = _table()
    i = mo.session
    today = traded >= 1
    level = np.where(today, traded / np.maximum(expected, 1e-12), 0.0)
    j_star = np.clip(np.searchsorted(day.cum, level, side="left"), 1, max(mo.minute, 1))
    sec = np.floor(_draw(h, _S_LTSEC) * 60)
    t_today = tab.open_ns[i] + (j_star - 1) * _NS_MIN + sec.astype(np.int64) * 1_000_000_000
    spot_today = day.points[j_star]
    back = 1 + np.floor(-np.log(_draw(h, _S_STALE)) / np.maximum(expected, 0.02))
    back = np.minimum(back, 20).astype(np.int64)
    old = np.maximum(i - back, 0)
    frac = _draw(h, _S_STALEM)
    t_old = tab.open_ns[old] + (frac * (tab.close_ns[old] - tab.open_ns[old])).astype(np.int64)
    ns = np.where(today, t_today, t_old)
    spot = np.where(today, spot_today, closes[old])
    t = np.maximum((e_close - ns) / _NS_PER_YEAR, clock.MIN_T_YEARS)
    return ns, spot, t


def _strikes(p: _Params, i: int, expiry: dt.date) -> tuple[np.ndarray, float, float]:
    """(strikes, fine step, reference price) of ``expiry`` in session ``i``: listed around the
    previous close, so stable through the session; the range is at least a month's move wide
    (strikes listed weeks ago stay listed) and the fine band at least a week's."""
    ref = float(_daily(p.symbol)[1][i - 1])
    days = (expiry - _day_of(i)).days + 1
    strikes, fine = _grid(p.kind, round(ref, 2), round(p.vol * math.sqrt(max(days, 7) / 365.0), 4),
                          round(p.vol * math.sqrt(max(days, 30) / 365.0), 4))
    return strikes, fine, ref


@dataclasses.dataclass(frozen=True)
class _Print:
    row: int          # row in the chain's calls-then-puts order
    strike: float
    is_call: bool
    size: int         # contracts
    open_interest: int
    minute: int
    buyer: bool


@functools.lru_cache(maxsize=256)
def _whale_plan(symbol: str, i: int, expiry: dt.date, r: float) -> tuple[_Print, ...]:
    """Where the whales of session ``i`` land on ``expiry``'s chain, independent of the minute.

    Strike: among OTM strikes within 4.5 % of the reference whose price at the open is at least
    max($0.25, 0.05 % of spot) and not already taken, the one nearest
    ``ref * exp(±offset * sigma sqrt T)``; size: ``ceil(premium / (100 * price at the open))``;
    open interest (prior close): ``floor(size / ratio)``, at least 1."""
    p = _params(symbol)
    listed = _listing(p.style, _day_of(i), True)
    whales = [w for w in _whales(symbol, i) if w.rank < len(listed) and listed[w.rank] == expiry]
    if not whales:
        return ()
    tab = _table()
    strikes, _, ref = _strikes(p, i, expiry)
    n = len(strikes)
    open_px = float(_daily(symbol)[0][i])
    e_close = int(tab.close_ns[_session_index(expiry)])
    t_open = max((e_close - tab.open_ns[i]) / _NS_PER_YEAR, clock.MIN_T_YEARS)
    level = _iv_level(p, i, open_px)
    width = p.vol * math.sqrt(((expiry - _day_of(i)).days + 1) / 365.0)
    sig = _smile(p, level, open_px, strikes, t_open, r, np.zeros(n))
    prices = {flag: greeks.price(open_px, strikes, t_open, r, p.q, sig, flag)
              for flag in (True, False)}
    floor = max(0.25, 0.0005 * open_px)  # whales buy contracts worth a premium, not lottery tickets
    taken: set[int] = set()
    out = []
    for w in whales:
        dist = min(w.offset * width, 0.045)
        target = ref * math.exp(dist if w.is_call else -dist)
        otm = strikes >= ref if w.is_call else strikes <= ref
        rows = np.arange(n) + (0 if w.is_call else n)
        ok = otm & (np.abs(strikes / ref - 1) < 0.045) & (prices[w.is_call] >= floor) \
            & ~np.isin(rows, list(taken))
        if not ok.any():
            continue
        col = int(np.flatnonzero(ok)[np.argmin(np.abs(strikes[ok] - target))])
        taken.add(int(rows[col]))
        size = math.ceil(w.premium / (100.0 * float(prices[w.is_call][col])))
        out.append(_Print(row=int(rows[col]), strike=float(strikes[col]), is_call=w.is_call,
                          size=size, open_interest=max(1, math.floor(size / w.ratio)),
                          minute=w.minute, buyer=w.buyer))
    return tuple(out)


def _apply_whales(mo: _Moment, plan, qt: dict[str, np.ndarray], volume, oi, last, lt_ns):
    """Put each planned print on its row: OI (prior close) from the plan; the print adds its
    size once its minute has passed and becomes the last trade (at the ask or the bid)."""
    tab = _table()
    i = mo.session
    volume, oi, last, lt_ns = volume.copy(), oi.copy(), last.copy(), lt_ns.copy()
    for w in plan:
        row = w.row
        oi[row] = w.open_interest
        if w.minute < mo.minute:
            volume[row] += w.size
            printed = tab.open_ns[i] + w.minute * _NS_MIN
            if printed >= lt_ns[row]:
                lt_ns[row] = printed
                half = 0.5 * qt["spread"][row]
                if mo.is_open:
                    last[row] = qt["ask"][row] if w.buyer else max(qt["bid"][row], 0.01)
                else:
                    last[row] = max(round(last[row] + (half if w.buyer else -half), 2), 0.01)
    return volume, oi, last, lt_ns


def whale_prints(symbol: str, day: dt.date) -> list[dict]:
    """The large prints planted in ``symbol``'s chains on session ``day`` (for tests, demos and
    checking the flows page): expiry, contract, type, strike, size (contracts), open_interest
    (prior close), time (ET) and side ("ask" for a buyer, "bid" for a seller). Pure (no clock).
    Raises DataError when ``day`` is not a session."""
    p = _require(symbol)
    i = _session_index(day)
    if i is None or i < 1:
        raise DataError(f"{day:%Y-%m-%d} is not a trading session.", symbol=p.symbol)
    out = []
    for expiry in _listing(p.style, day, True)[:4]:
        for w in _whale_plan(p.symbol, i, expiry, settings().risk_free):
            root = _root(p.symbol, expiry)
            out.append({
                "expiry": expiry, "type": "call" if w.is_call else "put", "strike": w.strike,
                "contract": f"{root}{expiry:%y%m%d}{'C' if w.is_call else 'P'}"
                            f"{round(w.strike * 1000):08d}",
                "size": w.size, "open_interest": w.open_interest,
                "time": _et(_table().open_ns[i] + w.minute * _NS_MIN),
                "side": "ask" if w.buyer else "bid"})
    return sorted(out, key=lambda d: d["time"])


def _root(symbol: str, expiry: dt.date) -> str:
    """OCC root: the PM-settled root (SPXW, NDXP, RUTW) for every cash-index expiry — also on a
    3rd Friday, where the AM-settled monthly (SPX) stopped trading the day before, so the one
    chain listed per date is the one that trades that day (on Yahoo both roots come; the fetch
    layer drops the AM root once it has settled, ``core.analytics.pricing.settles_at``);
    otherwise the ticker without punctuation."""
    if symbol in _ROOTS:
        return _ROOTS[symbol][1]
    return symbol.replace("^", "").replace(".", "").replace("-", "")


# --- FINRA Reg SHO ------------------------------------------------------------------------------

def short_volume(symbol: str, day: dt.date) -> dict:
    """A simulated FINRA Reg SHO daily short-sale volume record for ``symbol`` on session ``day``.

    Pure (no clock): ``total_volume`` is the off-exchange (TRF) share volume ≈ 42 % of the
    session's simulated volume; ``short_volume / total_volume`` is typically 0.35-0.65 (centre
    0.48, higher on up days, as market makers sell short into buying); ``short_exempt_volume``
    ≈ 0.4 % of short volume; ``market`` "B,Q,N" as in FINRA's consolidated file; plus
    ``short_share`` and ``source`` ("simulated"), the keys ``core.fetch.short_volume`` serves.
    Raises SymbolNotFound (unknown symbol, or a cash index: no short sales) and DataError
    (``day`` not a session in the simulated calendar).
    """
    p = _require(symbol)
    if p.kind == "index":
        raise SymbolNotFound(f"{p.symbol} is an index: there is no short-sale volume.",
                             symbol=p.symbol)
    i = _session_index(day)
    if i is None or i < 1:
        raise DataError(f"No Reg SHO file for {day:%Y-%m-%d}: not a trading session.",
                        symbol=p.symbol)
    _, closes = _daily(p.symbol)
    z = _normal(p.seed, _S_SHORT, i, np.arange(3))
    total = math.floor(float(_day_volume(p, np.array([i]))[0]) * 0.42 * math.exp(0.1 * z[0]))
    move = math.log(closes[i] / closes[i - 1]) / p.sigma_d
    share = float(np.clip(0.48 + 0.05 * z[1] + 0.02 * move, 0.3, 0.7))
    short = round(total * share)
    exempt = round(short * 0.004 * math.exp(0.5 * z[2]))
    return {"date": day, "symbol": p.symbol, "short_volume": int(short),
            "short_exempt_volume": int(exempt), "total_volume": int(total), "market": "B,Q,N",
            "short_share": short / total if total else 0.0, "source": NAME}


# --- introspection -------------------------------------------------------------------------------

_CACHES = {"table": _table, "params": _params, "daily": _daily, "day": _day, "profile": _profile,
           "grid": _grid,
           "listing": _listing, "is_monthly": _is_monthly, "whales": _whales,
           "whale_plan": _whale_plan,
           "expiry_weights": _expiry_weights}


def cache_info() -> dict[str, dict]:
    """Entries and caps of the module's lru_caches (for the memory panel / bench).

    Worst-case sizes: daily 64 x 60 kB, day 128 x 6 kB, grid 256 x <2 kB, table 0.12 MB, the
    rest a few kB: about 5 MB at most."""
    return {name: {"entries": fn.cache_info().currsize, "cap": fn.cache_info().maxsize}
            for name, fn in _CACHES.items()}


def cache_clear() -> None:
    for fn in _CACHES.values():
        fn.cache_clear()
