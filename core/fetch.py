"""THE shared fetch layer: the only door pages use to get market data.

Every call validates its input first (an invalid symbol raises
:class:`~core.errors.InvalidSymbol` before any cache lookup or upstream call), then reads a
bounded shared cache of :mod:`core.cache`, so N sessions watching one symbol cost one upstream
call per key per fresh TTL. Upstream calls pass a process-wide rate limiter. Chains get their
greeks here, once, at fetch time; strike caps are applied here, not in pages.

Public interface (stable; tests, benches and tools rely on it)::

    quote(symbol) -> Quote                       quotes(symbols) -> {symbol: Quote | DataError}
    expirations(symbol) -> list[date]            chain(symbol, expiry, strikes=None) -> Chain
    chains(symbol, n=None, expiries=None, strikes=None) -> list[Chain]
    history(symbol, period, interval) -> DataFrame
    short_volume(symbol) -> dict | None          (FINRA Reg SHO, or the simulated equivalent)
    derived(name, fn, *sources, **params) -> fn(*sources, **params), cached by source identity
    key_levels(symbol, expiry) -> levels.KeyLevels  (every level of one expiry, full chain)
    traded_premium(chain) -> TradedPremium       (Δvolume × mid per refresh, from the tape)
    scan(name, fn, symbols, **params) -> ScanJob  (a shared, cached multi-symbol job)
    provider_info() -> dict                      reset(provider=None) (tests, benches)

Caches (see ``core.memory.cache_stats()``): ``quote``, ``expirations``, ``chain`` (full chain with
greeks; kept as its pickle until a second read makes it live; its strike-capped views, and any
:func:`derived` value of that one chain — key levels, its figures and tables — live on its entry
and are derived for the next version by the refresh, before readers see it), ``history``,
``derived`` (values of several sources — several chains, a frame, a quote — once per source
version), ``not_found`` (negative cache of
SymbolNotFound, short TTL, small cap), ``scan`` (finished multi-symbol scans) and
``premium_tape`` (per chain, the traded premium accumulated over its consecutive versions today;
see :func:`traded_premium`). With ``OPTIONS_DASH_REDIS_URL`` set, the caches that cost an
upstream call share a second level in Redis and the rate limit is fleet-wide (``core.shared``).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import logging
import math
import threading
import time
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from core import breaker, cache, clock, config, shared, symbols
from core.analytics import flows, levels, pricing
from core.errors import DataError, NoExpiry, RateLimited, SymbolNotFound, Unavailable
from core.providers import finra, make_provider
from core.providers.base import INTERVALS, PERIODS, Provider
from core.schema import STRIKES_CAPPED, Chain, Quote
from core.schema import RAW_COLUMNS  # the provider answer checks (_checked_chain)
from core.schema import CATEGORIES as _CATEGORIES  # cached chains keep these as categoricals

for _name, _dtype in _CATEGORIES.items():  # frozen chains refer to them, not copy them
    cache.register_shared(("category", _name), _dtype)
log = logging.getLogger(__name__)

NEAR_TERM_DAYS = 7  # chains expiring within this many days use the near-term TTL
UPSTREAM_CACHES = ("quote", "expirations", "chain", "history", "short_volume")
TAPE_MAX_AGE = 18 * 3600.0  # a premium tape lives for a session (it restarts each day anyway)


@dataclasses.dataclass
class _Layer:
    settings: config.Settings
    provider: Provider
    provider_reason: str
    budget: cache.ByteBudget
    executor: cf.ThreadPoolExecutor
    scan_pool: cf.ThreadPoolExecutor
    limiter: cache.RateLimiter
    caches: dict[str, cache.BoundedCache]
    running: dict = dataclasses.field(default_factory=dict)  # scans in progress (<= MAX_SCANS)
    shared: Any = None  # core.shared.L2 when OPTIONS_DASH_REDIS_URL is set (None: L1 only)
    breakers: dict = dataclasses.field(default_factory=dict)  # source name -> CircuitBreaker
    queued: dict = dataclasses.field(default_factory=dict)  # scans waiting for a slot, in order


_layer: _Layer | None = None
_layer_lock = threading.Lock()


def _build(provider: Provider | None, reason: str | None) -> _Layer:
    s = config.settings()
    if provider is None:
        provider, reason = make_provider(s.provider, probe_timeout=min(3.0, s.upstream_timeout))
    budget = cache.ByteBudget(s.cache_bytes)
    executor = cf.ThreadPoolExecutor(max_workers=s.workers, thread_name_prefix="fetch-refresh")
    f = s.stale_factor

    def make(name, entries, ttl, max_age=None):
        # a refresh pool per cache kind (threads start lazily): slow chain refreshes cannot
        # hold back quote refreshes; the chain cache keeps the layer's main pool. Upstream
        # caches give a miss's leader the same deadline as its followers.
        pool = executor if name == "chain" else cf.ThreadPoolExecutor(
            max_workers=max(1, s.workers // 2), thread_name_prefix=f"refresh-{name}")
        upstream = name in UPSTREAM_CACHES
        return cache.BoundedCache(name, max_entries=entries, fresh_ttl=ttl,
                                  max_age=max_age or ttl * f, budget=budget, executor=pool,
                                  wait_timeout=3 * s.upstream_timeout + 10,
                                  leader_timeout=3 * s.upstream_timeout + 10 if upstream else None)

    chain_entries = 4 * s.max_watchlist * 2 + 16 * s.max_expiries  # 4 expiries/symbol + heatmaps
    # A derived key names its sources' versions, so its value is never stale, only superseded:
    # once each source has refreshed (the longest fresh TTL of a versioned source), nobody asks
    # for it again. Kept longer, dead results would fill the byte budget (measured: 850 entries,
    # +11 MB after 15 min with a 30-min TTL). A source served stale past this (upstream down)
    # just gets its result computed again.
    derived_ttl = max(s.ttl_quote, s.ttl_chain_near, s.ttl_chain_far)
    caches = {
        "quote": make("quote", 512, s.ttl_quote),
        "expirations": make("expirations", 256, s.ttl_expirations, s.ttl_expirations * 4),
        "chain": make("chain", chain_entries, s.ttl_chain_near, s.ttl_chain_far * f),
        "history": make("history", 256, s.ttl_history),
        "derived": make("derived", 1024, derived_ttl, derived_ttl),
        "not_found": make("not_found", 256, s.negative_ttl, s.negative_ttl),
        "scan": make("scan", 32, s.ttl_chain_near * 2, s.ttl_chain_far * f),
        "short_volume": make("short_volume", 64, 6 * 3600, 24 * 3600),
        # outage memory: (cache, key) -> the Unavailable message, for keys with no copy to serve
        "unavailable": make("unavailable", 512, max(s.negative_outage, 0.001),
                            max(s.negative_outage, 0.001)),
        # one small per-contract tape per (symbol, expiry) chain, kept for a session
        "premium_tape": make("premium_tape", chain_entries, TAPE_MAX_AGE, TAPE_MAX_AGE),
    }
    # every chain version this process takes in — from upstream or from another replica through
    # the shared L2 — is kept compact (cap_strikes' section) and recorded in its premium tape
    caches["chain"].compact = lambda c: record_premium(compact_chain(c))
    # a chain read once (a sweep of many symbols, a scan) is kept as its pickle until a second
    # read makes it live: ~30 KB instead of ~44 KB of live pandas structure (issue 12)
    # (the shared column Index and categorical dtypes are written as references, not copies)
    caches["chain"].freezer = cache.Freezer(cache.freeze, cache.thaw)
    scan_pool = cf.ThreadPoolExecutor(max_workers=s.workers, thread_name_prefix="fetch-scan")
    l2 = shared.connect(s)  # the fleet's shared L2 and rate limit, when configured
    limiter = cache.RateLimiter(s.rate_per_sec) if l2 is None \
        else shared.FleetRateLimiter(l2, s.rate_per_sec)
    for name in shared.SHARED_CACHES if l2 is not None else ():
        caches[name].shared = l2
    return _Layer(s, provider, reason or provider.name, budget, executor, scan_pool,
                  limiter, caches, shared=l2)


def _get() -> _Layer:
    global _layer
    if _layer is None:
        with _layer_lock:
            if _layer is None:
                _layer = _build(None, None)
    return _layer


def reset(provider: Provider | None = None, *, reason: str | None = None) -> None:
    """Drop every cache and rebuild the layer from the current settings (tests, benches).

    ``provider`` injects a source (e.g. a counting or failing wrapper around the simulated
    market); ``None`` picks one from ``OPTIONS_DASH_PROVIDER`` on first use.
    """
    global _layer
    with _layer_lock:
        old, _layer = _layer, None
        with cache.LOCK:
            cache.REGISTRY.clear()
        if old is not None:
            if old.shared is not None:
                old.shared.close()
            for c in old.caches.values():  # each cache kind's refresh pool (chain: executor)
                if c._executor is not None:
                    c._executor.shutdown(wait=False, cancel_futures=True)
            old.executor.shutdown(wait=False, cancel_futures=True)
            old.scan_pool.shutdown(wait=False, cancel_futures=True)
        if provider is not None:
            _layer = _build(provider, reason or f"injected {provider.name}")


def provider_info() -> dict:
    """Which source serves data and why (``name``, ``reason``, ``simulated``)."""
    layer = _get()
    return {"name": layer.provider.name, "reason": layer.provider_reason,
            "simulated": layer.provider.name == "simulated"}


def settings() -> config.Settings:
    """The caps and TTLs in force (pages read their caps from here)."""
    return _get().settings


def shared_status() -> dict | None:
    """The shared cache's status (``core.shared.L2.status``), or None when there is none."""
    l2 = _get().shared
    return None if l2 is None else l2.status()


def fleet_lock(name: str, token: str, seconds: float) -> bool:
    """Hold the fleet-wide lock ``name`` for ``seconds`` (renewed while ``token`` holds it):
    True when this caller may act for the fleet (``core.shared.L2.hold``); always True in one
    process without a shared cache."""
    l2 = _get().shared
    return True if l2 is None else l2.hold(name, token, seconds)


def limiter_stats() -> dict:
    return _get().limiter.stats()


def budget_stats() -> dict:
    with cache.LOCK:
        return _get().budget.stats()


# --- plumbing ----------------------------------------------------------------------------------

def _upstream(layer: _Layer, fn: Callable, *args):
    """One provider call through the source's circuit breaker (fails fast while the source is
    down, see :mod:`core.breaker`) and the process-wide limiter (remote sources only), with
    shared back-off after a rate limit. An unexpected exception from the provider is logged
    with its traceback and becomes :class:`Unavailable`."""
    gate = _breaker(layer, fn)
    gate.admit()
    try:
        if getattr(layer.provider, "remote", True):
            layer.limiter.acquire()
        result = fn(*args)
    except RateLimited:
        gate.succeeded()  # the source answered
        log.warning("upstream rate limit: backing off %.0f s", layer.limiter.penalise())
        raise
    except Unavailable:
        gate.failed()
        raise
    except DataError:
        gate.succeeded()
        raise
    except Exception as exc:  # noqa: BLE001 - a provider bug must not reach a page as a crash
        gate.failed()
        log.exception("provider %s.%s%r failed unexpectedly", gate.name,
                      getattr(fn, "__name__", "call"), args)
        raise Unavailable("The data source sent an answer that could not be read.") from exc
    gate.succeeded()
    layer.limiter.reward()
    return result


def _guard(layer: _Layer, symbol: object) -> str:
    """Validate (raises InvalidSymbol, costs nothing) and consult the negative cache."""
    sym = symbols.validate(symbol)
    known_missing = layer.caches["not_found"].peek(sym)
    if known_missing is not None:
        raise SymbolNotFound(known_missing, symbol=sym)
    return sym


def _serve(layer: _Layer, name: str, key, sym: str, loader: Callable, ttl=None) -> cache.Served:
    store = layer.caches[name]
    down = layer.caches["unavailable"].peek((name, key)) if layer.settings.negative_outage else None
    if down is not None and not store.has(key):
        raise Unavailable(down, symbol=sym)  # failed moments ago and no copy: do not wait again
    try:
        return store.get(key, loader, fresh_ttl=ttl)
    except SymbolNotFound as exc:
        layer.caches["not_found"].put(sym, str(exc))
        raise
    except Unavailable as exc:
        if layer.settings.negative_outage:
            layer.caches["unavailable"].put((name, key), str(exc))
        raise


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise NoExpiry(f"'{value}' is not an expiry date (YYYY-MM-DD).") from None


# --- outage memory and answer checks ---------------------------------------------------------------

def _breaker(layer: _Layer, fn: Callable) -> breaker.CircuitBreaker:
    """The breaker of the source ``fn`` belongs to: FINRA's file, or the layer's provider."""
    name = "finra" if getattr(fn, "__module__", "") == finra.__name__ else layer.provider.name
    gate = layer.breakers.get(name)
    if gate is None:
        with _layer_lock:
            gate = layer.breakers.setdefault(name, breaker.CircuitBreaker(
                name, failures=layer.settings.breaker_failures,
                open_s=layer.settings.breaker_open_s))
    return gate


def outage() -> dict | None:
    """The source's outage when its breaker is open: ``{"source", "down_since" (ET datetime),
    "state"}``; None while it answers."""
    layer = _get()
    for gate in list(layer.breakers.values()):
        if gate.is_open and gate.name != "finra":
            return {"source": gate.name, "down_since": gate.down_since, "state": gate.state}
    return None


def breaker_stats() -> list[dict]:
    return [g.stats() for g in list(_get().breakers.values())]


def _unusable(what: str) -> Unavailable:
    log.error("provider answer refused: %s", what)
    return Unavailable(f"The data source sent an unusable answer ({what}).")


def _finite_positive(value) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def _checked_quote(q) -> Quote:
    """A provider's quote, refused (Unavailable) unless it is a Quote with a finite price > 0."""
    if not isinstance(q, Quote) or not _finite_positive(q.price):
        raise _unusable(f"quote price {getattr(q, 'price', q)!r}")
    return q


def _checked_chain(c) -> Chain:
    """A provider's chain, refused (Unavailable) unless it is a Chain with a finite spot > 0
    and every raw column of the canonical schema."""
    if not isinstance(c, Chain) or not isinstance(c.frame, pd.DataFrame):
        raise _unusable(f"a {type(c).__name__} instead of a chain")
    if not _finite_positive(c.spot):
        raise _unusable(f"{c.symbol} spot {c.spot!r}")
    missing = [col for col in RAW_COLUMNS if col not in c.frame.columns]
    if missing:
        raise _unusable(f"{c.symbol} chain without {', '.join(missing[:3])}")
    return c


def _checked_expiries(listed) -> tuple:
    """A provider's expiry list as a tuple of dates, refused (Unavailable) otherwise."""
    try:
        out = tuple(listed)
    except TypeError:
        raise _unusable(f"expiries {listed!r}") from None
    if not all(isinstance(e, dt.date) for e in out):
        raise _unusable("an expiry that is not a date")
    return out


_PAGE_POOL = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fetch-page")


def many(fn: Callable[[Any], Any], items: Iterable, *, deadline: float | None = None
         ) -> dict[Any, Any]:
    """``{item: fn(item) or the DataError it raised}`` for several items (a page's symbols),
    all under ONE deadline (default ``page_deadline`` seconds): an item not done by then maps
    to Unavailable, so a page with four symbols waits at most one deadline, not four timeouts.
    An unexpected exception is logged and maps to Unavailable. ``fn`` must fetch through this
    module (shared, cached, rate-limited).

    Each item is first tried on the caller's thread under :func:`core.cache.no_wait`: served
    from the caches (fresh or stale) it costs microseconds and no thread hop. Only an item that
    would wait (a miss, or a load in flight) goes to the shared page pool, in parallel. (With
    every item sent to the 8-thread pool, 100 sessions on the live pages queued behind each
    other there: fragment runs p95 2.1 s on an idle CPU, BENCHMARKS.md "The cluster".)"""
    items = list(dict.fromkeys(items))
    wait = _get().settings.page_deadline if deadline is None else deadline
    out: dict[Any, Any] = {}
    futures: dict[Any, cf.Future] = {}
    for item in items:
        try:
            with cache.no_wait():
                out[item] = _one(fn, item, inline=True)
        except cache.WouldWait:
            futures[item] = _PAGE_POOL.submit(_one, fn, item)
    done, _ = cf.wait(futures.values(), timeout=wait)
    for item, fut in futures.items():
        out[item] = fut.result() if fut in done else \
            Unavailable(f"No answer within {wait:g} s; try again shortly.")
    return {item: out[item] for item in items}


def _one(fn: Callable[[Any], Any], item: Any, inline: bool = False) -> Any:
    """``fn(item)``, or the DataError it raised, or Unavailable for a bug (logged)."""
    try:
        return fn(item)
    except DataError as exc:
        return exc
    except Exception:  # noqa: BLE001 - one section's bug must not sink the page
        log.exception("fetch.many: %r failed%s", item, " (inline)" if inline else "")
        return Unavailable("This part could not be loaded (logged for the operator).")


# --- quotes ------------------------------------------------------------------------------------

def quote(symbol: str) -> Quote:
    """The underlying's price (fresh TTL ``ttl_quote``)."""
    layer = _get()
    sym = _guard(layer, symbol)
    served = _serve(layer, "quote", sym, sym,
                    lambda: _checked_quote(_upstream(layer, layer.provider.quote, sym)))
    return dataclasses.replace(served.value, stale=True) if served.stale else served.value


def quotes(symbol_list: Iterable[str]) -> dict[str, Quote | DataError]:
    """Quotes for a watchlist (capped at ``max_watchlist``); a failing symbol maps to its error."""
    layer = _get()
    good, _ = symbols.validate_many(symbol_list, cap=layer.settings.max_watchlist)
    out: dict[str, Quote | DataError] = {}
    for sym in good:
        try:
            out[sym] = quote(sym)
        except DataError as exc:
            out[sym] = exc
    return out


# --- expiries and chains -----------------------------------------------------------------------

def _load_listing(layer: _Layer, sym: str) -> tuple[dt.date, ...]:
    """The expiry list from upstream. A provider whose expiry list comes with the nearest
    expiry's chain in the same answer (Yahoo's no-date options request: ``listing``) hands that
    chain over too; it is priced and cached here, so a cold view of the nearest expiry costs
    one upstream request, not two."""
    listing = getattr(layer.provider, "listing", None)
    if listing is None:
        return tuple(_upstream(layer, layer.provider.expirations, sym))
    listed, nearest = _upstream(layer, listing, sym)
    if nearest is not None:
        try:
            priced = with_greeks(nearest, layer.settings.risk_free)
        except Exception:  # noqa: BLE001 - the list stands; the chain is fetched on its own
            log.exception("pricing the nearest chain of %s failed", sym)
        else:
            layer.caches["chain"].put((sym, nearest.expiry), priced,
                                      fresh_ttl=_chain_ttl(layer, nearest.expiry))
    return tuple(listed)


def expirations(symbol: str) -> list[dt.date]:
    """Listed expiries still trading at ``clock.now()``, ascending."""
    layer = _get()
    sym = _guard(layer, symbol)
    served = _serve(layer, "expirations", sym, sym,
                    lambda: _checked_expiries(_load_listing(layer, sym)))
    now = clock.now()
    today = now.date()
    return [e for e in served.value if e > today or (e == today and clock.expiry_close(e) > now)]


def _chain_ttl(layer: _Layer, expiry: dt.date) -> float:
    near = (expiry - clock.today()).days <= NEAR_TERM_DAYS
    return layer.settings.ttl_chain_near if near else layer.settings.ttl_chain_far


def with_greeks(chain: Chain, rate: float) -> Chain:
    """The provider's chain made price-consistent at ``clock.now()``: parity forward, OUR IVs
    solved from the mids, greeks at the live spot with T from now, flags recomputed
    (:func:`core.analytics.pricing.price_chain`, whose docstring says which spot and which T
    each number uses). Returns a new Chain; the input is unchanged."""
    return pricing.price_chain(chain, rate=rate, market=pricing.market_at(clock.now()))


def compact_chain(chain: Chain) -> Chain:
    """The chain as the cache keeps it: same data, its frame laid out by
    :func:`core.cache.compact_frame` (consolidated blocks, the shared column Index), the
    :data:`core.schema.CATEGORIES` columns as shared categoricals (only when every value is one
    of the categories: nothing is ever turned into NaN)."""
    frame = chain.frame
    cats = {c: pd.Categorical(frame[c].to_numpy(dtype=object), dtype=d)  # d itself, shared
            for c, d in _CATEGORIES.items()
            if c in frame and frame[c].dtype is not d and frame[c].isin(d.categories).all()}
    if cats:
        frame = frame.assign(**cats)
    return dataclasses.replace(chain, frame=cache.compact_frame(frame))


def cap_strikes(chain: Chain, n: int) -> Chain:
    """The ``n`` strikes nearest spot (calls and puts at each), sorted; flags STRIKES_CAPPED when
    strikes were dropped. When none is dropped the result IS ``chain`` (same object, no copy).
    Ties in distance to spot keep the lower strike."""
    frame = chain.frame
    strikes = np.unique(frame["strike"].to_numpy())  # ascending, so a tie keeps the lower
    if len(strikes) <= n:
        return chain
    keep = strikes[np.argsort(np.abs(strikes - chain.spot), kind="stable")[:n]]
    frame = cache.compact_frame(frame[frame["strike"].isin(keep)].reset_index(drop=True))
    return dataclasses.replace(chain, frame=frame, flags=chain.flags | {STRIKES_CAPPED})


def _require_listed(sym: str, expiry: dt.date) -> None:
    listed = expirations(sym)
    if expiry not in listed:
        later = [e for e in listed if e > expiry]
        raise NoExpiry(f"{sym} has no expiry on {expiry:%a %d %b %Y}"
                       + (f"; the next is {later[0]:%a %d %b}." if later else "."),
                       symbol=sym, next_expiry=later[0] if later else None)


def _full_chain(layer: _Layer, sym: str, expiry: dt.date) -> cache.Served:
    """The cached full chain. The listing is checked on a miss (a cached chain was listed) and
    whenever the expiry has passed its close (it rolled off while cached)."""
    now = clock.now()
    key = (sym, expiry)
    if (expiry <= now.date() and clock.expiry_close(expiry) <= now) \
            or not layer.caches["chain"].has(key):
        _require_listed(sym, expiry)
    rate = layer.settings.risk_free
    return _serve(layer, "chain", key, sym,
                  lambda: with_greeks(_checked_chain(
                      _upstream(layer, layer.provider.chain, sym, expiry)), rate),
                  ttl=_chain_ttl(layer, expiry))


def chain(symbol: str, expiry: dt.date | str, strikes: int | None = None) -> Chain:
    """One expiry's canonical chain with greeks, capped to the ``strikes`` nearest spot
    (default ``max_strikes``, at most ``max_strikes_hard``). Shared and read-only.

    Raises InvalidSymbol, SymbolNotFound, NoExpiry (with ``next_expiry``) or UpstreamError
    (only when there is no stale copy to serve; a stale copy comes back with ``stale=True``).
    """
    layer = _get()
    sym = _guard(layer, symbol)
    expiry = _as_date(expiry)
    served = _full_chain(layer, sym, expiry)
    full: Chain = served.value
    n = layer.settings.strikes(strikes)
    # The view lives on the chain's own cache entry: one per (version, n), gone with the chain
    # (evicted, expired, refreshed), its bytes counted in the entry; uncapped, it IS the chain.
    view = layer.caches["chain"].view((sym, expiry), full, ("strikes", n),
                                      lambda c: cap_strikes(c, n))
    return dataclasses.replace(view, stale=True) if served.stale else view


def chains(symbol: str, n: int | None = None, expiries: Iterable | None = None,
           strikes: int | None = None) -> list[Chain]:
    """Several expiries of one symbol: the given ``expiries`` or the next ``n`` listed, capped at
    ``max_expiries`` (clamped, never an error)."""
    layer = _get()
    cap = layer.settings.max_expiries
    if expiries is None:
        wanted = expirations(symbol)[:max(1, min(n or cap, cap))]
    else:
        wanted = [_as_date(e) for e in expiries][:cap]
    return [chain(symbol, e, strikes) for e in wanted]


# --- price history -----------------------------------------------------------------------------

def history(symbol: str, period: str = "1mo", interval: str = "1d") -> pd.DataFrame:
    """OHLCV bars (tz-aware ET index ``time``; open high low close volume). Shared, read-only."""
    if period not in PERIODS or interval not in INTERVALS:
        raise ValueError(f"period must be one of {PERIODS}, interval one of {INTERVALS}")
    layer = _get()
    sym = _guard(layer, symbol)
    ttl = layer.settings.ttl_history if interval == "1d" else layer.settings.ttl_chain_near
    served = _serve(layer, "history", (sym, period, interval), sym,
                    lambda: _upstream(layer, layer.provider.history, sym, period, interval),
                    ttl=ttl)
    return served.value


# --- short volume (FINRA Reg SHO) --------------------------------------------------------------

def short_volume(symbol: str) -> dict | None:
    """The previous session's short-sale share for ``symbol`` from FINRA's Reg SHO daily file
    (one download per day, cached and shared), or the simulated market's equivalent when it is
    the source. None when neither is available: callers leave the component out and say so.
    Keys: symbol, date, short_volume, total_volume, short_share, source.
    """
    layer = _get()
    sym = _guard(layer, symbol)
    day = clock.previous_session(clock.today())
    store = layer.caches["short_volume"]
    simulated = getattr(layer.provider, "short_volume", None)
    try:
        if simulated is not None:
            return store.get(("simulated", sym, day),
                             lambda: _upstream(layer, simulated, sym, day)).value
        timeout = layer.settings.upstream_timeout
        table = store.get(("finra", day),
                          lambda: finra.parse(_upstream(layer, finra.download, day, timeout))).value
        return finra.lookup(table, sym)
    except DataError:
        return None


# --- derived results ---------------------------------------------------------------------------

class Content:
    """A :func:`derived` source named by what it holds: a frame whose cache entry carries no
    version of its own (history bars). Its key is (rows, columns, the sum of pandas' 64-bit
    row hashes of values and index), so equal bars share one result and a refreshed frame
    with any changed value gets a new one. Costs one hash pass over the frame per call
    (~0.3 ms for a day of 5-minute bars). ``frame`` is the shared, read-only frame."""

    __slots__ = ("frame", "key")

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.key = ("content", len(frame), tuple(map(str, frame.columns)),
                    int(pd.util.hash_pandas_object(frame, index=True).sum()))


def _source_key(source: Any):
    if isinstance(source, Content):
        return source.key
    if isinstance(source, Chain):
        return ("chain", source.symbol, source.expiry, source.as_of, source.priced_at,
                len(source.frame))
    if isinstance(source, Quote):
        return ("quote", source.symbol, source.as_of)
    if isinstance(source, (list, tuple)):
        return tuple(_source_key(s) for s in source)
    if isinstance(source, pd.DataFrame):
        raise TypeError("derived(): pass the Chain, not its frame, so the key names its version")
    return source


def derived(name: str, fn: Callable[..., Any], *sources: Any, **params: Any) -> Any:
    """``fn(*sources, **params)`` computed once per source version for every session.

    The key is ``name`` + ``fn``'s qualified name + the identity of each source (a Chain is
    identified by symbol, expiry and ``as_of``, so a refreshed chain gets a fresh result) + the
    params. ``fn`` must be pure and its result is shared and read-only. When every source is
    one cached chain or one of its views, the value is a view of that chain's entry (see
    :func:`_anchored`): the next version gets it from the refresh, with no reader waiting.
    """
    layer = _get()
    ident = (name, f"{fn.__module__}.{fn.__qualname__}", tuple(sorted(params.items())))
    anchored = _anchored(layer, ident, fn, sources, params)
    if anchored is not None:
        return anchored
    key = (ident[0], ident[1], tuple(_source_key(s) for s in sources), ident[2])
    return layer.caches["derived"].get(key, lambda: fn(*sources, **params)).value


def _anchored(layer: _Layer, ident: tuple, fn, sources, params) -> Any | None:
    """The derived value as a view of ONE chain entry, when every source is that entry's chain
    or one of its views (a strike-capped chain, key levels, ...): then it lives and dies with
    the entry, and a refresh of the chain derives it for the new version before readers see
    that version (``BoundedCache._warm``). None when the sources are anything else (several
    chains, a frame, a quote): the ``derived`` cache serves those."""
    first = next((s for s in sources if isinstance(s, Chain)), None)
    if first is None:
        return None
    chains = layer.caches["chain"]
    key = (first.symbol, first.expiry)
    found = chains.anchor(key, sources)
    if found is None:
        return None
    value, parts = found

    def make(full):  # the same computation on any version of the entry's chain
        args = [full if p is None else chains.view(key, full, p[0], p[1]) for p in parts]
        return fn(*args, **params)
    view = ("derived", *ident, tuple(None if p is None else p[0] for p in parts))
    return chains.view(key, value, view, make)


# --- shared scans ------------------------------------------------------------------------------

MAX_SCANS = 8  # distinct scans running at once, process-wide
MAX_QUEUED_SCANS = 64  # scans waiting for a slot; past it a new scan is refused (RateLimited)
EMPTY_SCAN_TTL = 10.0  # seconds a scan with no result at all (source down) is served as is


class ScanJob:
    """A multi-symbol job shared by every session that asks for the same scan.

    ``fn(symbol)`` runs for each symbol on the layer's bounded scan pool; a task that raises a
    DataError, or runs longer than ``task_timeout`` seconds, is recorded in ``skipped`` with the
    reason and never holds up the rest. ``results`` maps symbol -> value in the input order.
    Sessions read ``progress`` while it runs; the finished job is cached and shared (read-only).
    """

    def __init__(self, name: str, symbol_list: list[str], task_timeout: float):
        self.name = name
        self.symbols = symbol_list
        self.total = len(symbol_list)
        self.task_timeout = task_timeout
        self.results: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.started_at = clock.now()
        self.finished_at: dt.datetime | None = None
        self.queued = False  # waiting for a scan slot (see scan_queue_position)
        self._done = threading.Event()

    @property
    def completed(self) -> int:
        return len(self.results) + len(self.skipped)

    @property
    def progress(self) -> float:
        return self.completed / self.total if self.total else 1.0

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def ordered_results(self) -> list[tuple[str, Any]]:
        return [(s, self.results[s]) for s in self.symbols if s in self.results]

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + cache.sizeof(self.results) + cache.sizeof(self.skipped)

    def _run(self, pool: cf.Executor, fn: Callable[[str], Any], on_done: Callable) -> None:
        started: dict[str, float] = {}

        def task(sym):
            started[sym] = time.monotonic()
            return fn(sym)

        futures = {}
        try:
            futures = {pool.submit(task, sym): sym for sym in self.symbols}
        except RuntimeError:  # the pool was shut down (reset / exit)
            for sym in self.symbols:
                self.skipped.setdefault(sym, "scan cancelled")
        pending = dict(futures)
        while pending:
            finished, _ = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                sym = pending.pop(fut)
                try:
                    self.results[sym] = fut.result()
                except DataError as exc:
                    self.skipped[sym] = str(exc)
                except cf.CancelledError:
                    self.skipped[sym] = "scan cancelled"
                except Exception:  # noqa: BLE001 - one bad symbol must not sink the scan
                    log.exception("scan %s: %s failed", self.name, sym)
                    self.skipped[sym] = "internal error (logged)"
            now = time.monotonic()
            for fut, sym in list(pending.items()):
                if sym in started and now - started[sym] > self.task_timeout:
                    pending.pop(fut)
                    self.skipped[sym] = f"timed out after {self.task_timeout:.0f} s"
        self.finished_at = clock.now()
        self._finish(on_done)

    def _finish(self, on_done: Callable) -> None:
        """Hand the finished job to ``on_done`` (which caches it and marks it done under one
        lock, see :func:`scan`); done even if ``on_done`` fails, so no waiter hangs."""
        try:
            on_done(self)
        finally:
            self._done.set()


class FleetScanJob(ScanJob):
    """A :class:`ScanJob` of a fleet (an L2 configured): it runs here only while this replica
    leads its key (:class:`core.shared.FleetScan`: the leader's lock); otherwise it follows —
    ``completed`` is the leader's count, read from Redis every ``shared.SCAN_POLL_S`` — and
    takes the leader's finished result from Redis. A leader that dies (its lock expires) is
    replaced by a follower, which runs the scan itself. Redis unreachable: it runs here."""

    def __init__(self, name: str, symbol_list: list[str], task_timeout: float,
                 fleet: shared.FleetScan, store: cache.BoundedCache, *,
                 baseline: float | None, following: bool):
        super().__init__(name, symbol_list, task_timeout)
        self.fleet = fleet
        self.store = store
        self.baseline = baseline  # stored time of the result this replica has (None: none)
        self.following = following  # a leader runs it elsewhere: started without a slot
        self.fleet_stored: float | None = None  # stored time of its result in Redis
        self.led = False
        self._seen = 0  # the leader's completed count, while following

    @property
    def completed(self) -> int:
        return max(len(self.results) + len(self.skipped), self._seen)

    def _run(self, pool: cf.Executor, fn: Callable[[str], Any], on_done: Callable) -> None:
        mode = self._follow()
        if mode == "adopted":
            self._finish(on_done)
            return
        if mode == "lead":
            self.led = True
            threading.Thread(target=self._beat, name=f"scan-beat-{self.name}",
                             daemon=True).start()

            def finish(job: ScanJob) -> None:
                try:
                    self._share()
                except Exception:  # noqa: BLE001 - sharing must never lose the local result
                    log.exception("scan %s: publishing to the fleet failed", self.name)
                on_done(job)
            return super()._run(pool, fn, finish)
        super()._run(pool, fn, on_done)

    def _follow(self) -> str:
        """Wait for the fleet: ``adopted`` (a newer result came from Redis), ``lead`` (this
        job took the lock) or ``local`` (Redis unavailable, results not shareable, or the
        leader took longer than the scan could: run it here)."""
        deadline = time.monotonic() + self.total * self.task_timeout + 2 * shared.SCAN_LOCK_S
        while True:
            polled = self.fleet.poll()
            if polled is None:
                return "local"
            led, progress = polled
            if progress.get("state") == "local":
                return "local"
            if led:
                if progress.get("state") == "running":
                    self._seen = min(int(progress.get("completed", 0)), self.total)
            elif self._adopt_newer():
                return "adopted"
            elif self.fleet.take():
                self._seen = 0
                self.fleet.count_run(self.name)
                return "lead"
            if time.monotonic() > deadline:
                log.warning("scan %s: the fleet's leader is too slow; scanning here", self.name)
                return "local"
            time.sleep(shared.SCAN_POLL_S)

    def _adopt_newer(self) -> bool:
        state = self.fleet.state()
        if state is None or state.entry is None:
            return False
        if self.baseline is not None and shared.entry_head(state.entry)[0] <= self.baseline:
            return False
        done = _scan_from_entry(self.name, self.symbols, state.entry)
        if done is None:
            return False
        self.results, self.skipped = done.results, done.skipped
        self.started_at, self.finished_at = done.started_at, done.finished_at
        self.fleet_stored = done.fleet_stored
        return True

    def _beat(self) -> None:
        """While leading: progress for followers every poll, the lock renewed."""
        renew_at = time.monotonic() + shared.SCAN_LOCK_S / 3
        while True:
            self.fleet.publish_progress(self.completed, self.total)
            if self._done.wait(shared.SCAN_POLL_S):
                return
            if time.monotonic() >= renew_at:
                self.fleet.take()
                renew_at = time.monotonic() + shared.SCAN_LOCK_S / 3

    def _share(self) -> None:
        stored = clock.timer()
        fresh = self.store.fresh_ttl if self.results else EMPTY_SCAN_TTL
        payload = {"name": self.name, "symbols": self.symbols, "task_timeout": self.task_timeout,
                   "results": self.results, "skipped": self.skipped,
                   "started_at": self.started_at, "finished_at": self.finished_at}
        if self.fleet.publish_result(payload, stored, fresh, self.store.max_age):
            self.fleet_stored = stored
        elif self.name not in _UNSHARED_SCANS:
            _UNSHARED_SCANS.add(self.name)
            log.warning("scan %s: its results cannot be encoded for the shared cache; every "
                        "replica runs it on its own", self.name)


_UNSHARED_SCANS: set[str] = set()  # scan names whose results the codec cannot encode
_ADOPT_LOCK = threading.Lock()  # one decode of a fleet result at a time per process


def _scan_from_entry(name: str, symbol_list: list[str], entry: bytes) -> ScanJob | None:
    """A finished :class:`ScanJob` from its L2 entry (None when it does not decode or is not
    this scan's)."""
    try:
        payload, stored, _ = shared.unpack(entry)
        if payload["name"] != name or list(payload["symbols"]) != list(symbol_list):
            return None
        job = ScanJob(name, list(symbol_list), float(payload["task_timeout"]))
        job.results, job.skipped = dict(payload["results"]), dict(payload["skipped"])
        job.started_at, job.finished_at = payload["started_at"], payload["finished_at"]
    except Exception:  # noqa: BLE001 - a bad entry is a miss, never an error
        log.exception("scan %s: a fleet result that does not decode", name)
        return None
    job.fleet_stored = stored
    job._done.set()
    return job


def _scan_stored(served: cache.Served | None) -> float | None:
    """When the scan ``served`` was finished (its fleet time, else when it entered the L1)."""
    if served is None:
        return None
    stored = getattr(served.value, "fleet_stored", None)
    return clock.timer() - served.age if stored is None else stored


def _scan_age(served: cache.Served) -> float:
    """A cached scan's age: in the L1 or, for one taken from the fleet, since it finished."""
    stored = getattr(served.value, "fleet_stored", None)
    return served.age if stored is None else max(served.age, clock.timer() - stored)


def _scan_fleet(layer: _Layer, name: str, key, store: cache.BoundedCache):
    """``(FleetScan, ScanState)`` for a scan to start or refresh with a fleet, after taking a
    newer finished result from Redis into the L1; None without one (no L2, Redis unavailable,
    a key or results that cannot be shared, or nothing to do: running here or fresh in L1)."""
    if layer.shared is None or name in _UNSHARED_SCANS:
        return None
    with cache.LOCK:
        if key in layer.running or key in layer.queued:
            return None
        served = store.lookup(key)
    if served is not None and _scan_age(served) < (
            store.fresh_ttl if served.value.results else EMPTY_SCAN_TTL):
        return None
    fleet = shared.FleetScan.of(layer.shared, key)
    state = None if fleet is None else fleet.state()
    if state is None:
        return None
    if state.entry is not None:
        stored = shared.entry_head(state.entry)[0]
        with _ADOPT_LOCK:  # N sessions of a cold replica decode it once
            have = _scan_stored(store.lookup(key))
            if have is None or stored > have:
                done = _scan_from_entry(name, list(key[1]), state.entry)
                if done is not None:
                    store.put(key, done)
    return fleet, state


def _scans_leading(layer: _Layer) -> int:
    """Running scans that hold a slot (a follower of another replica's scan holds none)."""
    return sum(1 for job in layer.running.values() if not getattr(job, "following", False))


def scan(name: str, fn: Callable[[str], Any], symbol_list: Iterable[str], *,
         task_timeout: float | None = None, **params: Any) -> ScanJob:
    """Start or join the shared scan ``name`` over ``symbol_list`` (validated, capped at
    ``max_watchlist``). Returns at once: a running job (watch ``progress``), or the cached
    finished one. After the fresh TTL the cached result keeps being served while one refresh
    runs; it is replaced when that refresh finishes. ``fn(symbol, **params)`` must be pure and
    fetch through this module (so upstream calls stay shared, cached and rate-limited).
    With a shared cache (an L2) the job is a :class:`FleetScanJob`: the scan runs on one
    replica of the fleet and the others follow its progress and serve its result (a finished
    result found in Redis is served at once, a stale one while one refresh runs somewhere).
    """
    layer = _get()
    good, _ = symbols.validate_many(symbol_list, cap=layer.settings.max_watchlist)
    key = (name, tuple(good), tuple(sorted(params.items())))
    store = layer.caches["scan"]
    timeout = task_timeout or 2 * layer.settings.upstream_timeout
    fleet = _scan_fleet(layer, name, key, store)  # None in one process: the local path only
    with cache.LOCK:
        running = layer.running.get(key) or layer.queued.get(key, (None,))[0]
        served = store.lookup(key)
        last = served.value if served is not None and served.value.results else None
        if running is not None:  # join it, or keep showing the last result while it refreshes
            store.joins += 1
            return last or running
        # a scan where every symbol failed is retried soon, not served for the whole TTL
        fresh_for = store.fresh_ttl if served is None or served.value.results else EMPTY_SCAN_TTL
        if served is not None and _scan_age(served) < fresh_for:
            store.hits += 1
            return served.value
        job = ScanJob(name, good, timeout) if fleet is None else FleetScanJob(
            name, good, timeout, fleet[0], store, baseline=_scan_stored(served),
            following=fleet[1].led)
        store.misses += 1
        store.upstream_calls += 1

    def on_done(finished: ScanJob) -> None:
        with cache.LOCK:  # a reader sees it running, or cached and done: never cached, not done
            store.put(key, finished)
            layer.running.pop(key, None)
            finished._done.set()
        start_queued_scans()

    task = (lambda sym: fn(sym, **params)) if params else fn
    with cache.LOCK:
        if getattr(job, "following", False):  # another replica runs it: follow, no slot
            layer.running[key] = job
        elif _scans_leading(layer) >= _scan_slots() or layer.queued:
            # no free slot (or memory pressure): wait in line, visibly (scan_queue_position)
            if len(layer.queued) >= MAX_QUEUED_SCANS:
                if last is not None:
                    return last
                raise RateLimited("Too many scans are waiting right now; try again in a "
                                  "minute.")
            job.queued = True
            layer.queued[key] = (job, task, on_done)
        else:
            layer.running[key] = job
    if not job.queued:
        _start_scan(layer, job, task, on_done)
    start_queued_scans()
    return last or job


def _start_scan(layer: _Layer, job: ScanJob, task: Callable, on_done: Callable) -> None:
    threading.Thread(target=job._run, args=(layer.scan_pool, task, on_done),
                     name=f"scan-{job.name}", daemon=True).start()


def _scan_slots() -> int:
    """Scans that may run at once: MAX_SCANS, or ONE under memory pressure (the governor's
    shed level), so new scans wait in the queue but the queue still moves."""
    from core import governor

    return 1 if governor.hold_scans() else MAX_SCANS


def start_queued_scans() -> int:
    """Start waiting scans, oldest first, while slots are free and memory allows (called when a
    scan finishes and by the memory governor). Returns how many started."""
    layer = _get()
    started = []
    with cache.LOCK:
        while layer.queued and _scans_leading(layer) < _scan_slots():
            key = next(iter(layer.queued))
            job, task, on_done = layer.queued.pop(key)
            job.queued = False
            job.started_at = clock.now()
            layer.running[key] = job
            started.append((job, task, on_done))
    for job, task, on_done in started:
        _start_scan(layer, job, task, on_done)
    return len(started)


def scan_queue_position(job: ScanJob) -> int | None:
    """1 for the next scan to start, 2 behind it, ...; None when ``job`` is not waiting."""
    if not job.queued:
        return None
    with cache.LOCK:
        for i, (queued, _, _) in enumerate(_get().queued.values(), start=1):
            if queued is job:
                return i
    return None


def scan_known(name: str, symbol_list: Iterable[str], **params: Any) -> bool:
    """True when :func:`scan` with these arguments would join or serve an existing scan (costs
    nothing upstream): running, waiting, or cached and fresh — here or, with a shared cache,
    anywhere in the fleet (led by another replica, or fresh in Redis). Used for per-session
    budgets."""
    layer = _get()
    good, _ = symbols.validate_many(symbol_list, cap=layer.settings.max_watchlist)
    key = (name, tuple(good), tuple(sorted(params.items())))
    with cache.LOCK:
        if key in layer.running or key in layer.queued:
            return True
        served = layer.caches["scan"].lookup(key)
        if served is not None and _scan_age(served) < layer.caches["scan"].fresh_ttl:
            return True
    # with a fleet: another replica runs it, or its fresh result is in Redis
    fleet = shared.FleetScan.of(layer.shared, key) if name not in _UNSHARED_SCANS else None
    state = None if fleet is None else fleet.state()
    if state is None:
        return False
    if state.led:
        return True
    if state.entry is None:
        return False
    stored, fresh = shared.entry_head(state.entry)
    return clock.timer() - stored < fresh


def known(symbol: str) -> bool:
    """True when ``symbol`` costs no new upstream lookup: in the universe, or already cached
    (a quote or an expiry list). Invalid symbols are not known."""
    try:
        sym = symbols.validate(symbol)
    except DataError:
        return False
    if symbols.listing(sym) is not None:
        return True
    layer = _get()
    return any(layer.caches[c].lookup(sym) is not None for c in ("quote", "expirations"))


# --- levels every page shows -------------------------------------------------------------------

def _key_levels(c: Chain) -> levels.KeyLevels:
    return levels.key_levels(c.frame, c.spot, c.t_years, c.rate, c.div_yield)


def key_levels(symbol: str, expiry: dt.date | str) -> levels.KeyLevels:
    """Walls, zero gamma, max pain, volume pivot, P/C and expected move of one expiry, computed
    on the FULL chain (up to ``max_strikes_hard`` strikes, not the page's view) once per chain
    version for every session. T is the chain's ``t_years`` (from when it was priced to the
    expiry's close), so a 0DTE expected move uses the time left in today's session. Levels that
    need open interest are None (net GEX NaN) while OI is not published."""
    c = chain(symbol, expiry, strikes=_get().settings.max_strikes_hard)
    result = derived("key_levels", _key_levels, c)
    return result


# --- traded premium from consecutive chain versions -------------------------------------------
#
# A chain snapshot gives each contract's volume for the WHOLE day but only the CURRENT mid, so
# "volume × mid" values the morning's trades at the afternoon's price: on a 0DTE the call/put
# split then follows the day's move. Each time the fetch layer loads a new version of a chain it
# adds, per contract, the volume traded since the previous version valued at this version's mid
# (Δvolume × mid × 100). Kept in the bounded ``premium_tape`` cache, one tape per (symbol,
# expiry), shared by every session; a new session day (ET) starts a new tape.

TAPE_HISTORY_SHARE = 0.5  # at least this share of the day's volume priced at a refresh's mid
TAPE_EXPIRIES = 3  # tapes are kept for a symbol's first listed expiries (where flow is read)
_tape_lock = threading.Lock()  # one writer at a time (read, extend, put)


@dataclasses.dataclass(frozen=True, eq=False)
class PremiumTape:
    """One chain's tape, per contract of the last version (arrays aligned with ``contracts``):
    ``call`` (bool), ``volume`` (contracts, as of the last version), ``premium`` ($ accumulated)
    and ``baseline`` (the volume already traded when the tape started, valued at the first
    version's mid). Plain arrays, no frame: ~9 KB a 212-contract tape instead of ~18 KB (the
    frame's index, its string ``type`` column and blocks); a first version's ``baseline`` IS its
    ``volume`` array (kept once). :attr:`frame` builds the frame view. Shared and read-only."""

    symbol: str
    expiry: dt.date
    session: dt.date
    first_as_of: dt.datetime
    as_of: dt.datetime
    versions: int
    contracts: np.ndarray  # fixed-width bytes (numpy "S<n>"): one buffer, no string objects
    call: np.ndarray
    volume: np.ndarray
    premium: np.ndarray
    baseline: np.ndarray

    @property
    def frame(self) -> pd.DataFrame:
        """The tape as a frame indexed by ``contract`` (built on each call; for reading)."""
        return pd.DataFrame({"type": np.where(self.call, "call", "put"), "volume": self.volume,
                             "premium": self.premium, "baseline": self.baseline},
                            index=pd.Index(np.char.decode(self.contracts, "utf-8"),
                                           name="contract"))


@dataclasses.dataclass(frozen=True)
class TradedPremium:
    """Call and put premium traded today ($) in one chain, and how it was estimated.

    ``method``: ``"refreshes"`` — Σ over consecutive chain versions of Δvolume × that version's
    mid × 100 (the volume traded before the first version is valued at its mid); or
    ``"current mid"`` — day volume × the current mid × 100 (no usable history yet).
    ``covered`` = share of today's volume that was priced at a refresh's mid (0–1);
    ``versions`` chain versions seen since ``since`` (ET). ``label`` says it in words.
    """

    call: float
    put: float
    method: str
    versions: int
    covered: float
    since: dt.datetime | None

    @property
    def has_history(self) -> bool:
        return self.method == "refreshes"

    @property
    def label(self) -> str:
        if not self.has_history:
            return "volume × current mid"
        return (f"Δvolume × mid per refresh ({self.versions} versions since "
                f"{self.since.astimezone(clock.ET):%H:%M} ET, {self.covered:.0%} of volume)")


def _contract_keys(frame: pd.DataFrame) -> np.ndarray:
    """The contract symbols as UTF-8 bytes in one fixed-width numpy array (exact, compact)."""
    return np.array([str(c).encode("utf-8") for c in frame["contract"]], dtype="S")


def _tape_start(chain: Chain, session: dt.date) -> PremiumTape:
    f = chain.frame
    volume = f["volume"].to_numpy(dtype="float64")
    premium = volume * f["mid"].to_numpy(dtype="float64") * 100.0
    return PremiumTape(chain.symbol, chain.expiry, session, chain.as_of, chain.as_of, 1,
                       _contract_keys(f), (f["type"] == "call").to_numpy(dtype=bool), volume,
                       premium, volume)


def _tape_next(tape: PremiumTape, chain: Chain) -> PremiumTape:
    """The tape after one more version: per contract Δvolume = max(volume − last volume, 0)
    (a contract new to the chain: all its volume) valued at this version's mid. Contracts that
    left the chain leave the tape."""
    f = chain.frame
    keys = _contract_keys(f)
    at = np.arange(len(keys)) if np.array_equal(keys, tape.contracts) \
        else pd.Index(tape.contracts).get_indexer(keys)  # -1: new to the chain
    known = at >= 0

    def carried(values: np.ndarray) -> np.ndarray:  # the tape's value per contract (NaN: 0)
        out = np.zeros(len(keys))
        out[known] = np.nan_to_num(values[at[known]])
        return out
    volume = f["volume"].to_numpy(dtype="float64")
    delta = np.where(known, np.clip(volume - carried(tape.volume), 0.0, None), volume)
    mid = f["mid"].to_numpy(dtype="float64")
    premium = carried(tape.premium) + delta * np.nan_to_num(mid) * 100.0
    baseline = carried(tape.baseline)
    return dataclasses.replace(tape, as_of=chain.as_of, versions=tape.versions + 1,
                               contracts=keys, call=(f["type"] == "call").to_numpy(dtype=bool),
                               volume=volume, premium=premium, baseline=baseline)


def record_premium(chain: Chain) -> Chain:
    """Add a newly loaded chain version to its tape (the chain cache calls this on every
    version it takes in: loaded here, or read from the shared L2); returns the chain unchanged.
    A version not newer than the tape's last is ignored; a new ET session day starts a new tape. Only a symbol's first :data:`TAPE_EXPIRIES` listed expiries get a tape
    (the flow components read the nearest expiry a day out): a tape per far expiry would cost
    ~16 KB for a number nobody reads."""
    layer = _get()
    listed = layer.caches["expirations"].peek(chain.symbol)
    if listed is not None and chain.expiry not in tuple(listed)[:TAPE_EXPIRIES]:
        return chain
    store = layer.caches["premium_tape"]
    key = (chain.symbol, chain.expiry)
    session = chain.as_of.astimezone(clock.ET).date()
    with _tape_lock:
        tape = store.peek(key)
        if tape is None or tape.session != session:
            store.put(key, _tape_start(chain, session))
        elif chain.as_of > tape.as_of:
            store.put(key, _tape_next(tape, chain))
    return chain


def traded_premium(chain: Chain) -> TradedPremium:
    """Call and put premium traded today in ``chain`` (a full chain from :func:`chain`), from
    its tape when the tape holds at least two versions and at least
    :data:`TAPE_HISTORY_SHARE` (50 %) of today's volume was priced at a refresh's mid; else day
    volume × the current mid × 100, labelled so (see :class:`TradedPremium`)."""
    tape = _get().caches["premium_tape"].peek((chain.symbol, chain.expiry))
    if tape is not None and tape.versions >= 2 and \
            tape.session == chain.as_of.astimezone(clock.ET).date():
        total = float(tape.volume.sum())
        covered = 1.0 - float(tape.baseline.sum()) / total if total > 0 else 0.0
        if covered >= TAPE_HISTORY_SHARE:
            calls = tape.call
            return TradedPremium(float(tape.premium[calls].sum()),
                                 float(tape.premium[~calls].sum()), "refreshes",
                                 tape.versions, covered, tape.first_as_of)
    split = flows.call_put_premium(chain.frame)
    return TradedPremium(split.call, split.put, "current mid",
                         0 if tape is None else tape.versions, 0.0,
                         None if tape is None else tape.first_as_of)


# --- recorded history (the recorder's Parquet dataset; see core.recorder) ----------------------
#
# Own bounded cache ``recorded`` in the registry (created on first use): a past day's rows never
# change (fresh for HISTORY_PAST_TTL), today's change at every snapshot (fresh for
# ``record_every``). Every read is limited to what was recorded at or before ``clock.now()``, so
# a replay clock sees the history as it stood then.

HISTORY_CACHE = "recorded"
HISTORY_PAST_TTL = 6 * 3600.0


@dataclasses.dataclass(frozen=True)
class RecordedOI:
    """Open interest per contract as recorded at ``snapshot``, the last snapshot of
    ``session`` (a session before today's). ``frame``: contract, type, strike, expiry,
    open_interest (every recorded expiry)."""

    session: dt.date
    snapshot: dt.datetime
    frame: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class OIChange:
    """ΔOI of the next expiries vs the previous session's recording (see
    :func:`core.analytics.history.oi_change`). ``frame`` is None when today's OI is not
    published yet (``reason`` says so)."""

    symbol: str
    previous: RecordedOI
    as_of: dt.datetime
    frame: pd.DataFrame | None
    reason: str | None = None


def _recorded(layer: _Layer) -> cache.BoundedCache:
    found = layer.caches.get(HISTORY_CACHE)
    if found is None:
        with _layer_lock:
            found = layer.caches.get(HISTORY_CACHE)
            if found is None:
                s = layer.settings
                found = cache.BoundedCache(
                    HISTORY_CACHE, max_entries=512, fresh_ttl=s.record_every,
                    max_age=HISTORY_PAST_TTL * 2, budget=layer.budget, executor=layer.executor,
                    wait_timeout=3 * s.upstream_timeout + 10)
                layer.caches[HISTORY_CACHE] = found
    return found


def recordings():
    """The recording store of this deployment's settings (``OPTIONS_DASH_RECORD_DIR``)."""
    from core import recorder

    return recorder.Store.from_settings(_get().settings)


def recorded_sessions(symbol: str) -> list[dt.date]:
    """Dates with recorded levels for ``symbol`` up to today, ascending (cached briefly)."""
    layer = _get()
    sym = symbols.validate(symbol)
    today = clock.today()
    days = _recorded(layer).get(("sessions", sym, today),
                                lambda: tuple(recordings().sessions(sym))).value
    return [d for d in days if d <= today]


def recorded_levels(symbol: str, day: dt.date) -> pd.DataFrame:
    """Every levels row of ``symbol`` recorded on ``day`` up to ``clock.now()`` (see
    :mod:`core.analytics.history` for the columns). Shared and read-only."""
    layer = _get()
    sym = symbols.validate(symbol)
    now = clock.now()
    past = day < now.date()
    rows = _recorded(layer).get(("levels", sym, day),
                                lambda: recordings().levels(sym, [day]),
                                fresh_ttl=HISTORY_PAST_TTL if past else None).value
    if past or rows.empty:
        return rows
    return rows[rows["snapshot"] <= pd.Timestamp(now)]


def level_rows(symbol: str, sessions: int) -> pd.DataFrame:
    """The levels rows of the last ``sessions`` recorded sessions (today's so far included)."""
    days = recorded_sessions(symbol)[-sessions:]
    parts = [recorded_levels(symbol, d) for d in days]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else recordings().levels(symbol, [])


def previous_oi(symbol: str) -> RecordedOI | None:
    """The OI per contract recorded at the last snapshot of the last recorded session before
    today (None when there is none): yesterday's OI for ΔOI, and the pre-market fallback."""
    layer = _get()
    sym = symbols.validate(symbol)
    today = clock.today()
    before = [d for d in recorded_sessions(sym) if d < today]
    if not before:
        return None
    day = before[-1]

    def load():
        snaps = recordings().snapshots(sym, day)
        if not snaps:
            return None
        at, path = snaps[-1]
        cols = ["contract", "type", "strike", "expiry", "open_interest"]
        return RecordedOI(day, at, recordings().read_columns(path, cols))

    return _recorded(layer).get(("previous_oi", sym, day), load,
                                fresh_ttl=HISTORY_PAST_TTL).value


def oi_change(symbol: str, n: int | None = None) -> OIChange | None:
    """ΔOI per contract of the next ``n`` expiries (strike-capped views) since the previous
    session's recording; None without a recording."""
    from core.analytics import history as hist

    prev = previous_oi(symbol)
    if prev is None:
        return None
    views = chains(symbol, n=n)
    frame = pd.concat([c.frame for c in views], ignore_index=True)
    as_of = max(c.as_of for c in views)
    if not hist.oi_published(frame):
        return OIChange(views[0].symbol, prev, as_of, None,
                        "Today's open interest is not published yet (it comes after the open).")
    key = ("oi_change", views[0].symbol, tuple(_source_key(c) for c in views), prev.snapshot)
    frame = _recorded(_get()).get(key, lambda: hist.oi_change(frame, prev.frame)).value
    return OIChange(views[0].symbol, prev, as_of, frame)


def iv_history(symbol: str, tenor_days: float = 30.0) -> pd.DataFrame:
    """One ATM IV per recorded session before today (its last snapshot), interpolated to
    ``tenor_days`` (see :func:`core.analytics.history.iv_series`)."""
    from core.analytics import history as hist

    layer = _get()
    sym = symbols.validate(symbol)
    today = clock.today()
    days = tuple(d for d in recorded_sessions(sym) if d < today)[-hist.FULL_YEAR_SESSIONS:]
    if not days:
        return hist.iv_series(recordings().levels(sym, []), tenor_days)

    def load():
        parts = [recorded_levels(sym, d) for d in days]
        return hist.iv_series(pd.concat(parts, ignore_index=True), tenor_days)

    return _recorded(layer).get(("iv_history", sym, days, tenor_days), load,
                                fresh_ttl=HISTORY_PAST_TTL).value


def current_tenor_iv(symbol: str, tenor_days: float = 30.0) -> float | None:
    """Today's ``tenor_days`` ATM IV from the live chains bracketing it (as the recorder does)."""
    from core import recorder
    from core.analytics import history as hist

    listed = expirations(symbol)
    today = clock.today()
    wanted = [e for e in recorder.select_expiries(listed, today, 0, (tenor_days,))] or listed[:1]
    rows = []
    for e in wanted:
        kl = key_levels(symbol, e)
        c = chain(symbol, e, strikes=_get().settings.max_strikes_hard)
        rows.append({"t_years": clock.time_to_expiry(e, c.as_of), "atm_iv": kl.atm_iv})
    return hist.tenor_iv(pd.DataFrame(rows, columns=["t_years", "atm_iv"]), tenor_days)


def iv_rank(symbol: str, tenor_days: float = 30.0):
    """IV rank / percentile of today's ``tenor_days`` ATM IV against the recorded sessions
    (:class:`core.analytics.history.IVRank`; ``days`` = sessions of history)."""
    from core.analytics import history as hist

    past = iv_history(symbol, tenor_days)
    return hist.iv_rank(past["iv"], current_tenor_iv(symbol, tenor_days))


def level_history(symbol: str, sessions: int = 10) -> pd.DataFrame:
    """Walls, zero gamma, max pain and the expected move of the last ``sessions`` completed
    recorded sessions (see :func:`core.analytics.history.level_history`)."""
    from core.analytics import history as hist

    now = clock.now()
    days = [d for d in recorded_sessions(symbol)
            if d < now.date() or (clock.is_session(d) and now >= clock.session_close(d))]
    days = tuple(days[-sessions:])
    if not days:
        return hist.level_history(recordings().levels(symbol, []), sessions)

    def load():  # completed sessions never change: computed once, shared
        rows = pd.concat([recorded_levels(symbol, d) for d in days], ignore_index=True)
        return hist.level_history(rows, sessions)

    key = ("level_history", symbols.validate(symbol), days, sessions)
    ttl = None if days[-1] == now.date() else HISTORY_PAST_TTL  # today's close may still come
    return _recorded(_get()).get(key, load, fresh_ttl=ttl).value


def what_changed(symbol: str) -> dict:
    """Now (live: quote + the front expiry's key levels) against today's first recorded
    snapshot (``since_open``) and the previous session's last one (``since_yesterday``);
    a side is None when it was not recorded. Keys: now, open, yesterday, since_open,
    since_yesterday (see :func:`core.analytics.history.what_changed`)."""
    from core.analytics import history as hist

    sym = symbols.validate(symbol)
    q = quote(sym)
    front = expirations(sym)[0]
    kl = key_levels(sym, front)
    now = {"expiry": front, "price": q.price,
           **{f: getattr(kl, f) for f in hist.CHANGE_FIELDS if f != "price"}}
    today = clock.today()
    days = recorded_sessions(sym)
    rows_today = recorded_levels(sym, today) if today in days else None
    before = [d for d in days if d < today]
    rows_prev = recorded_levels(sym, before[-1]) if before else None
    opened = None if rows_today is None else hist.snapshot_levels(rows_today, "first", front)
    yesterday = None if rows_prev is None else hist.snapshot_levels(rows_prev, "last", front)
    return {"now": now, "open": opened, "yesterday": yesterday,
            "since_open": None if opened is None else hist.what_changed(now, opened),
            "since_yesterday": None if yesterday is None else hist.what_changed(now, yesterday)}


def replay_status() -> dict | None:
    """None unless the source is the replay; then ``root``, ``last_date`` (the latest recorded
    date up to today) and ``sources`` (what the recording was made from, e.g. {"simulated"}),
    for the page header."""
    layer = _get()
    if layer.provider.name != "replay":
        return None
    store = layer.provider.store

    def load():
        days = [d for d in store.dates("chains") if d <= clock.today()]
        sources: set = set()
        if days:
            for sym_dir in (store.root / "chains" / f"date={days[-1]}").glob("symbol=*"):
                files = sorted(sym_dir.glob("[0-9]*.parquet"))
                if files:
                    sources.update(c.source for c in store.read_chains(files[0]))
                    break
        return {"root": str(store.root), "last_date": days[-1] if days else None,
                "sources": frozenset(sources)}

    return _recorded(layer).get(("replay_status", clock.today()), load).value
