"""Memory governor for small instances (the 512 MB / 1 GB boxes dashboards die on).

With an operator's limit ``OPTIONS_DASH_MEMORY_LIMIT_MB`` (unset = off), one background thread
reads the process RSS every :data:`TICK_S` seconds and acts on the share of the limit in use:

* ``>= 75 %`` (**warn**): the memory panel and the log warn (one log line per change of level).
* ``>= 85 %`` (**shed**): the shared cache byte budget shrinks (LRU entries of every cache are
  evicted) by the excess over :data:`TARGET` of the limit, step by step until RSS is back under
  it, and new scans wait in the scan queue (:func:`hold_scans`: one scan runs at a time, the
  others wait their turn) instead of starting together.
* ``< 70 %``: the budget grows back towards its configured size, one step per tick.

Each tick first sweeps the dead copy-on-write weakrefs that reading cached frames leaves behind
(:func:`core.cache.sweep_all`). It also keeps an RSS history (one sample per
:data:`TREND_EVERY_S` s, the last hour) for the
trend: the least-squares slope over the last 30 minutes in MB/min, "growing" when it stays above
:data:`GROWING_MB_PER_MIN` over at least 10 minutes of samples. Plain data; no Streamlit.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time

import numpy as np

from core import cache, config, memory

log = logging.getLogger(__name__)

MB = 1024 * 1024
WARN, SHED, RELAX, TARGET = 0.75, 0.85, 0.70, 0.80
HYSTERESIS = 0.03  # a level is left only 3 points below where it starts (no flapping)
TICK_S = 5.0
TREND_EVERY_S = 30.0
TREND_WINDOW_S = 30 * 60
GROWING_MB_PER_MIN = 0.5
MIN_BUDGET_BYTES = 16 * MB  # and never below a quarter of the configured budget: evicting
# more only buys upstream calls (RSS rarely falls back after frees: allocator high-water mark)

_lock = threading.Lock()
_state = {"level": "off", "rss": 0, "limit": 0, "shrunk_to": None, "sheds": 0}
_trend: collections.deque = collections.deque(maxlen=int(3600 / TREND_EVERY_S))  # (t s, rss)
_thread: threading.Thread | None = None
_paused = threading.Event()  # set: the thread skips its ticks (tests drive tick() themselves)


def limit_bytes(settings: config.Settings | None = None) -> int | None:
    s = settings or config.settings()
    return None if s.memory_limit_mb is None else int(s.memory_limit_mb * MB)


def level_for(rss: int, limit: int | None, before: str = "ok") -> str:
    """``off`` (no limit), ``ok``, ``warn`` (>= 75 %) or ``shed`` (>= 85 %); a level reached
    before (``before``) is kept until the share falls HYSTERESIS below its threshold."""
    if not limit:
        return "off"
    share = rss / limit
    shed = SHED - (HYSTERESIS if before == "shed" else 0.0)
    warn = WARN - (HYSTERESIS if before in ("warn", "shed") else 0.0)
    return "shed" if share >= shed else "warn" if share >= warn else "ok"


def tick(rss: int | None = None, budget: cache.ByteBudget | None = None,
         settings: config.Settings | None = None) -> str:
    """One governor step (the thread calls it every TICK_S s; tests call it with an RSS).
    Returns the level. ``budget`` defaults to the fetch layer's shared byte budget."""
    s = settings or config.settings()
    limit = limit_bytes(s)
    rss = memory.rss_bytes() if rss is None else int(rss)
    _record(rss)
    if budget is None:
        budget = _layer_budget()
    with _lock:
        before = _state["level"]
        level = level_for(rss, limit, before)
        _state.update(level=level, rss=rss, limit=limit or 0)
    if level != before and level in ("warn", "shed", "ok") and limit:
        log.warning("memory %s: RSS %.0f MB is %.1f%% of the %.0f MB limit", level, rss / MB,
                    100 * rss / limit, limit / MB)
    if before == "shed" and level != "shed":
        _release_scans()
    if budget is None or not limit:
        return level
    configured = s.cache_bytes
    with cache.LOCK:
        if level == "shed":
            excess = rss - int(TARGET * limit)
            floor = max(MIN_BUDGET_BYTES, configured // 4)
            target = max(floor, int(budget.currsize) - max(excess, MB))
            if target < budget.maxsize:
                budget.resize(target)
                with _lock:
                    _state["shrunk_to"] = target
                    _state["sheds"] += 1
        elif rss < RELAX * limit and budget.maxsize < configured:
            grown = min(configured, int(budget.maxsize * 1.25) + MB)
            budget.resize(grown)
            with _lock:
                _state["shrunk_to"] = None if grown >= configured else grown
    return level


def hold_scans() -> bool:
    """True while memory is at the shed level: new scans queue instead of starting."""
    with _lock:
        return _state["level"] == "shed"


def status() -> dict:
    """Level, RSS, limit, budget shrink, heap and trend for the memory panel."""
    with _lock:
        out = dict(_state)
    out["heap_blocks"] = sys.getallocatedblocks()
    out["slope_mb_min"], out["trend_span_s"] = trend()
    out["growing"] = (out["slope_mb_min"] is not None and out["trend_span_s"] >= 600
                      and out["slope_mb_min"] > GROWING_MB_PER_MIN)
    return out


def trend(window_s: float = TREND_WINDOW_S) -> tuple[float | None, float]:
    """(least-squares RSS slope in MB/min over the last ``window_s`` seconds, span covered
    in s); slope None with fewer than 3 samples."""
    with _lock:
        samples = list(_trend)
    if not samples:
        return None, 0.0
    end = samples[-1][0]
    recent = [(t, b) for t, b in samples if t >= end - window_s]
    span = recent[-1][0] - recent[0][0]
    if len(recent) < 3 or span <= 0:
        return None, span
    t = np.array([r[0] for r in recent]) / 60.0
    b = np.array([r[1] for r in recent]) / MB
    return float(np.polyfit(t - t[0], b, 1)[0]), span


def _record(rss: int) -> None:
    now = time.monotonic()
    with _lock:
        if not _trend or now - _trend[-1][0] >= TREND_EVERY_S:
            _trend.append((now, rss))


def _release_scans() -> None:
    from core import fetch

    if fetch._layer is not None and fetch._layer.queued:
        fetch.start_queued_scans()


def _layer_budget() -> cache.ByteBudget | None:
    from core import fetch

    layer = fetch._layer
    return None if layer is None else layer.budget


def _run() -> None:
    while True:
        try:
            if not _paused.is_set():
                cache.sweep_all()  # the dead copy-on-write weakrefs that readers left
                tick()
        except Exception:  # noqa: BLE001 - the governor must keep running
            log.exception("memory governor tick failed")
        time.sleep(TICK_S)


def ensure_started() -> None:
    """Start the governor thread once per process (cheap to call on every page view). It
    also records the RSS trend when no limit is set."""
    global _thread
    if _thread is not None:
        return
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="memory-governor", daemon=True)
            _thread.start()


def pause(on: bool = True) -> None:
    """Stop (or resume) the background ticks; a test that calls :func:`tick` itself pauses
    them so that the thread's real RSS readings do not interleave with its own."""
    (_paused.set if on else _paused.clear)()


def reset() -> None:
    """Forget levels and the trend (tests)."""
    with _lock:
        _state.update(level="off", rss=0, limit=0, shrunk_to=None, sheds=0)
        _trend.clear()

