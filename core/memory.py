"""What the process holds: RSS and its recent trend, system memory, cache metrics.

Plain data for the memory debug panel (``core.ui.layout``) and for benchmarks; no Streamlit here
(the number of active sessions comes from ``core.ui.session``).
"""

from __future__ import annotations

import collections
import threading

import psutil

from core import cache, clock, fetch

_PROCESS = psutil.Process()
_SAMPLES: collections.deque = collections.deque(maxlen=120)  # bounded: the last 120 samples
_MIN_INTERVAL_S = 5.0
_lock = threading.Lock()

MB = 1024 * 1024


def rss_bytes() -> int:
    """Resident set size of this process."""
    return int(_PROCESS.memory_info().rss)


def sample() -> list[tuple[float, int]]:
    """Record RSS (at most every 5 s) and return the recent samples as (epoch s, bytes)."""
    now = clock.timer()
    with _lock:
        if not _SAMPLES or now - _SAMPLES[-1][0] >= _MIN_INTERVAL_S or now < _SAMPLES[-1][0]:
            _SAMPLES.append((now, rss_bytes()))
        return list(_SAMPLES)


def system_memory() -> dict:
    vm = psutil.virtual_memory()
    return {"total": int(vm.total), "available": int(vm.available), "percent": float(vm.percent)}


def cache_stats() -> list[dict]:
    """One dict per cache: name, entries, max_entries, bytes, hits, misses, evictions,
    evictions_by_reason, upstream_calls, errors, hit_rate, ... (see core.cache)."""
    return cache.stats()


def snapshot() -> dict:
    """Everything the memory panel shows except per-session numbers."""
    caches = cache_stats()
    return {
        "rss": rss_bytes(),
        "rss_samples": sample(),
        "system": system_memory(),
        "caches": caches,
        "budget": fetch.budget_stats(),
        "upstream_calls": sum(c["upstream_calls"] for c in caches),
        "errors": sum(c["errors"] for c in caches),
        "limiter": fetch.limiter_stats(),
        "provider": fetch.provider_info(),
        "fleet": fetch.shared_status(),  # None when there is no shared cache (one process)
    }
