"""A lightweight Streamlit client: one websocket per session, no browser.

It speaks the same protocol as Streamlit's frontend, checked against **streamlit 1.67.0**, whose
server is Starlette/uvicorn (``streamlit/web/server/starlette/starlette_websocket.py``; the old
Tornado ``browser_websocket_handler.py`` is gone in 1.67) and the protobufs in
``streamlit/proto`` (``BackMsg``, ``ClientState``, ``ForwardMsg``, ``AutoRerun``):

1. open ``ws://host:port/_stcore/stream`` with subprotocol ``streamlit`` and permessage-deflate
   (what Chrome negotiates, so the server keeps the same per-connection compressor a tab costs).
   No ``Origin`` header: the server then skips the XSRF/auth-cookie check (user_info = {}).
2. send ``BackMsg(rerun_script=ClientState(page_name=<url path>, query_string=...))``: the
   server resolves the page by its URL pathname (``Option_Volume_Walls``; ``""`` is Home), just
   as a browser's first load does;
3. read ``ForwardMsg``s (``new_session`` gives the page's script hash, ``delta`` the elements)
   until ``script_finished`` (``FINISHED_SUCCESSFULLY``/``..._WITH_COMPILE_ERROR``; a
   ``FINISHED_EARLY_FOR_RERUN`` or a fragment's finish is not the end of a full run);
4. keep the socket open (and read it: pings are answered, ``auto_rerun`` messages of
   ``st.fragment(run_every=...)`` are honoured by sending the fragment rerun the frontend
   would send, every ``interval`` s, until a new full run starts or ``stop_auto_rerun``
   names the fragment), so the server holds the session until :meth:`Session.close`.

It sends no widget changes: every session sits on its page with the default inputs, as a user
who opened the page and watches it. ``rerun()`` re-sends the full-page rerun a browser sends on
a widget interaction (with no widget change).

Use::

    async with Session(base_url, "Option_Volume_Walls") as s:   # opened + first run done
        print(s.first_run.seconds, s.first_run.exceptions)
        await s.rerun()
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

STREAMLIT_CHECKED = "1.67.0"
_DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}


@dataclasses.dataclass
class Run:
    """One full script run as the client saw it."""

    seconds: float = 0.0           # rerun sent -> script_finished received
    messages: int = 0              # ForwardMsgs received during the run
    bytes: int = 0                 # their wire size (after websocket decompression)
    elements: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    exceptions: list = dataclasses.field(default_factory=list)  # uncaught exception messages
    errors: list = dataclasses.field(default_factory=list)      # st.error boxes
    warnings: list = dataclasses.field(default_factory=list)    # st.warning boxes
    status: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED_SUCCESSFULLY" and not self.exceptions


def url_pathname(path: str) -> str:
    """The page's URL path as the server knows it: ``Home.py`` -> ``""``,
    ``pages/4_Option_Volume_Walls.py`` -> ``Option_Volume_Walls`` (number prefix dropped)."""
    if path.endswith("Home.py"):
        return ""
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    return stem.split("_", 1)[1] if stem.split("_", 1)[0].isdigit() else stem


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") \
        + "/_stcore/stream"


class Session:
    """One Streamlit session held open over a websocket (see the module docstring)."""

    def __init__(self, base_url: str, page_name: str = "", query: str = "", *,
                 timeout: float = 120.0, follow_auto_rerun: bool = True,
                 headers: dict | None = None):
        self.url = ws_url(base_url)
        self.headers = headers or {}  # e.g. a load balancer's stickiness cookie
        self.response_headers: dict = {}  # of the websocket handshake (lower-case names: x-replica, ...)
        self.page_name = page_name
        self.query = query
        self.timeout = timeout
        self.follow_auto_rerun = follow_auto_rerun
        self.page_hash = ""
        self.session_id = ""
        self.first_run: Run | None = None
        self.runs = 0
        self.fragment_runs = 0
        self.fragment_seconds: list[float] = []  # auto-rerun sent -> that fragment run finished
        self._fragment_sent: collections.deque = collections.deque(maxlen=64)
        self.total_bytes = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, asyncio.Task] = {}
        self._current: Run | None = None
        self.background = Run()  # what arrives between full runs (fragment runs, ...)
        self._started = 0.0
        self._finished: asyncio.Future | None = None
        self.closed_reason: str | None = None

    # -- lifecycle --
    async def open(self) -> Run:
        self._ws = await websockets.connect(
            self.url, subprotocols=["streamlit"], compression="deflate", max_size=64 * 2**20,
            open_timeout=self.timeout, ping_interval=None,  # the server pings; we answer
            additional_headers=self.headers or None)
        self.response_headers = {k.lower(): v for k, v in self._ws.response.headers.raw_items()}
        self._reader = asyncio.create_task(self._read(), name=f"ws-read-{self.page_name}")
        self.first_run = await self.rerun()
        return self.first_run

    async def close(self) -> None:
        self._cancel_timers()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

    async def __aenter__(self) -> "Session":
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- runs --
    def _client_state(self, fragment_id: str = "") -> ClientState:
        state = ClientState(query_string=self.query, page_script_hash=self.page_hash,
                            page_name=self.page_name, fragment_id=fragment_id,
                            is_auto_rerun=bool(fragment_id))
        state.context_info.timezone = "America/New_York"
        state.context_info.locale = "en-US"
        state.context_info.color_scheme = "dark"
        return state

    async def rerun(self) -> Run:
        """Send a full-page rerun and wait for its ``script_finished``."""
        loop = asyncio.get_running_loop()
        self._current = Run()
        self._finished = loop.create_future()
        self._started = time.perf_counter()
        await self._ws.send(BackMsg(rerun_script=self._client_state()).SerializeToString())
        run = await asyncio.wait_for(self._finished, self.timeout)
        self.runs += 1
        return run

    async def navigate(self, page_name: str) -> Run:
        """Go to another page in the same session (as a click on a page link does)."""
        self.page_name, self.page_hash = page_name, ""
        return await self.rerun()

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._finished is not None and not self._finished.done():
                continue  # a full run is in progress: the frontend waits too
            await self._ws.send(BackMsg(rerun_script=self._client_state(fragment_id))
                                .SerializeToString())
            self._fragment_sent.append(time.perf_counter())
            self.fragment_runs += 1

    def _cancel_timers(self, ids=None) -> None:
        for fid in list(self._timers if ids is None else ids):
            task = self._timers.pop(fid, None)
            if task is not None:
                task.cancel()

    # -- reading --
    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.total_bytes += len(raw)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(msg, len(raw))
        except websockets.ConnectionClosed as exc:
            self.closed_reason = f"closed {exc.rcvd.code if exc.rcvd else ''}"
        finally:
            if self._finished is not None and not self._finished.done():
                self._finished.set_exception(ConnectionError(self.closed_reason or "closed"))

    def _handle(self, msg: ForwardMsg, nbytes: int) -> None:
        in_run = self._finished is not None and not self._finished.done()
        run = self._current if in_run else self.background
        run.messages += 1
        run.bytes += nbytes
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            if not msg.metadata.run.fragment_ids:  # a full run starts: fragment timers are
                self._cancel_timers()  # dropped; those still rendered send auto_rerun again
            self.page_hash = msg.new_session.page_script_hash
            self.session_id = msg.new_session.initialize.session_id or self.session_id
        elif kind == "page_info_changed" or kind == "navigation":
            pass
        elif kind == "delta":
            delta = msg.delta
            if delta.WhichOneof("type") == "new_element":
                element = delta.new_element
                etype = element.WhichOneof("type")
                run.elements[etype] += 1
                if etype == "exception":
                    run.exceptions.append(f"{element.exception.type}: {element.exception.message}")
                elif etype == "alert" and element.alert.format == Alert.ERROR:
                    run.errors.append(element.alert.body[:200])
                elif etype == "alert" and element.alert.format == Alert.WARNING:
                    run.warnings.append(element.alert.body[:300])
        elif kind == "auto_rerun" and self.follow_auto_rerun:
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid not in self._timers and interval > 0:
                self._timers[fid] = asyncio.create_task(self._auto_rerun(fid, interval))
        elif kind == "stop_auto_rerun":
            self._cancel_timers(msg.stop_auto_rerun.fragment_ids)
        elif kind == "script_finished":
            status = msg.script_finished
            if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and not in_run:
                self.background.status = "fragment runs"
                if self._fragment_sent:  # the oldest request still waiting -> this finish
                    self.fragment_seconds.append(time.perf_counter() - self._fragment_sent[0])
                    self._fragment_sent.clear()  # requests queued together run together
            if status in _DONE and in_run:
                run.seconds = time.perf_counter() - self._started
                run.status = ForwardMsg.ScriptFinishedStatus.Name(status)
                self._finished.set_result(run)


async def open_many(base_url: str, pages: list[tuple[str, str]], *, concurrency: int = 4,
                    timeout: float = 180.0) -> list[Session]:
    """Open one session per ``(page_name, query)``, ``concurrency`` first runs at a time
    (a browser tab does its first run once; a crowd arriving at once queues on the server)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(page_name: str, query: str) -> Session:
        async with gate:
            s = Session(base_url, page_name, query, timeout=timeout)
            await s.open()
            return s

    return list(await asyncio.gather(*(one(p, q) for p, q in pages)))


async def close_all(sessions: list[Session]) -> None:
    await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


async def _smoke(base_url: str) -> None:  # python -m bench.ws_client http://127.0.0.1:8501
    from core.ui import layout

    for spec in (layout.HOME, *layout.PAGES):
        async with Session(base_url, url_pathname(spec.path)) as s:
            r = s.first_run
            print(f"{spec.path:36s} {r.status:22s} {r.seconds:6.2f} s {r.messages:4d} msgs "
                  f"{r.bytes / 1024:8.1f} KB exceptions={len(r.exceptions)} "
                  f"errors={len(r.errors)} {dict(r.elements)}")


if __name__ == "__main__":
    import sys

    asyncio.run(_smoke(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501"))
