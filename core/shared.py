"""Redis as the shared second level (L2) behind each process's bounded caches.

Off by default: nothing here runs unless ``OPTIONS_DASH_REDIS_URL`` is set (``make cluster``
sets it); ``make run`` stays one process with its L1 only. ``core.cache`` stays the only cache
API: a :class:`~core.cache.BoundedCache` whose ``shared`` attribute is set (by
``core.fetch._build``) asks :meth:`L2.fetch` on an L1 miss or refresh instead of calling its
loader, and writes what it ``put``\\ s through :meth:`L2.store`.

What is shared
    The caches named in :data:`SHARED_CACHES` (``quote``, ``expirations``, ``chain``,
    ``history``, ``short_volume``): the ones that cost an upstream call. ``derived`` (CPU work
    on a chain version), ``not_found`` and ``recorded`` (local disk) stay per process; a
    ``scan`` is shared its own way (one run per fleet: "Fleet scans" below). Within a shared
    cache a value is shared only if it can be encoded without pickle (:func:`encode_value`):
    a :class:`~core.schema.Chain` as Arrow IPC bytes (:func:`core.codec.chain_to_ipc`), a
    DataFrame as Arrow IPC bytes with its index (tz-aware times and dtypes restored), anything
    :func:`core.codec.encode` accepts (Quote, KeyLevels, analytics dataclasses, dates, tuples,
    dicts, numbers, strings) as tagged JSON, with any frames inside as Arrow IPC next to it
    (kind ``parts``). Anything else
    (e.g. the FINRA short-volume table if it is not a frame, an unknown object) is L1 only.
    A shared store must never execute what it reads: nothing here unpickles.

Entries
    Key ``od:<schema>:<cache>:<key as tagged JSON>``. ``<schema>`` is :data:`SCHEMA`: this
    module's format, the codec's version and a hash of the Chain/Quote/KeyLevels fields, so a
    replica with another schema never reads what it cannot decode. Value: a 4-byte header
    length, a JSON header ``{"kind", "stored", "fresh"}`` (``stored``: epoch seconds on
    :func:`core.clock.timer` of the writer; ``fresh``: fresh TTL in seconds) and the payload.
    The Redis TTL is the cache's hard max age: Redis drops an entry no replica may serve. A
    copy a replica takes from Redis enters its L1 with its age, so the fresh-until holds for
    the whole fleet (the L1's own hard max age counts from when the replica took it).
    Redis itself is bounded by ``maxmemory`` + ``allkeys-lru`` (``cluster/run.py``).

Fleet-wide single-flight
    On a miss (or a stale entry) a replica takes ``<key>:lock`` with ``SET NX PX`` and a random
    token; the lock expires by itself after :attr:`L2.lock_ms` (a dead leader blocks nobody for
    longer) and is released by a compare-and-delete Lua script (never someone else's lock). The
    leader reads the key again (another leader may just have written it), calls the loader and
    writes the value. Others: a cold replica with a stale copy in Redis serves it at once
    (stale-while-revalidate across replicas); otherwise it polls (10 ms doubling to 100 ms,
    bounded by the cache's wait timeout) until a fresh value lands, or takes the lock when it
    is released without a value (the leader failed or died).

Degradation
    Any Redis error marks the L2 unavailable for :data:`RETRY_S` seconds: during that time
    every call goes straight to the loader (L1 + upstream, no Redis round trip, no timeout to
    wait out), :meth:`L2.status` says ``available: False`` and the memory panel says "shared
    cache unavailable". After it, the next call tries again (redis-py reconnects), so the L2
    comes back by itself when Redis does.

Politeness
    :class:`FleetRateLimiter` replaces the process-wide :class:`~core.cache.RateLimiter`: a
    per-second counter in Redis (``rate_per_sec`` calls per wall-clock second for the whole
    fleet) and one shared back-off key (a rate limit seen by any replica pauses all); on a
    Redis error it falls back to the process-wide bucket.

Fleet scans (:class:`FleetScan`, used by :func:`core.fetch.scan`)
    A scan key (name, symbols, params) runs on ONE replica at a time: the one that takes
    ``lock:scan:<key>`` (token + :data:`SCAN_LOCK_S` expiry, renewed every
    :data:`SCAN_POLL_S` while it runs, released at the end) runs it, publishes its progress
    (``<key>:progress``: completed / total, lives as long as the lock) and, when done, the
    finished scan as an L2 entry under ``od:<schema>:scan:<key>`` (fresh: the scan cache's fresh
    TTL, or the empty-scan retry; Redis TTL: its hard max age). Other replicas follow: their
    job reads progress and, once the lock is gone, the newer result from Redis (polling every
    :data:`SCAN_POLL_S`); a lock gone with no newer result (the leader died: its lock
    expired) is taken by a follower, which runs the scan itself. A result the codec cannot
    encode is published as ``{"state": "local"}`` progress: followers then run it themselves
    (logged once per scan name). Redis unreachable: every replica scans on its own, as in one
    process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import struct
import threading
import time
from typing import Any, Callable, Hashable
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa

from core import cache, clock, codec
from core.analytics.levels import KeyLevels
from core.errors import RateLimited, Unavailable, UpstreamError
from core.schema import CHAIN_COLUMNS, Chain, Quote

log = logging.getLogger(__name__)

SHARED_CACHES = ("quote", "expirations", "chain", "history", "short_volume")
FORMAT = 2  # 2: the "parts" kind (JSON + Arrow IPC frames) and fleet scan entries
SCHEMA = "v{}.{}.{}".format(FORMAT, codec.VERSION, hashlib.sha1(json.dumps(
    [[f.name for f in dataclasses.fields(c)] for c in (Chain, Quote, KeyLevels)]
    + [CHAIN_COLUMNS]).encode()).hexdigest()[:8])  # a new field or chain column: a new namespace
PREFIX = f"od:{SCHEMA}:"
RETRY_S = 2.0          # after a Redis error: seconds during which the L2 is not tried
HEARTBEAT_S = 5.0      # replica heartbeat period; a replica silent for 3 periods is gone
PASSWORD_ENV = "OPTIONS_DASH_REDIS_PASSWORD"
REPLICA_ENV = "OPTIONS_DASH_REPLICA"
# how this process counts its sessions (core.ui.layout installs Streamlit's count; a bare
# process has none): read by the heartbeat thread
SESSIONS: list[Callable[[], int | None]] = [lambda: None]

# compare-and-delete: release the lock only if it still holds our token
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then " \
         "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) " \
           "else return 0 end"
# GET counting fleet-wide hits and misses in one round trip
_COUNTED_GET = "local v = redis.call('GET', KEYS[1]) " \
               "if v then redis.call('HINCRBY', KEYS[2], 'hits', 1) " \
               "else redis.call('HINCRBY', KEYS[2], 'misses', 1) end return v"
# fleet rate limit: 0 = go; < 0 = backed off for -n ms; > 0 = this second is full
_RATE = "local b = redis.call('PTTL', KEYS[1]) if b > 0 then return -b end " \
        "local n = redis.call('INCR', KEYS[2]) if n == 1 then " \
        "redis.call('PEXPIRE', KEYS[2], 2000) end " \
        "if n <= tonumber(ARGV[1]) then return 0 end return 1"


# --- values <-> bytes (never pickle) -----------------------------------------------------------

_frame_to_ipc = codec.frame_to_ipc  # a frame with its index, dtypes restored on the way back
_ipc_to_frame = codec.ipc_to_frame


def encode_value(value: Any) -> tuple[str, bytes] | None:
    """``(kind, payload)`` for a value the L2 may hold, or None (kept in L1 only).

    kinds: ``chain`` (Arrow IPC, :func:`core.codec.chain_to_ipc`), ``frame`` (Arrow IPC with
    the index), ``json`` (:func:`core.codec.dumps`), ``parts`` (tagged JSON whose frames and
    series travel as Arrow IPC streams next to it, :func:`core.codec.dumps_parts`: e.g. a
    scan's CommandRows with their card's bars)."""
    try:
        if isinstance(value, Chain):
            return "chain", codec.chain_to_ipc(value)
        if isinstance(value, pd.DataFrame):
            return "frame", _frame_to_ipc(value)
        text, frames = codec.dumps_parts(value)
        if not frames:
            return "json", text.encode()
        return "parts", _join([text.encode(), *frames])
    except (TypeError, ValueError, pa.ArrowException):
        return None


def _join(parts: list[bytes]) -> bytes:
    """Several byte strings as one: their count (4 bytes), then each length (8) and bytes."""
    out = [struct.pack(">I", len(parts))]
    for part in parts:
        out += [struct.pack(">Q", len(part)), part]
    return b"".join(out)


def _split(data: bytes) -> list[bytes]:
    (n,), pos, parts = struct.unpack(">I", data[:4]), 4, []
    for _ in range(n):
        (size,) = struct.unpack(">Q", data[pos:pos + 8])
        parts.append(data[pos + 8:pos + 8 + size])
        pos += 8 + size
    return parts


def decode_value(kind: str, payload: bytes) -> Any:
    if kind == "chain":
        return codec.ipc_to_chain(payload)
    if kind == "frame":
        return _ipc_to_frame(payload)
    if kind == "json":
        return codec.loads(payload)
    if kind == "parts":
        text, *frames = _split(payload)
        return codec.loads_parts(text, frames)
    raise ValueError(f"shared cache: unknown kind {kind!r}")


def pack(value: Any, stored: float, fresh: float) -> bytes | None:
    """An L2 entry: header length (4 bytes, big-endian), JSON header, payload."""
    encoded = encode_value(value)
    if encoded is None:
        return None
    kind, payload = encoded
    head = json.dumps({"kind": kind, "stored": stored, "fresh": fresh}).encode()
    return struct.pack(">I", len(head)) + head + payload


def unpack(blob: bytes) -> tuple[Any, float, float]:
    """``(value, stored, fresh)`` of an L2 entry (inverse of :func:`pack`)."""
    (n,) = struct.unpack(">I", blob[:4])
    head = json.loads(blob[4:4 + n])
    return decode_value(head["kind"], blob[4 + n:]), float(head["stored"]), float(head["fresh"])


def key_text(cache_name: str, key: Hashable) -> str | None:
    """The Redis key of ``key`` in ``cache_name`` (None when the key cannot be encoded)."""
    try:
        return f"{PREFIX}{cache_name}:{codec.dumps(key)}"
    except (TypeError, ValueError):
        return None


# --- the L2 ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Fetched:
    """What :meth:`L2.fetch` hands back to the cache: the value, its age (s, from when it was
    first loaded anywhere in the fleet), whether this call went upstream, and whether it is a
    stale copy served because the upstream failed."""

    value: Any
    age: float
    called: bool
    failed: bool = False


def redacted(url: str) -> str:
    """``url`` without a password (for logs and the panel)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class L2:
    """The shared second level: one per process, built by :func:`connect`."""

    def __init__(self, url: str, *, password: str | None = None, replica: str | None = None,
                 lock_ms: int = 20_000, timer: Callable[[], float] = clock.timer):
        import redis  # only needed when an L2 is configured

        self._redis_mod = redis
        self.url = url
        self.replica = replica or f"{os.uname().nodename}:{os.getpid()}"
        self.client = redis.Redis.from_url(
            url, password=password, socket_connect_timeout=0.5, socket_timeout=2.0,
            health_check_interval=10)
        self.lock_ms = int(lock_ms)
        self._timer = timer
        self._release = self.client.register_script(_RELEASE)
        self._renew = self.client.register_script(_RENEW)
        self._counted_get = self.client.register_script(_COUNTED_GET)
        self._rate = self.client.register_script(_RATE)
        self._down_until = 0.0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self.hits = self.misses = self.stale_served = self.writes = self.waits = 0
        self.upstream_calls = self.errors = self.not_shared = 0
        self.scans_led = 0  # fleet scans this replica ran as the leader
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- availability --
    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            first = self.available
            self._down_until = time.monotonic() + RETRY_S
            self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("shared cache unavailable (%s); serving from L1 + upstream",
                        self.last_error)

    def _ok(self) -> None:
        if self.last_error is not None:
            with self._lock:
                if self.last_error is not None:
                    log.warning("shared cache available again")
                    self.last_error = None

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    # -- entries --
    def _read(self, rkey: str, counted: bool = True) -> tuple[Any, float, float] | None:
        blob = (self._counted_get(keys=[rkey, PREFIX + "stats"]) if counted
                else self.client.get(rkey))
        if blob is None:
            return None
        return unpack(blob)

    def _write(self, rkey: str, blob: bytes, max_age: float) -> None:
        self.client.set(rkey, blob, px=max(1, int(max_age * 1000)))
        self._count("writes")

    def store(self, bcache: "cache.BoundedCache", key: Hashable, value: Any,
              fresh_ttl: float, age: float = 0.0) -> bool:
        """Write ``value`` (loaded ``age`` s ago) to the L2; False when not shared (cannot be
        encoded, or Redis unavailable). Never raises."""
        rkey = key_text(bcache.name, key)
        if rkey is None or not self.available:
            return False
        blob = pack(value, self._timer() - age, fresh_ttl)
        if blob is None:
            self._count("not_shared")
            return False
        try:
            self._write(rkey, blob, bcache.max_age - age)
        except self._redis_mod.RedisError as exc:
            self._failed(exc)
            return False
        self._ok()
        return True

    def fetch(self, bcache: "cache.BoundedCache", key: Hashable, loader: Callable[[], Any],
              fresh_ttl: float, *, refreshing: bool = False) -> Fetched:
        """The value of ``key``: from Redis if fresh there, else from ONE loader call in the
        whole fleet (see the module docstring). ``refreshing``: this process already serves an
        older copy, so it waits for a fresh one rather than taking Redis's stale copy.
        Redis errors never escape: the loader is called instead."""
        rkey = key_text(bcache.name, key)
        if rkey is None or not self.available:
            return self._call(loader)
        try:
            return self._fetch(bcache, rkey, loader, fresh_ttl, refreshing)
        except self._redis_mod.RedisError as exc:
            self._failed(exc)
            return self._call(loader)

    def _call(self, loader) -> Fetched:
        self._count("upstream_calls")
        return Fetched(loader(), 0.0, True)

    def hold(self, name: str, token: str, seconds: float) -> bool:
        """Take, or keep, the fleet-wide lock ``name`` for ``seconds`` (``SET NX PX``; renewed
        with a compare-and-expire script while ``token`` holds it). True while this caller
        holds it. Redis unreachable: True — each replica then works on its own (the recorder
        reads through the shared caches, so a second recorder costs disk, not upstream)."""
        key = f"{PREFIX}lock:{name}"
        ms = max(int(seconds * 1000), 1)
        if not self.available:
            return True
        try:
            held = bool(self.client.set(key, token, nx=True, px=ms)) or \
                bool(self._renew(keys=[key], args=[token, ms]))
        except self._redis_mod.RedisError as exc:
            self._failed(exc)
            return True
        self._ok()
        return held

    def _fetch(self, bcache, rkey, loader, fresh_ttl, refreshing) -> Fetched:
        lock = rkey + ":lock"
        deadline = time.monotonic() + bcache.wait_timeout
        poll = 0.01
        waited = False
        while True:
            found = self._read(rkey, counted=not waited)
            self._ok()
            now = self._timer()
            if found is not None:
                value, stored, fresh = found
                age = max(0.0, now - stored)
                if age < min(fresh, fresh_ttl):
                    self._count("hits")
                    return Fetched(value, age, False)
            if not waited:
                self._count("misses")
            token = secrets.token_hex(8)
            if self.client.set(lock, token, nx=True, px=self.lock_ms):
                return self._lead(bcache, rkey, lock, token, loader, fresh_ttl, found)
            if found is not None and not refreshing:
                self._count("stale_served")  # another replica is refreshing it: serve this
                return Fetched(found[0], age, False)
            if not waited:
                self._count("waits")
                waited = True
            if time.monotonic() + poll > deadline:
                if found is not None:
                    return Fetched(found[0], age, False)
                raise Unavailable("The data source is taking too long to answer. "
                                  "Try again shortly.")
            time.sleep(poll)
            poll = min(poll * 2, 0.1)

    def _lead(self, bcache, rkey, lock, token, loader, fresh_ttl, found) -> Fetched:
        try:
            again = self._read(rkey, counted=False)  # a leader may have written it just before our lock
            if again is not None and (found is None or again[1] != found[1]):
                value, stored, fresh = again
                age = max(0.0, self._timer() - stored)
                if age < min(fresh, fresh_ttl):
                    self._count("hits")
                    return Fetched(value, age, False)
            self._count("upstream_calls")
            try:
                value = loader()
            except UpstreamError:
                if found is None:
                    raise
                self._count("stale_served")  # the upstream failed: the fleet's stale copy
                return Fetched(found[0], max(0.0, self._timer() - found[1]), True, True)
            blob = pack(value, self._timer(), fresh_ttl)
            if blob is None:
                self._count("not_shared")
            else:
                try:
                    self._write(rkey, blob, bcache.max_age)
                except self._redis_mod.RedisError as exc:
                    self._failed(exc)
            return Fetched(value, 0.0, True)
        finally:
            try:
                self._release(keys=[lock], args=[token])
            except self._redis_mod.RedisError as exc:  # expires by itself
                self._failed(exc)

    # -- the fleet --
    def heartbeat(self) -> None:
        """Announce this replica (sessions, pid) for :data:`HEARTBEAT_S` x 3 seconds."""
        if not self.available:
            return
        try:
            sessions = SESSIONS[0]()
        except Exception:  # noqa: BLE001 - a count must never stop the heartbeat
            sessions = None
        info = {"replica": self.replica, "pid": os.getpid(), "sessions": sessions,
                "at": time.time()}
        try:
            self.client.set(f"{PREFIX}replica:{self.replica}", json.dumps(info),
                            px=int(HEARTBEAT_S * 3000))
        except self._redis_mod.RedisError as exc:
            self._failed(exc)
        else:
            self._ok()

    def start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(HEARTBEAT_S):
                self.heartbeat()
        self.heartbeat()
        self._beat = threading.Thread(target=beat, name="l2-heartbeat", daemon=True)
        self._beat.start()

    def close(self) -> None:
        self._stop.set()
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass

    def status(self) -> dict:
        """This replica's L2 view for the memory panel: availability, this process's counters
        and, when Redis answers, the fleet's (bytes, keys, hit rate, replicas, sessions, scans
        run: ``scan_runs``).
        A dead Redis costs one failed ping per :data:`RETRY_S` at most."""
        with self._lock:
            local = {"hits": self.hits, "misses": self.misses, "stale_served": self.stale_served,
                     "writes": self.writes, "waits": self.waits, "errors": self.errors,
                     "upstream_calls": self.upstream_calls, "not_shared": self.not_shared,
                     "scans_led": self.scans_led}
        out = {"configured": True, "url": redacted(self.url), "replica": self.replica,
               "schema": SCHEMA, "available": False, "error": self.last_error, "local": local}
        if not self.available:
            return out
        try:
            mem = self.client.info("memory")
            caches = tuple(f"{PREFIX}{name}:".encode() for name in SHARED_CACHES)
            keys = sum(1 for k in self.client.scan_iter(match=PREFIX + "*", count=1000)
                       if k.startswith(caches) and not k.endswith(b":lock"))
            counts = {k.decode(): int(v) for k, v in self.client.hgetall(PREFIX + "stats").items()}
            replicas = [json.loads(self.client.get(k) or b"{}")
                        for k in self.client.scan_iter(match=PREFIX + "replica:*", count=100)]
            scans = sum(int(v) for v in self.client.hvals(SCAN_RUNS))
        except self._redis_mod.RedisError as exc:
            self._failed(exc)
            out["error"] = self.last_error
            return out
        self._ok()
        replicas = [r for r in replicas if r]
        hits, misses = counts.get("hits", 0), counts.get("misses", 0)
        sessions = [r.get("sessions") for r in replicas]
        out.update(available=True, error=None, bytes=int(mem.get("used_memory", 0)),
                   max_bytes=int(mem.get("maxmemory", 0)),
                   keys=keys,
                   hits=hits, misses=misses,
                   hit_rate=hits / (hits + misses) if hits + misses else None,
                   replicas=len(replicas), scan_runs=scans,
                   sessions=sum(s for s in sessions if isinstance(s, int))
                   if any(isinstance(s, int) for s in sessions) else None)
        return out


class FleetRateLimiter(cache.RateLimiter):
    """The fleet's upstream rate limit: at most ``per_second`` calls per wall-clock second for
    every replica together (a counter per second in Redis) and one shared back-off (a Redis key
    that lives for the back-off). Falls back to the process-wide bucket when Redis fails."""

    def __init__(self, l2: L2, per_second: float, **kw):
        super().__init__(per_second, **kw)
        self.l2 = l2
        self.limit = max(1, int(per_second))
        self.fleet_waits = 0

    def acquire(self) -> None:
        if not self.l2.available:
            return super().acquire()
        deadline = time.monotonic() + self.max_wait
        while True:
            now = time.time()
            try:
                verdict = int(self.l2._rate(keys=[PREFIX + "backoff", f"{PREFIX}rate:{int(now)}"],
                                            args=[self.limit]))
            except self.l2._redis_mod.RedisError as exc:
                self.l2._failed(exc)
                return super().acquire()
            if verdict == 0:
                return
            wait = -verdict / 1000 if verdict < 0 else (int(now) + 1 - now) + 0.001
            if time.monotonic() + wait > deadline:
                with self._lock:
                    self.rejected += 1
                raise RateLimited("Too many requests to the data source right now; "
                                  "try again in a few seconds.")
            with self._lock:
                self.waited += wait
                self.fleet_waits += 1
            time.sleep(wait)

    def penalise(self) -> float:
        backoff = super().penalise()
        if self.l2.available:
            try:
                self.l2.client.set(PREFIX + "backoff", "1", px=int(backoff * 1000))
            except self.l2._redis_mod.RedisError as exc:
                self.l2._failed(exc)
        return backoff

    def stats(self) -> dict:
        out = super().stats()
        out.update(fleet=True, fleet_waits=self.fleet_waits)
        return out


def connect(settings) -> L2 | None:
    """The process's L2 from ``settings.redis_url`` (None when unset: L1 only). The password
    comes from ``OPTIONS_DASH_REDIS_PASSWORD`` (or the URL). Never raises because Redis is
    down: the L2 starts unavailable and connects on first use."""
    url = getattr(settings, "redis_url", None)
    if not url:
        return None
    try:
        l2 = L2(url, password=os.environ.get(PASSWORD_ENV) or None,
                replica=os.environ.get(REPLICA_ENV) or None,
                lock_ms=int((settings.upstream_timeout * 2 + 4) * 1000))
    except ImportError:
        log.warning("OPTIONS_DASH_REDIS_URL is set but redis-py is not installed: L1 only")
        return None
    l2.start_heartbeat()
    return l2


def status_text(status: dict | None) -> str:
    """One line for the memory panel: what the shared cache is doing (or that it is off)."""
    if status is None:
        return "Shared cache: off (one process; set OPTIONS_DASH_REDIS_URL for a fleet)"
    if not status.get("available"):
        return (f"Shared cache unavailable ({status.get('url')}): serving from this replica's "
                f"L1 + upstream; reconnecting by itself")
    rate = status.get("hit_rate")
    sessions = status.get("sessions")
    return (f"Shared cache {status['url']}: {status['keys']} keys, "
            f"{status['bytes'] / 2**20:,.1f} MB"
            + (f" of {status['max_bytes'] / 2**20:,.0f} MB" if status.get("max_bytes") else "")
            + f", hit rate {'n/a' if rate is None else f'{rate:.0%}'} · "
            f"{status['replicas']} replica{'s' if status['replicas'] != 1 else ''}, "
            f"{'n/a' if sessions is None else sessions} sessions · this replica "
            f"{status['replica']}"
            + (f" · scans run once per fleet: {status['scan_runs']} so far, "
               f"{status.get('local', {}).get('scans_led', 0)} led here"
               if status.get("scan_runs") is not None else ""))


# --- fleet scans ---------------------------------------------------------------------------------

SCAN_LOCK_S = 15.0    # a scan leader's lock expiry (s); renewed every SCAN_POLL_S while it runs
SCAN_POLL_S = 0.25    # how often a leader publishes progress and a follower reads it (s)


@dataclasses.dataclass
class ScanState:
    """What Redis says about one scan key: the finished result's L2 entry (bytes; decode with
    :func:`unpack`, read its times with :func:`entry_head`) and whether a leader holds it."""

    entry: bytes | None
    led: bool


def entry_head(blob: bytes) -> tuple[float, float]:
    """``(stored, fresh)`` of an L2 entry, from its header only (no payload decoded)."""
    (n,) = struct.unpack(">I", blob[:4])
    head = json.loads(blob[4:4 + n])
    return float(head["stored"]), float(head["fresh"])


class FleetScan:
    """One scan key's fleet side, for one job of one replica (see the module docstring).
    Every method degrades: a Redis error marks the L2 unavailable and answers as if this
    replica were alone (lead, nothing published, no state)."""

    def __init__(self, l2: L2, key: Hashable):
        text = codec.dumps(key)  # TypeError / ValueError: the key is not shareable
        self.l2 = l2
        self.key = f"{PREFIX}scan:{text}"
        self.progress_key = self.key + ":progress"
        self.lock_name = f"scan:{text}"
        self.lock_key = f"{PREFIX}lock:{self.lock_name}"
        self.token = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def of(cls, l2: L2 | None, key: Hashable) -> "FleetScan | None":
        """The key's fleet side, or None: no L2, Redis unavailable, or a key the codec cannot
        encode (the scan then runs on this replica, as in one process)."""
        if l2 is None or not l2.available:
            return None
        try:
            return cls(l2, key)
        except (TypeError, ValueError):
            return None

    def _guard(self, call: Callable[[], Any], failed: Any = None) -> Any:
        try:
            out = call()
        except self.l2._redis_mod.RedisError as exc:
            self.l2._failed(exc)
            return failed
        self.l2._ok()
        return out

    def state(self) -> ScanState | None:
        """The finished result in Redis and whether a leader runs it (one round trip); None
        when Redis is unavailable."""
        if not self.l2.available:
            return None

        def read():
            entry, holder = self.l2.client.pipeline(transaction=False) \
                .get(self.key).get(self.lock_key).execute()
            return ScanState(entry, holder is not None)
        return self._guard(read)

    def poll(self) -> tuple[bool, dict] | None:
        """``(led, progress)`` for a follower (one round trip); None when Redis is
        unavailable."""
        if not self.l2.available:
            return None

        def read():
            holder, raw = self.l2.client.pipeline(transaction=False) \
                .get(self.lock_key).get(self.progress_key).execute()
            return holder is not None, json.loads(raw) if raw else {}
        return self._guard(read)

    def take(self) -> bool:
        """Take (or renew) the leader's lock; True while this job holds it (True when Redis
        is unavailable: the job runs here, as in one process)."""
        return self.l2.hold(self.lock_name, self.token, SCAN_LOCK_S)

    def publish_progress(self, completed: int, total: int) -> None:
        """Progress for followers (lives as long as the lock: a dead leader's goes with it)."""
        body = json.dumps({"state": "running", "completed": completed, "total": total,
                           "leader": self.l2.replica})
        with self._lock:
            if not self._closed and self.l2.available:
                self._guard(lambda: self.l2.client.set(self.progress_key, body,
                                                       px=int(SCAN_LOCK_S * 1000)))

    def publish_result(self, payload: Any, stored: float, fresh: float, max_age: float) -> bool:
        """Write the finished scan (an L2 entry), drop the progress, release the lock. False
        when ``payload`` cannot be encoded: followers are told to run it themselves."""
        blob = pack(payload, stored, fresh)
        with self._lock:
            self._closed = True
            if not self.l2.available:
                return blob is not None
            pipe = self.l2.client.pipeline(transaction=False)
            if blob is None:
                pipe.set(self.progress_key, json.dumps({"state": "local"}),
                         px=int(SCAN_LOCK_S * 1000))
            else:
                pipe.set(self.key, blob, px=max(1, int(max_age * 1000))).delete(self.progress_key)
            self._guard(pipe.execute)
            self.release()
        if blob is not None:
            self.l2._count("writes")
        return blob is not None

    def release(self) -> None:
        self._guard(lambda: self.l2._release(keys=[self.lock_key], args=[self.token]))

    def count_run(self, name: str) -> None:
        """Count one run of scan ``name`` in the fleet (``<prefix>scans``: name -> runs; scan
        names are the pages' constants, so the hash stays small)."""
        self.l2._count("scans_led")
        self._guard(lambda: self.l2.client.hincrby(SCAN_RUNS, name, 1))


SCAN_RUNS = PREFIX + "scans"  # hash: scan name -> runs led in the whole fleet


def scan_runs(l2: L2) -> dict[str, int]:
    """How many times each scan ran in the fleet (every replica's leads together); {} when
    Redis is unavailable."""
    if not l2.available:
        return {}
    try:
        raw = l2.client.hgetall(SCAN_RUNS)
    except l2._redis_mod.RedisError as exc:
        l2._failed(exc)
        return {}
    return {k.decode(): int(v) for k, v in raw.items()}
