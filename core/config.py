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
OPTIONS_DASH_ALLOW_CACHE_CLEAR 0           1 lets an operator's memory panel show "clear caches"
OPTIONS_DASH_OPERATOR_TOKEN    (unset)     secret an operator types in the sidebar to see the
                                           memory panel (compared in constant time)
OPTIONS_DASH_OPERATOR_LOOPBACK 1           every visitor is an operator when the server listens
                                           on loopback only (``make run``); 0 behind a proxy
OPTIONS_DASH_MEMORY_LIMIT_MB   (unset)     the operator's memory limit: warn at 75 %, shrink the
                                           cache budget and hold new scans at 85 % (unset: off)
OPTIONS_DASH_SESSION_SYMBOLS   30          new symbols one session may open per minute
OPTIONS_DASH_SESSION_SCANS     6           scans one session may start per minute
OPTIONS_DASH_SESSION_UNKNOWN   5           unknown-symbol lookups per session per minute
OPTIONS_DASH_NEGATIVE_OUTAGE   10          how long "source unavailable" is remembered per key
OPTIONS_DASH_BREAKER_FAILURES  3           consecutive failures that open the source's breaker
OPTIONS_DASH_BREAKER_OPEN_S    30          seconds the breaker fails fast before one probe
OPTIONS_DASH_PAGE_DEADLINE     12          seconds a multi-symbol page waits for its data
OPTIONS_DASH_SWITCH_INTERVAL_MS 1          the server's GIL switch interval (Python's default
                                           is 5 ms; see :func:`apply_to_process`)
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

Every value is checked (:func:`problems`): :func:`from_env` raises :class:`SettingsError` listing
each bad one, and ``python -m core.config`` (run by ``make run`` before the server starts) logs
one line per bad value and exits with status 2, so a bad setting stops the start instead of
surfacing on the first page view.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pathlib
import sys
import threading

log = logging.getLogger(__name__)

_PREFIX = "OPTIONS_DASH_"
ROOT = pathlib.Path(__file__).resolve().parents[1]
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
    operator_token: str | None = None
    operator_loopback: bool = True
    memory_limit_mb: float | None = None
    session_symbols: int = 30
    session_scans: int = 6
    session_unknown: int = 5
    negative_outage: float = 10.0
    breaker_failures: int = 3
    breaker_open_s: float = 30.0
    page_deadline: float = 12.0
    switch_interval_ms: float = 1.0
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


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_SECRETS = {"operator_token"}  # never echoed in a message or a log line

# Allowed range per numeric setting: (low, high), both inclusive; None = unbounded.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "cache_mb": (1, 65536), "max_strikes": (1, 1000), "max_strikes_hard": (1, 1000),
    "max_expiries": (1, 60), "max_watchlist": (1, 200), "max_indexes": (1, 6),
    "ttl_quote": (1, 86400), "ttl_chain_near": (1, 86400), "ttl_chain_far": (1, 86400),
    "ttl_expirations": (1, 7 * 86400), "ttl_history": (1, 86400), "stale_factor": (1, 1000),
    "negative_ttl": (1, 86400), "rate_per_sec": (0.1, 1000), "workers": (1, 64),
    "upstream_timeout": (0.5, 120), "risk_free": (-0.1, 0.5), "memory_limit_mb": (128, 1 << 20),
    "session_symbols": (1, 10000), "session_scans": (1, 1000), "session_unknown": (1, 1000),
    "negative_outage": (0, 600), "breaker_failures": (1, 100), "breaker_open_s": (1, 3600),
    "page_deadline": (1, 300), "switch_interval_ms": (0.1, 100),
}


class SettingsError(ValueError):
    """One or more OPTIONS_DASH_* values are bad; ``problems`` has one line per value."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _env_name(name: str) -> str:
    return _PREFIX + name.upper()


def _parse(field: dataclasses.Field, raw: str):
    kind = field.type
    if kind == "bool":
        text = raw.strip().lower()
        if text not in _TRUE | _FALSE:
            raise ValueError("expected 1/0, true/false, yes/no or on/off")
        return text in _TRUE
    if kind in ("int", "float", "float | None"):
        value = int(raw) if kind == "int" else float(raw)
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    return raw.strip() or None if kind == "str | None" else raw.strip().lower()


def problems(s: Settings) -> list[str]:
    """One line per setting out of its range (see :data:`RANGES`) or inconsistent with another."""
    out = []
    for name, (low, high) in RANGES.items():
        value = getattr(s, name)
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            out.append(f"{_env_name(name)}={value!r}: must be between {low:g} and {high:g}")
    if s.provider not in PROVIDERS:
        out.append(f"{_PREFIX}PROVIDER must be auto, yahoo, simulated or replay, "
                   f"not {s.provider!r}")
    if s.max_strikes > s.max_strikes_hard:
        out.append(f"{_PREFIX}MAX_STRIKES={s.max_strikes} is above "
                   f"{_PREFIX}MAX_STRIKES_HARD={s.max_strikes_hard}")
    if s.operator_token is not None and len(s.operator_token) < 16:
        out.append(f"{_PREFIX}OPERATOR_TOKEN is too short to be a secret (at least 16 "
                   "characters)")
    return out


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default ``os.environ``). Every bad value is collected and
    raised together as :class:`SettingsError` (a ``ValueError``), one line per value."""
    env = os.environ if env is None else env
    values, bad = {}, []
    for field in dataclasses.fields(Settings):
        raw = env.get(_env_name(field.name))
        if raw is not None and raw != "":
            try:
                values[field.name] = _parse(field, raw)
            except ValueError as exc:
                shown = "<secret>" if field.name in _SECRETS else repr(raw)
                bad.append(f"{_env_name(field.name)}={shown}: {exc}")
    s = Settings(**values)
    if s.record_every < 60 or s.record_expiries < 1 or s.record_retention_days < 1 \
            or s.record_disk_mb <= 0:
        bad.append(f"{_PREFIX}RECORD_*: every >= 60 s, expiries >= 1, retention >= 1 day "
                   "and a positive disk budget")
    bad += [p for p in problems(s)
            if not any(p.startswith(_env_name(n) + "=") for n in values if n in _SECRETS)]
    if bad:
        raise SettingsError(bad)
    return s


def check(env: dict[str, str] | None = None) -> int:
    """Log one line per bad value; return 0 when every setting is good, else 2."""
    try:
        from_env(env)
    except SettingsError as exc:
        for line in exc.problems:
            log.error("bad setting: %s", line)
        return 2
    return 0


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


def apply_to_process(s: Settings | None = None) -> None:
    """Apply the settings that belong to the process rather than to a module: the GIL switch
    interval (``sys.setswitchinterval``). Called on every page view (cheap, idempotent).

    Why: a Streamlit server is one event-loop thread (every websocket send) among many script
    threads. Each time the loop gives up the GIL for a socket write it waits up to a switch
    interval to get it back from a busy script thread. At one process's limit (600 live
    sessions) fragment refresh p95 was 3.29 s at Python's 5 ms and 1.59 s at 1 ms
    (BENCHMARKS.md, "The cluster": the A/B)."""
    s = s or settings()
    sys.setswitchinterval(s.switch_interval_ms / 1000.0)


def reload() -> Settings:
    """Re-read the environment (tests, or an operator changing env in a REPL)."""
    global _current
    with _lock:
        _current = from_env()
    return _current


if __name__ == "__main__":  # ``python -m core.config``: check the environment before serving
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    status = check()
    if status == 0:
        log.info("settings OK")
    sys.exit(status)
