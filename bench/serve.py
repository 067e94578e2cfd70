"""Bench-only server entry: ``streamlit run Home.py`` in this process, plus what a bench needs
to see inside it. Never used by the product.

    python bench/serve.py --server.port 8599 [any other `streamlit run` flag]

Everything else comes from env (so the streamlit flags stay exactly those of ``make run``):

``BENCH_STATS``         path of a JSON-lines file; every ``BENCH_STATS_EVERY`` s (default 1) a
                        line: time, RSS, the byte budget, per-cache entries/bytes/upstream
                        calls (``core.memory.cache_stats()``), provider calls per key
                        (``key_calls``: the layer's provider is wrapped in a counter, both
                        variants), active sessions, churn progress.
``BENCH_VARIANT``       ``ours`` (default) or ``cache_data``: swap the fetch layer's public
                        functions for st.cache_data wrappers (bench/variant_cache_data).
``BENCH_CHURN_KEYS``    start a driver thread calling ``core.fetch.chain`` for that many
                        distinct (symbol, expiry) keys, ``BENCH_CHURN_PASSES`` times, once
                        the file ``BENCH_CHURN_GO`` exists (the bench creates it when its
                        sessions are open).

``BENCH_FAULT_FILE``    fault injection (bench/soak.py): the provider answers normally while the
                        file says ``ok`` (or is missing); ``down`` = a black-holed network (each
                        call waits ``BENCH_FAULT_TIMEOUT`` s, default 8, then fails with
                        Unavailable); ``slow`` = each call waits ``BENCH_FAULT_SLOW`` s (default
                        1.5) and then answers. Calls are counted either way.

With ``BENCH_STATS`` set, fragment refreshes are also timed inside the server (Streamlit 1.67's
``AppSession``, bench only): for each auto-rerun a session requested, ``server_s`` = request
received -> that fragment run finished on the script thread (the oldest waiting request of the
session, as bench/ws_client.py measures on the client side), ``run_s`` = that run's own
start -> finish (the rest of ``server_s`` is waiting for the session's script thread) and
``loop_lag_s`` = finished -> its ``script_finished`` handled on the server's event loop (the
websocket sends are queued there). Each stats line carries the ``fragments`` timed since the previous line.

The stats thread reads only counters (no cache is filled by it) and costs well under 1 MB.
When the file ``<BENCH_STATS>.gc`` appears it runs one ``gc.collect()`` (and deletes the file):
the session bench asks for it before each RSS reading, on both variants alike, so that a
reading does not depend on when Python's cyclic collector last ran. ``BENCH_TRACEMALLOC=<frames>``
(diagnosis only) traces allocations; writing a path into ``<BENCH_STATS>.snap`` dumps a snapshot
there (bench/profile_sessions.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROVIDER_CACHES = ("quote", "expirations", "chain", "history", "short_volume")
KEY_CALLS: dict[str, int] = {}  # "method|arg|..." -> provider calls (both variants)
_key_lock = threading.Lock()


def count_call(method: str, *args) -> None:
    key = "|".join([method, *map(str, args)])
    with _key_lock:
        KEY_CALLS[key] = KEY_CALLS.get(key, 0) + 1


class CountingProvider:
    """The fetch layer's own provider, counting each call per (method, arguments): the
    upstream as the fetch layer sees it (like tests/conftest.py's), nothing replaced."""

    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name):
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def counted(*args):
            count_call(name, *args)
            return target(*args)
        return counted
CHURN = {"done": 0, "keys": 0, "passes_done": 0, "errors": 0, "started": None, "finished": None}


class FaultProvider:
    """The provider, degraded on demand by the contents of a file (see BENCH_FAULT_FILE)."""

    def __init__(self, inner, path: str):
        self._inner = inner
        self.name = inner.name
        self._path = path
        self._mode, self._read_at = "ok", 0.0
        self.timeout = float(os.environ.get("BENCH_FAULT_TIMEOUT", "8"))
        self.slow = float(os.environ.get("BENCH_FAULT_SLOW", "1.5"))

    def mode(self) -> str:
        now = time.monotonic()
        if now - self._read_at > 0.5:
            try:
                self._mode = pathlib.Path(self._path).read_text().strip() or "ok"
            except OSError:
                self._mode = "ok"
            self._read_at = now
        return self._mode

    def __getattr__(self, name):
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def faulty(*args):
            mode = self.mode()
            if mode == "down":
                from core.errors import Unavailable

                time.sleep(self.timeout)
                raise Unavailable("The data source timed out.")
            if mode == "slow":
                time.sleep(self.slow)
            return target(*args)
        return faulty


def _active_sessions() -> int | None:
    from core.ui import session

    return session.active_sessions()


def _all_sessions() -> int | None:
    """Connected + disconnected-but-kept sessions (kept for server.disconnectedSessionTTL).
    Reads the runtime's session manager (private API of streamlit 1.67; bench only)."""
    try:
        from streamlit import runtime

        return len(runtime.get_instance()._session_mgr.list_sessions())
    except Exception:  # noqa: BLE001 - not knowable: say so
        return None


def stats_line() -> dict:
    """One sample of what the process holds (plain data)."""
    from core import cache, memory

    caches = {c["name"]: {k: c[k] for k in ("entries", "max_entries", "bytes", "upstream_calls",
                                            "refreshes", "hits", "misses", "joins", "evictions")}
              | {"evictions_by_reason": c["evictions_by_reason"]} for c in cache.stats()}
    line = {"t": time.time(), "rss": memory.rss_bytes(), "sessions": _active_sessions(),
            "sessions_kept": _all_sessions(),
            "caches": caches, "upstream_calls": sum(caches.get(n, {}).get("upstream_calls", 0)
                                                    for n in PROVIDER_CACHES),
            "churn": dict(CHURN)}
    with _key_lock:
        line["key_calls"] = dict(KEY_CALLS)
    if cache.REGISTRY:
        from core import fetch, governor

        line["budget"] = fetch.budget_stats()
        line["breakers"] = fetch.breaker_stats()
        gov = governor.status()
        line["governor"] = {k: gov[k] for k in ("level", "rss", "limit", "shrunk_to", "sheds")}
        line["scans_queued"] = len(fetch._get().queued)
    variant = sys.modules.get("bench.variant_cache_data.cache_data")
    if variant is not None:
        line["variant_calls"] = dict(variant.CALLS)
        line["upstream_calls"] = sum(variant.CALLS.values())
    return line


FRAGMENTS: list[tuple[float, ...]] = []  # (t, server_s, loop_lag_s, run_s) since the last line
_frag_lock = threading.Lock()


def time_fragments() -> None:
    """Time each auto-rerun fragment refresh inside the server (see the module docstring):
    wraps three methods of Streamlit's ``AppSession`` (private API of 1.67; bench only)."""
    from streamlit.runtime import app_session
    from streamlit.runtime.scriptrunner import ScriptRunnerEvent

    cls = app_session.AppSession
    request, on_event, on_loop = (cls.request_rerun, cls._on_scriptrunner_event,
                                  cls._handle_scriptrunner_event_on_event_loop)
    done, started = ScriptRunnerEvent.FRAGMENT_STOPPED_WITH_SUCCESS, ScriptRunnerEvent.SCRIPT_STARTED

    def request_rerun(self, client_state):
        if client_state is not None and client_state.is_auto_rerun and \
                client_state.fragment_id:
            waiting = self.__dict__.setdefault("_bench_waiting", [])
            waiting.append(time.perf_counter())
        return request(self, client_state)

    def on_scriptrunner_event(self, sender, event, *args, **kwargs):
        if event == started:
            self._bench_started = time.perf_counter()
        elif event == done:
            waiting = self.__dict__.get("_bench_waiting")
            if waiting:  # requests queued together run together (one finish)
                now = time.perf_counter()
                run = now - self.__dict__.get("_bench_started", now)
                self._bench_finished = (now, now - waiting[0], run)
                waiting.clear()
        return on_event(self, sender, event, *args, **kwargs)

    def handle_on_loop(self, sender, event, *args, **kwargs):
        finished = self.__dict__.pop("_bench_finished", None) if event == done else None
        if finished is not None:
            at, server_s, run_s = finished
            with _frag_lock:
                FRAGMENTS.append((time.time(), server_s, time.perf_counter() - at, run_s))
        return on_loop(self, sender, event, *args, **kwargs)

    cls.request_rerun = request_rerun
    cls._on_scriptrunner_event = on_scriptrunner_event
    cls._handle_scriptrunner_event_on_event_loop = handle_on_loop


def _drain_fragments() -> list[tuple[float, ...]]:
    with _frag_lock:
        out = FRAGMENTS[:]
        FRAGMENTS.clear()
    return [(round(t, 3), *(round(x, 4) for x in rest)) for t, *rest in out]


def _maybe_snapshot(path: str) -> None:
    """With BENCH_TRACEMALLOC on: when ``<stats>.snap`` names a file, dump a tracemalloc
    snapshot there (after a full collection) and delete the request (diagnosis only)."""
    import tracemalloc

    request = path + ".snap"
    if not tracemalloc.is_tracing() or not os.path.exists(request):
        return
    import gc

    target = pathlib.Path(request).read_text().strip()
    os.unlink(request)
    gc.collect()
    tracemalloc.take_snapshot().dump(target + ".part")
    os.replace(target + ".part", target)  # the reader sees a whole file or none


def _stats_loop(path: str, every: float) -> None:
    import gc

    gc_file = path + ".gc"  # the bench touches it to ask for one full collection
    last_gc = None
    with open(path, "a", buffering=1) as out:
        while True:
            if os.path.exists(gc_file):
                os.unlink(gc_file)
                gc.collect()
                last_gc = time.time()
            _maybe_snapshot(path)
            try:
                out.write(json.dumps(stats_line() | {"gc_at": last_gc,
                                                     "fragments": _drain_fragments()},
                                     default=str) + "\n")
            except Exception as exc:  # noqa: BLE001 - a bench probe must not kill the server
                out.write(json.dumps({"t": time.time(), "error": repr(exc)}) + "\n")
            time.sleep(every)


def churn_keys(n: int) -> list[tuple[str, object]]:
    """``n`` distinct (symbol, expiry) keys over the whole universe, symbol by symbol."""
    from core import fetch, symbols

    keys: list[tuple[str, object]] = []
    for sym in symbols.universe():
        try:
            keys += [(sym, e) for e in fetch.expirations(sym)]
        except Exception:  # noqa: BLE001 - a symbol without options is skipped
            continue
        if len(keys) >= n:
            break
    return keys[:n]


def _churn_loop(n: int, passes: int, go: str) -> None:
    from core import fetch

    while not os.path.exists(go):
        time.sleep(0.2)
    keys = churn_keys(n)
    CHURN.update(keys=len(keys), started=time.time())
    for p in range(passes):
        for sym, expiry in keys:
            try:
                fetch.chain(sym, expiry)
            except Exception:  # noqa: BLE001 - counted, the driver goes on
                CHURN["errors"] += 1
            CHURN["done"] += 1
        CHURN["passes_done"] = p + 1
    CHURN["finished"] = time.time()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)
    if os.environ.get("BENCH_TRACEMALLOC"):  # diagnosis only: slows the server down
        import tracemalloc

        tracemalloc.start(int(os.environ["BENCH_TRACEMALLOC"]))
    # import everything the threads use here, before they start: two threads importing
    # pandas/plotly at once can see a partially initialised module
    from streamlit.web import cli

    from core import cache, fetch, memory  # noqa: F401
    from core.ui import session  # noqa: F401

    layer = fetch._get()  # the provider named by OPTIONS_DASH_PROVIDER, wrapped to count calls
    if os.environ.get("BENCH_FAULT_FILE"):
        layer.provider = FaultProvider(layer.provider, os.environ["BENCH_FAULT_FILE"])
    layer.provider = CountingProvider(layer.provider)
    if os.environ.get("BENCH_VARIANT", "ours") == "cache_data":
        from bench.variant_cache_data import cache_data

        cache_data.install(CountingProvider(layer.provider._inner))
    if os.environ.get("BENCH_STATS"):
        time_fragments()
        threading.Thread(target=_stats_loop, name="bench-stats", daemon=True,
                         args=(os.environ["BENCH_STATS"],
                               float(os.environ.get("BENCH_STATS_EVERY", "1")))).start()
    if os.environ.get("BENCH_CHURN_KEYS"):
        threading.Thread(target=_churn_loop, name="bench-churn", daemon=True,
                         args=(int(os.environ["BENCH_CHURN_KEYS"]),
                               int(os.environ.get("BENCH_CHURN_PASSES", "1")),
                               os.environ["BENCH_CHURN_GO"])).start()
    sys.argv = ["streamlit", "run", str(ROOT / "Home.py"), *argv]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
