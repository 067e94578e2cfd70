"""Settings: caps, TTLs, budgets and the provider choice, each overridable by env ``OPTIONS_DASH_*``.

Read once per process with :func:`settings`; tests call :func:`reload` after changing the env.
Every cap the UI enforces comes from here, so a number on a page can be traced to one line.

=============================  ==========  ===================================================
env                            default     meaning
=============================  ==========  ===================================================
OPTIONS_DASH_PROVIDER          auto        ``auto`` (probe Yahoo, else simulated) | ``yahoo`` |
                                           ``simulated`` | ``replay`` (recorded snapshots)
OPTIONS_DASH_NOW               (unset)     ISO time the clock starts at, then runs in real time
OPTIONS_DASH_CACHE_MB          128         global byte budget shared by every cache (MB)
OPTIONS_DASH_MAX_STRIKES       40          strikes nearest spot per view (default)
OPTIONS_DASH_MAX_STRIKES_HARD  200         the most strikes any caller may ask for
OPTIONS_DASH_MAX_EXPIRIES      8           expiries per multi-expiry view
OPTIONS_DASH_MAX_WATCHLIST     30          watchlist / symbol-group size
OPTIONS_DASH_MAX_INDEXES       6           indexes on the 0DTE pages
OPTIONS_DASH_TTL_QUOTE         15          fresh TTL of a quote (s)
OPTIONS_DASH_TTL_CHAIN_NEAR    60          fresh TTL of a chain expiring within 7 days (s)
OPTIONS_DASH_TTL_CHAIN_FAR     180         fresh TTL of a later chain (s)
OPTIONS_DASH_TTL_EXPIRATIONS   3600        fresh TTL of an expiry list (s)
OPTIONS_DASH_TTL_HISTORY       300         fresh TTL of price bars (s)
OPTIONS_DASH_STALE_FACTOR      10          hard max age = fresh TTL x this; older is dropped
OPTIONS_DASH_NEGATIVE_TTL      120         how long "symbol not found" is remembered (s)
OPTIONS_DASH_RATE_PER_SEC      8           process-wide upstream calls per second
OPTIONS_DASH_WORKERS           4           background refresh / scan worker threads
OPTIONS_DASH_UPSTREAM_TIMEOUT  8           seconds before an upstream call counts as failed
OPTIONS_DASH_RISK_FREE         0.04        continuous risk-free rate used for greeks
OPTIONS_DASH_ALLOW_CACHE_CLEAR 0           1 lets the memory panel show "clear caches" (operator)
OPTIONS_DASH_RECORD            0           1 starts the recorder inside the app (one per host)
OPTIONS_DASH_RECORD_DIR        (unset)     recordings folder (default ``data/recordings``)
OPTIONS_DASH_RECORD_SYMBOLS    (unset)     symbols to record (default watchlist + 0DTE indexes)
OPTIONS_DASH_RECORD_EVERY      300         seconds between snapshots in the regular session
OPTIONS_DASH_RECORD_EXPIRIES   6           first N expiries recorded (+ two around 30 days)
OPTIONS_DASH_RECORD_RETENTION_DAYS 30      days of chain snapshots kept (older are deleted)
OPTIONS_DASH_RECORD_LEVELS_DAYS 400        days of key levels kept (IV rank wants a year)
OPTIONS_DASH_RECORD_DISK_MB    2048        disk budget of the recordings folder (MB)
OPTIONS_DASH_REPLAY_START      (unset)     replay: ISO time the clock starts at (else the first
                                           recorded snapshot of the last recorded session)
OPTIONS_DASH_REDIS_URL         (unset)     Redis shared cache (L2) + fleet rate limit, e.g.
                                           ``redis://127.0.0.1:6390/0`` (``make cluster`` sets
                                           it); unset: one process, L1 only (``core.shared``).
                                           Password: env OPTIONS_DASH_REDIS_PASSWORD (not a
                                           setting, never shown)
=============================  ==========  ===================================================
"""

from __future__ import annotations

import dataclasses
import os
import threading

_PREFIX = "OPTIONS_DASH_"
PROVIDERS = ("auto", "yahoo", "simulated", "replay")


@dataclasses.dataclass(frozen=True)
class Settings:
    provider: str = "auto"
    now: str | None = None
    cache_mb: float = 128.0
    max_strikes: int = 40
    max_strikes_hard: int = 200
    max_expiries: int = 8
    max_watchlist: int = 30
    max_indexes: int = 6
    ttl_quote: float = 15.0
    ttl_chain_near: float = 60.0
    ttl_chain_far: float = 180.0
    ttl_expirations: float = 3600.0
    ttl_history: float = 300.0
    stale_factor: float = 10.0
    negative_ttl: float = 120.0
    rate_per_sec: float = 8.0
    workers: int = 4
    upstream_timeout: float = 8.0
    risk_free: float = 0.04
    allow_cache_clear: bool = False
    record: bool = False
    record_dir: str | None = None
    record_symbols: str | None = None
    record_every: float = 300.0
    record_expiries: int = 6
    record_retention_days: int = 30
    record_levels_days: int = 400
    record_disk_mb: float = 2048.0
    replay_start: str | None = None
    redis_url: str | None = None

    @property
    def cache_bytes(self) -> int:
        return int(self.cache_mb * 1024 * 1024)

    def strikes(self, asked: int | None) -> int:
        """Strikes to show: ``asked`` (default ``max_strikes``) clamped to [1, max_strikes_hard]."""
        n = self.max_strikes if asked is None else int(asked)
        return max(1, min(n, self.max_strikes_hard))


def _parse(field: dataclasses.Field, raw: str):
    kind = field.type
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw.strip() or None if kind == "str | None" else raw.strip().lower()


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default ``os.environ``); a bad value raises ``ValueError``."""
    env = os.environ if env is None else env
    values = {}
    for field in dataclasses.fields(Settings):
        raw = env.get(_PREFIX + field.name.upper())
        if raw is not None and raw != "":
            try:
                values[field.name] = _parse(field, raw)
            except ValueError as exc:
                raise ValueError(f"{_PREFIX}{field.name.upper()}={raw!r}: {exc}") from None
    s = Settings(**values)
    if s.provider not in PROVIDERS:
        raise ValueError(f"{_PREFIX}PROVIDER must be auto, yahoo, simulated or replay, "
                         f"not {s.provider!r}")
    if s.record_every < 60 or s.record_expiries < 1 or s.record_retention_days < 1 \
            or s.record_disk_mb <= 0:
        raise ValueError(f"{_PREFIX}RECORD_*: every >= 60 s, expiries >= 1, retention >= 1 day "
                         "and a positive disk budget")
    return s


_lock = threading.Lock()
_current: Settings | None = None


def settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = from_env()
    return _current


def reload() -> Settings:
    """Re-read the environment (tests, or an operator changing env in a REPL)."""
    global _current
    with _lock:
        _current = from_env()
    return _current
