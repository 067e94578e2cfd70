"""Bounded, shared caches: entry cap + TTL + one global byte budget + single-flight + SWR + metrics.

Every cache in the process is a :class:`BoundedCache` registered in :data:`REGISTRY`.

Bounds
    * Entries: each cache is a ``cachetools.TTLCache`` whose ``maxsize`` is the entry cap and
      whose ``ttl`` is the *hard max age*: an entry older than that is dropped, never served.
    * Bytes: all caches share one :class:`ByteBudget` (a ``cachetools.LRUCache`` sized in bytes,
      keyed by ``(cache name, key)``). Inserting past the budget evicts the least recently used
      entry of *any* cache. Sizes are measured honestly (:func:`sizeof`, which uses
      ``DataFrame.memory_usage(deep=True)``). A value larger than the whole budget is returned to
      its caller but not kept.

Freshness (stale-while-revalidate)
    An entry younger than its fresh TTL is served as is. An older one (but younger than the hard
    max age) is served at once while ONE background refresh runs on a bounded worker pool. When
    a refresh fails with an :class:`~core.errors.UpstreamError`, the old value keeps being served,
    flagged ``stale=True``, until the hard max age.

Single-flight
    Concurrent misses on one key make exactly one loader call; the others wait on the same
    ``Future`` and receive its value *or its exception*. (``cachetools.cached(condition=...)``
    was considered: on a failing loader it lets every waiter retry the upstream call in turn,
    which is the stampede we must avoid when the upstream is down.)

Thread safety: one process-wide re-entrant lock guards every cache and the budget; loaders run
outside it. Cached values are shared by all sessions and must be treated as read-only.

Time: every cache reads :func:`core.clock.timer` (seconds), so a test that steps the pinned
clock ages the caches with it; nothing sleeps in tests.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import logging
import sys
import threading
import time
from typing import Any, Callable, Hashable

import cachetools
import numpy as np
import pandas as pd

from core import clock
from core.errors import RateLimited, Unavailable, UpstreamError

log = logging.getLogger(__name__)

LOCK = threading.RLock()
EVICTION_REASONS = ("capacity", "expired", "budget", "too_large", "cleared")


# --- sizes -------------------------------------------------------------------------------------

def sizeof(obj: Any, _depth: int = 0) -> int:
    """Bytes held by ``obj``: DataFrames by ``memory_usage(deep=True)``, containers and
    dataclasses recursively (to a small depth), anything else by ``sys.getsizeof``."""
    if isinstance(obj, pd.DataFrame):
        return int(obj.memory_usage(deep=True, index=True).sum())
    if isinstance(obj, (pd.Series, pd.Index)):
        return int(obj.memory_usage(deep=True))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes) + 112
    if _depth > 6:
        return sys.getsizeof(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sys.getsizeof(obj) + sum(sizeof(getattr(obj, f.name), _depth + 1)
                                        for f in dataclasses.fields(obj))
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(sizeof(x, _depth + 1) for x in obj)
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(sizeof(k, _depth + 1) + sizeof(v, _depth + 1)
                                        for k, v in obj.items())
    return sys.getsizeof(obj)


# --- entries and results -----------------------------------------------------------------------

@dataclasses.dataclass
class Entry:
    value: Any
    nbytes: int
    stored_at: float
    fresh_ttl: float
    failed: bool = False  # the last refresh failed: the value is served flagged stale


@dataclasses.dataclass(frozen=True)
class Served:
    """What a cache read returns: the value, its age in seconds, and whether it is stale
    because a refresh failed (``stale``)."""

    value: Any
    age: float
    stale: bool = False


# --- the global byte budget --------------------------------------------------------------------

class ByteBudget(cachetools.LRUCache):
    """LRU over ``(cache name, key) -> nbytes`` across every cache; evicting one drops the
    entry from its own cache (reason ``budget``)."""

    def __init__(self, max_bytes: int):
        super().__init__(maxsize=max_bytes, getsizeof=lambda nbytes: nbytes)
        self.evictions = 0

    def popitem(self):
        (name, key), nbytes = super().popitem()
        self.evictions += 1
        owner = REGISTRY.get(name)
        if owner is not None:
            owner._drop_for_budget(key)
        return (name, key), nbytes

    def resize(self, max_bytes: int) -> None:
        """Change the budget (the memory governor shrinks it under memory pressure and grows it
        back); shrinking evicts LRU entries of any cache until the rest fits. Call under LOCK.
        (cachetools keeps ``maxsize`` in a private attribute; ``__setitem__`` reads it.)"""
        self._Cache__maxsize = max(int(max_bytes), 1)
        while self.currsize > self.maxsize and len(self):
            self.popitem()

    def stats(self) -> dict:
        return {"max_bytes": int(self.maxsize), "bytes": int(self.currsize),
                "entries": len(self), "evictions": self.evictions}


class _Store(cachetools.TTLCache):
    """TTLCache that reports every entry it drops (capacity or hard-max-age) to its owner."""

    def __init__(self, owner: "BoundedCache", maxsize: int, ttl: float, timer):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self._owner = owner

    def expire(self, time=None):
        expired = super().expire(time)
        for key, entry in expired:
            self._owner._forget(key, entry, "expired")
        return expired

    def popitem(self):
        key, entry = super().popitem()
        self._owner._forget(key, entry, "capacity")
        return key, entry


# --- the cache ---------------------------------------------------------------------------------

class BoundedCache:
    """One named cache: ``get(key, loader)`` with single-flight, SWR and stale-on-error.

    ``max_entries``: entry cap. ``fresh_ttl``: seconds a value is served without refresh (may
    be overridden per call). ``max_age``: hard max age in seconds (dropped past it).
    """

    def __init__(self, name: str, *, max_entries: int, fresh_ttl: float, max_age: float,
                 budget: ByteBudget, executor: cf.Executor | None = None,
                 timer: Callable[[], float] = clock.timer, wait_timeout: float = 30.0,
                 leader_timeout: float | None = None):
        if max_age < fresh_ttl:
            raise ValueError(f"{name}: max_age {max_age} < fresh_ttl {fresh_ttl}")
        self.name = name
        self.max_entries = max_entries
        self.fresh_ttl = fresh_ttl
        self.max_age = max_age
        self.wait_timeout = wait_timeout
        # None: the leader of a miss runs the loader in its own thread, as long as it takes.
        # A number: the loader runs on a pool thread (_LEADERS) and the leader waits at most that
        # long, like its followers (a stalled upstream cannot hold a page past it).
        self.leader_timeout = leader_timeout
        self._budget = budget
        self._executor = executor
        self._timer = timer
        self._store = _Store(self, max_entries, max_age, timer)
        self._inflight: dict[Hashable, cf.Future] = {}
        self.bytes = 0
        self.hits = self.misses = self.stale_hits = self.joins = 0
        self.upstream_calls = self.errors = self.refreshes = 0
        self.evictions: collections.Counter = collections.Counter()
        with LOCK:
            REGISTRY[name] = self

    # -- bookkeeping called under LOCK --
    def _forget(self, key, entry: Entry, reason: str) -> None:
        self.bytes -= entry.nbytes
        self.evictions[reason] += 1
        self._budget.pop((self.name, key), None)

    def _drop_for_budget(self, key) -> None:
        try:
            entry = self._store.pop(key)
        except KeyError:
            return
        self.bytes -= entry.nbytes
        self.evictions["budget"] += 1

    def _put(self, key, entry: Entry) -> bool:
        """Store ``entry``; False when it is larger than the whole budget (served, not kept)."""
        old = self._store.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
            self._budget.pop((self.name, key), None)
        if entry.nbytes > self._budget.maxsize:
            self.evictions["too_large"] += 1
            return False
        self._store[key] = entry  # may evict by capacity / age first
        self.bytes += entry.nbytes
        self._budget[(self.name, key)] = entry.nbytes  # may evict LRU entries of any cache
        return True

    # -- public API --
    def get(self, key: Hashable, loader: Callable[[], Any], *,
            fresh_ttl: float | None = None) -> Served:
        """Serve ``key``, calling ``loader()`` on a miss (once, whoever else is waiting)."""
        ttl = self.fresh_ttl if fresh_ttl is None else fresh_ttl
        with LOCK:
            now = self._timer()
            self._store.expire(now)
            entry = self._store.get(key)
            if entry is not None:
                self.hits += 1
                self._budget.get((self.name, key))  # touch: most recently used
                age = now - entry.stored_at
                if age >= entry.fresh_ttl:
                    self.stale_hits += 1
                    if key not in self._inflight:
                        self._refresh_in_background(key, loader, ttl)
                return Served(entry.value, age, entry.failed)
            future = self._inflight.get(key)
            leader = future is None
            if leader:
                self.misses += 1
                future = self._inflight[key] = cf.Future()
            else:
                self.joins += 1
        wait = self.wait_timeout
        if leader and self.leader_timeout is None:
            self._load(key, loader, ttl, future)
        elif leader:
            _LEADERS.submit(self._load, key, loader, ttl, future)
            wait = self.leader_timeout
        try:
            return future.result(timeout=wait)
        except cf.TimeoutError:
            raise Unavailable("The data source is taking too long to answer. Try again shortly.")

    def peek(self, key: Hashable) -> Any | None:
        """The cached value for ``key`` without loading (None when absent)."""
        served = self.lookup(key)
        return None if served is None else served.value

    def lookup(self, key: Hashable) -> Served | None:
        """The cached value with its age, without loading or refreshing (None when absent)."""
        with LOCK:
            now = self._timer()
            self._store.expire(now)
            entry = self._store.get(key)
            if entry is None:
                return None
            return Served(entry.value, now - entry.stored_at, entry.failed)

    def put(self, key: Hashable, value: Any, *, fresh_ttl: float | None = None) -> None:
        with LOCK:
            ttl = self.fresh_ttl if fresh_ttl is None else fresh_ttl
            self._put(key, Entry(value, sizeof(value), self._timer(), ttl))

    def clear(self) -> None:
        with LOCK:
            for key in list(self._store.keys()):
                entry = self._store.pop(key, None)
                if entry is not None:
                    self._forget(key, entry, "cleared")

    def __len__(self) -> int:
        with LOCK:
            self._store.expire()
            return len(self._store)

    def stats(self) -> dict:
        with LOCK:
            self._store.expire()
            lookups = self.hits + self.misses + self.joins
            return {
                "name": self.name, "entries": len(self._store), "max_entries": self.max_entries,
                "bytes": int(self.bytes), "fresh_ttl": self.fresh_ttl, "max_age": self.max_age,
                "hits": self.hits, "misses": self.misses, "joins": self.joins,
                "stale_hits": self.stale_hits,
                "hit_rate": (self.hits + self.joins) / lookups if lookups else None,
                "evictions": sum(self.evictions.values()),
                "evictions_by_reason": {r: self.evictions.get(r, 0) for r in EVICTION_REASONS},
                "upstream_calls": self.upstream_calls, "errors": self.errors,
                "refreshes": self.refreshes, "inflight": len(self._inflight),
            }

    # -- loading --
    def _refresh_in_background(self, key, loader, ttl) -> None:
        future = self._inflight[key] = cf.Future()
        self.refreshes += 1
        if self._executor is None:  # no pool: refresh inline on the next miss instead
            self._inflight.pop(key)
            return
        try:
            self._executor.submit(self._load, key, loader, ttl, future)
        except RuntimeError:  # pool shut down (process exiting)
            self._inflight.pop(key, None)

    def _load(self, key, loader, ttl, future: cf.Future) -> None:
        with LOCK:
            self.upstream_calls += 1
        try:
            value = loader()
        except UpstreamError as exc:
            with LOCK:
                self.errors += 1
                self._inflight.pop(key, None)
                entry = self._store.get(key)
                if entry is not None:
                    entry.failed = True
                    future.set_result(Served(entry.value, self._timer() - entry.stored_at, True))
                    return
            future.set_exception(exc)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, never swallowed
            with LOCK:
                self.errors += 1
                self._inflight.pop(key, None)
                entry = self._store.get(key)
                if entry is not None and isinstance(exc, Exception):
                    entry.failed = True  # the copy kept is served flagged stale, not as fresh
            if entry is not None and isinstance(exc, Exception):
                log.error("cache %s: refresh of %r failed", self.name, key, exc_info=exc)
            future.set_exception(exc)
        else:
            entry = Entry(value, sizeof(value), self._timer(), ttl)
            with LOCK:
                self._put(key, entry)
                self._inflight.pop(key, None)
            future.set_result(Served(value, 0.0, False))


REGISTRY: dict[str, BoundedCache] = {}  # one entry per named cache: a fixed, small set
# Threads that run a miss's loader for caches with a leader deadline (``leader_timeout``):
# bounded and reused (a thread per miss would churn malloc arenas). Those loaders are
# provider calls, which never wait on this pool themselves, so it cannot deadlock.
_LEADERS = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="cache-leader")


def stats() -> list[dict]:
    """Metrics of every registered cache, as plain dicts (for the memory panel and benches)."""
    with LOCK:
        return [c.stats() for c in REGISTRY.values()]


def clear_all() -> None:
    """Drop every cached value (an operator action; the UI offers it only when enabled)."""
    with LOCK:
        for c in REGISTRY.values():
            c.clear()


# --- upstream politeness -----------------------------------------------------------------------

class RateLimiter:
    """Process-wide token bucket for upstream calls, with a shared back-off after a rate limit.

    ``acquire()`` blocks (up to ``max_wait`` seconds) until a call may go out; then raises
    :class:`RateLimited`. ``penalise()`` after an upstream ``RateLimited`` pauses every caller
    for a back-off that doubles on each consecutive penalty (capped); ``reward()`` resets it.
    Uses real monotonic time: it is about the upstream's clock, not the market's.
    """

    def __init__(self, per_second: float, *, burst: int | None = None, max_wait: float = 10.0,
                 base_backoff: float = 2.0, max_backoff: float = 60.0):
        self.rate = float(per_second)
        self.capacity = float(burst or max(1, int(per_second)))
        self.max_wait = max_wait
        self.base_backoff, self.max_backoff = base_backoff, max_backoff
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._blocked_until = 0.0
        self._penalties = 0
        self._lock = threading.Lock()
        self.waited = 0.0
        self.rejected = 0

    def acquire(self) -> None:
        deadline = time.monotonic() + self.max_wait
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                wait = max(self._blocked_until - now, 0.0)
                if wait == 0.0 and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                if wait == 0.0:
                    wait = (1.0 - self._tokens) / self.rate
                if now + wait > deadline:
                    self.rejected += 1
                    raise RateLimited("Too many requests to the data source right now; "
                                      "try again in a few seconds.")
                self.waited += wait
            time.sleep(wait)

    def penalise(self) -> float:
        with self._lock:
            backoff = min(self.base_backoff * 2 ** self._penalties, self.max_backoff)
            self._penalties += 1
            self._blocked_until = max(self._blocked_until, time.monotonic() + backoff)
            return backoff

    def reward(self) -> None:
        with self._lock:
            self._penalties = 0

    def stats(self) -> dict:
        with self._lock:
            return {"rate_per_sec": self.rate, "waited_s": round(self.waited, 3),
                    "rejected": self.rejected, "backoff_level": self._penalties}
