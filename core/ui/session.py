"""Page-scoped session state, the session's global values, and the guard on what may be stored.

Key layout in ``st.session_state`` (plain string keys, small values only)::

    g.page            the page the session is on (its id, e.g. "walls")
    g.watchlist       tuple of validated symbols (<= max_watchlist), mirrored in the URL (?wl=)
    g.symbol          the current symbol (shared by the pages' symbol pickers)
    g.debug           memory debug panel on/off (mirrored in the URL as ?debug=memory)
    p.<page>.<name>   one page's namespace: deleted as soon as the session enters another page.
                      Widgets showing a global value (symbol input, debug toggle, watchlist
                      text) are keyed here too and seeded from the global on entering the page:
                      a widget key carried across pages would come back empty.

The guard (:func:`check_value`, applied on every write through this module and by
:func:`audit` on the whole state after each page run) refuses DataFrames, Series, arrays,
figures, chains and any value larger than :data:`MAX_VALUE_BYTES`: those belong in the shared
caches of :mod:`core.fetch`, not in one session's memory.

Everything here takes an optional ``state`` mapping (default ``st.session_state``) and ``query``
mapping (default ``st.query_params``), so the rules are unit-tested with plain dicts.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

import numpy as np
import pandas as pd

from core import clock, config, symbols
from core.cache import sizeof
from core.schema import Chain

log = logging.getLogger(__name__)

PAGE_KEY = "g.page"
WATCHLIST_KEY = "g.watchlist"
SYMBOL_KEY = "g.symbol"
DEBUG_KEY = "g.debug"
OPERATOR_KEY = "g.operator"
SIGN_IN_TRIES_KEY = "g.operator_tries"
MAX_SIGN_IN_TRIES = 5  # wrong operator tokens one session may type before sign-in is refused
PAGE_PREFIX = "p."

MAX_PARAM_CHARS = symbols.MAX_LIST_CHARS  # a query parameter is cut to this before parsing
WATCHLIST_PARAM = "wl"
DEBUG_PARAM = "debug"
DEBUG_VALUE = "memory"
DEFAULT_SYMBOL = "SPY"

MAX_VALUE_BYTES = 8 * 1024     # one value in session state: a few KB at most
STATE_BUDGET_BYTES = 64 * 1024  # the whole session's state: what the page tests hold it to


class SessionStateMisuse(TypeError):
    """Developer error: something that must not live in session state was about to be stored."""


# --- the guard ---------------------------------------------------------------------------------

def _forbidden_type(value: Any, depth: int = 0) -> str | None:
    """Name of a forbidden type found in ``value`` (looking a few levels into containers)."""
    if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        return f"a pandas {type(value).__name__}"
    if isinstance(value, np.ndarray):
        return "a numpy array"
    if isinstance(value, Chain):
        return "an option Chain"
    module = type(value).__module__ or ""
    if module.startswith(("plotly.", "matplotlib.", "altair.")):
        return f"a figure ({module}.{type(value).__name__})"
    if depth < 3:
        items: Iterable = ()
        if isinstance(value, dict):
            items = list(value.keys()) + list(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = value
        for item in items:
            found = _forbidden_type(item, depth + 1)
            if found:
                return found
    return None


def check_value(key: str, value: Any, *, limit: int = MAX_VALUE_BYTES) -> int:
    """Raise :class:`SessionStateMisuse` if ``value`` may not be stored under ``key``; else
    return its size in bytes (:func:`core.cache.sizeof`)."""
    found = _forbidden_type(value)
    if found:
        raise SessionStateMisuse(
            f"session_state[{key!r}] would hold {found}. Session state keeps only small values "
            "(widget values, selections); get data from core.fetch each run (it is cached and "
            "shared) and build figures per run.")
    nbytes = sizeof(value)
    if nbytes > limit:
        raise SessionStateMisuse(
            f"session_state[{key!r}] would hold {nbytes:,} bytes (limit {limit:,}). Keep large "
            "or shared data in core.fetch's caches, not in one session's state.")
    return nbytes


def _state(state: MutableMapping | None) -> MutableMapping:
    if state is not None:
        return state
    import streamlit as st

    return st.session_state


def _query(query: MutableMapping | None) -> MutableMapping:
    if query is not None:
        return query
    import streamlit as st

    return st.query_params


def put(key: str, value: Any, state: MutableMapping | None = None) -> None:
    """``state[key] = value`` through the guard."""
    check_value(key, value)
    _state(state)[key] = value


def audit(state: MutableMapping | None = None) -> int:
    """Check every value in the session state; raise on the first forbidden one. Returns the
    state's total size in bytes (see :func:`state_bytes`)."""
    state = _state(state)
    total = 0
    for key in list(state.keys()):
        try:
            value = state[key]
        except KeyError:  # removed meanwhile (widget cleanup)
            continue
        total += check_value(str(key), value) + sizeof(key)
    if total > STATE_BUDGET_BYTES:
        log.warning("session state is %d bytes (budget %d)", total, STATE_BUDGET_BYTES)
    return total


def state_bytes(state: MutableMapping | None = None) -> int:
    """This session's state size in bytes: keys and values, measured by ``core.cache.sizeof``."""
    state = _state(state)
    total = 0
    for key in list(state.keys()):
        try:
            total += sizeof(key) + sizeof(state[key])
        except KeyError:
            continue
    return total


# --- page namespaces ---------------------------------------------------------------------------

def page_prefix(page_id: str) -> str:
    return f"{PAGE_PREFIX}{page_id}."


class PageState(MutableMapping):
    """One page's namespace: ``ns["expiry"]`` is ``session_state["p.<page>.expiry"]``.

    Writes pass the guard. ``ns.key("expiry")`` is the full key to give a widget
    (``st.selectbox(..., key=ns.key("expiry"))``) so its value lives in the namespace too.
    """

    def __init__(self, page_id: str, state: MutableMapping | None = None):
        self.page_id = page_id
        self.prefix = page_prefix(page_id)
        self._state = _state(state)

    def key(self, name: str) -> str:
        return self.prefix + name

    def __getitem__(self, name: str) -> Any:
        return self._state[self.key(name)]

    def __setitem__(self, name: str, value: Any) -> None:
        put(self.key(name), value, self._state)

    def __delitem__(self, name: str) -> None:
        del self._state[self.key(name)]

    def __iter__(self) -> Iterator[str]:
        return (k[len(self.prefix):] for k in list(self._state.keys())
                if str(k).startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def enter_page(page_id: str, state: MutableMapping | None = None) -> PageState:
    """Make ``page_id`` the session's current page. When it differs from the page the session
    was on, every other page's namespace (``p.*`` keys not under this page) is deleted."""
    if not page_id or "." in page_id:
        raise ValueError(f"page id {page_id!r}: a short name without dots")
    state = _state(state)
    if state.get(PAGE_KEY) != page_id:
        keep = page_prefix(page_id)
        for key in list(state.keys()):
            k = str(key)
            if k.startswith(PAGE_PREFIX) and not k.startswith(keep):
                try:
                    del state[key]
                except KeyError:
                    pass
        state[PAGE_KEY] = page_id
    return PageState(page_id, state)


def current_page(state: MutableMapping | None = None) -> str | None:
    return _state(state).get(PAGE_KEY)


def page_state(state: MutableMapping | None = None) -> PageState:
    """The current page's namespace (after :func:`enter_page`)."""
    state = _state(state)
    page = state.get(PAGE_KEY)
    if page is None:
        raise RuntimeError("no current page: call core.ui.layout.page(...) first")
    return PageState(page, state)


# --- watchlist (kept in the URL) -----------------------------------------------------------------

def default_watchlist() -> tuple[str, ...]:
    return tuple(symbols.DEFAULT_WATCHLIST[:config.settings().max_watchlist])


def parse_watchlist(text: str | Iterable[str], cap: int | None = None
                    ) -> tuple[tuple[str, ...], list[str]]:
    """Symbols from free text (commas, spaces or new lines) or a list, validated, de-duplicated,
    capped at ``cap`` (default ``max_watchlist``). Returns ``(symbols, notes)``: a note per
    rejected entry and one when the cap dropped symbols."""
    cap = config.settings().max_watchlist if cap is None else cap
    cut = False
    if isinstance(text, str):
        parts, cut = symbols.split_list(text)
    else:
        parts = [p for p in text if str(p).strip()]
    good, notes = symbols.validate_many(parts, cap=cap, what="watchlist")
    if cut:
        notes.insert(0, f"Only the first {symbols.MAX_LIST_CHARS:,} characters of the list "
                        "were read.")
    return tuple(good), notes


def list_chars(cap: int | None = None) -> int:
    """``max_chars`` of a text box holding a symbol list of ``cap`` (default ``max_watchlist``)
    entries: room for each symbol and a separator, never more than MAX_LIST_CHARS."""
    cap = config.settings().max_watchlist if cap is None else cap
    return min(symbols.MAX_LIST_CHARS, cap * (symbols.MAX_SYMBOL_LEN + 2))


def bound_text(key: str, limit: int, state: MutableMapping | None = None) -> bool:
    """Cut the text widget value ``state[key]`` to ``limit`` characters before its widget is
    drawn (the browser enforces ``max_chars``; a crafted client need not). True when cut, so
    user input never trips the session-state guard."""
    state = _state(state)
    value = state.get(key)
    if isinstance(value, str) and len(value) > limit:
        state[key] = value[:limit]
        return True
    return False


def watchlist_to_param(items: Iterable[str]) -> str:
    return ",".join(items)


def watchlist(state: MutableMapping | None = None) -> tuple[str, ...]:
    """The session's watchlist (the default one until the user edits it)."""
    value = _state(state).get(WATCHLIST_KEY)
    return tuple(value) if value is not None else default_watchlist()


def set_watchlist(items: str | Iterable[str], state: MutableMapping | None = None,
                  query: MutableMapping | None = None) -> list[str]:
    """Validate and store the watchlist (session + URL). Returns the notes to show the user."""
    good, notes = parse_watchlist(items)
    if not good:
        return notes + ["The watchlist needs at least one valid symbol; it was not changed."]
    put(WATCHLIST_KEY, good, _state(state))
    _write_watchlist_param(good, _query(query))
    return notes


def _write_watchlist_param(items: tuple[str, ...], query: MutableMapping) -> None:
    if tuple(items) == default_watchlist():
        if WATCHLIST_PARAM in query:
            del query[WATCHLIST_PARAM]
    elif query.get(WATCHLIST_PARAM) != watchlist_to_param(items):
        query[WATCHLIST_PARAM] = watchlist_to_param(items)


# --- current symbol and debug toggle -----------------------------------------------------------

def symbol(state: MutableMapping | None = None) -> str:
    return _state(state).get(SYMBOL_KEY, DEFAULT_SYMBOL)


def set_symbol(value: str, state: MutableMapping | None = None) -> str:
    """Validate (raises InvalidSymbol) and store the current symbol; returns it normalised."""
    sym = symbols.validate(value)
    put(SYMBOL_KEY, sym, _state(state))
    return sym


def debug_enabled(state: MutableMapping | None = None) -> bool:
    return bool(_state(state).get(DEBUG_KEY, False))


def set_debug(on: bool, state: MutableMapping | None = None,
              query: MutableMapping | None = None) -> None:
    put(DEBUG_KEY, bool(on), _state(state))
    _write_debug_param(bool(on), _query(query))


def _write_debug_param(on: bool, query: MutableMapping) -> None:
    if on and query.get(DEBUG_PARAM) != DEBUG_VALUE:
        query[DEBUG_PARAM] = DEBUG_VALUE
    elif not on and DEBUG_PARAM in query:
        del query[DEBUG_PARAM]


# --- URL <-> session, once per run ---------------------------------------------------------------

def param(query: MutableMapping, name: str) -> str | None:
    """A query parameter as text, cut to :data:`MAX_PARAM_CHARS` (+1, so a parser can tell it
    was longer) before anything parses it: a link cannot make a page do unbounded work."""
    raw = query.get(name)
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else str(raw)
    return text[:MAX_PARAM_CHARS + 1]


def sync_url(state: MutableMapping | None = None, query: MutableMapping | None = None
             ) -> list[str]:
    """Reconcile the session's globals with the URL. Called by the page header every run.

    On a session's first run the URL wins (a reload or a bookmark restores ``?wl=`` and
    ``?debug=memory``); afterwards the session wins and the URL is rewritten to match it (page
    navigation may have dropped the query string). Returns notes for a bad ``?wl=``.
    """
    state, query = _state(state), _query(query)
    notes: list[str] = []
    if WATCHLIST_KEY not in state:
        raw = param(query, WATCHLIST_PARAM)
        items = default_watchlist()
        if raw:
            parsed, notes = parse_watchlist(raw)
            if parsed:
                items = parsed
            else:
                notes.append("The watchlist in the link had no valid symbol; using the default.")
        put(WATCHLIST_KEY, items, state)
    if DEBUG_KEY not in state:
        put(DEBUG_KEY, param(query, DEBUG_PARAM) == DEBUG_VALUE, state)
    if SYMBOL_KEY not in state:
        put(SYMBOL_KEY, DEFAULT_SYMBOL, state)
    _write_watchlist_param(watchlist(state), query)
    _write_debug_param(debug_enabled(state), query)
    return notes


# --- per-session fairness ----------------------------------------------------------------------

BUDGET_PREFIX = "g.budget."
SEEN_KEY = "g.seen"      # symbols this session opened recently (most recent last)
SEEN_MAX = 64
BUDGETS = {  # kind -> (settings field: allowance per minute, what the message calls it)
    "symbols": ("session_symbols", "new symbols"),
    "scans": ("session_scans", "new scans"),
    "unknown": ("session_unknown", "lookups of symbols the server does not know yet"),
}


def _allowance(kind: str, settings: config.Settings | None = None) -> float:
    return float(getattr(settings or config.settings(), BUDGETS[kind][0]))


def budget_left(kind: str, state: MutableMapping | None = None, *,
                settings: config.Settings | None = None) -> tuple[float, float]:
    """(tokens left, seconds until the next one) of this session's ``kind`` budget: a token
    bucket holding one minute's allowance, refilled continuously (clock.timer)."""
    per_min = _allowance(kind, settings)
    tokens, at = _state(state).get(BUDGET_PREFIX + kind, (per_min, clock.timer()))
    now = clock.timer()
    tokens = min(per_min, tokens + max(0.0, now - at) * per_min / 60.0)
    wait = 0.0 if tokens >= 1 else (1 - tokens) * 60.0 / per_min
    return tokens, wait


def spend(kind: str, state: MutableMapping | None = None, *,
          settings: config.Settings | None = None) -> str | None:
    """Take one token of this session's ``kind`` budget. None when granted; else the message
    to show ("You opened 30 new symbols in the last minute; ...")."""
    state = _state(state)
    tokens, wait = budget_left(kind, state, settings=settings)
    if tokens < 1:
        per_min = _allowance(kind, settings)
        return (f"This tab used its {per_min:.0f} {BUDGETS[kind][1]} per minute; the next one "
                f"is possible in {max(wait, 1):.0f} s. Shared data stays available meanwhile.")
    put(BUDGET_PREFIX + kind, (tokens - 1, clock.timer()), state)
    return None


def admit_symbol(sym: str, known: bool, state: MutableMapping | None = None, *,
                 settings: config.Settings | None = None) -> str | None:
    """May this session open ``sym``? A symbol it opened recently is free; a new one spends
    the ``symbols`` budget, and one the server does not know yet (``known`` False: not in the
    universe, nothing cached) also the smaller ``unknown`` budget. None = yes; else why not."""
    state = _state(state)
    seen = tuple(state.get(SEEN_KEY, ()))
    if sym in seen:
        return None
    if not known:
        refused = spend("unknown", state, settings=settings)
        if refused:
            return refused
    refused = spend("symbols", state, settings=settings)
    if refused:
        return refused
    put(SEEN_KEY, (seen + (sym,))[-SEEN_MAX:], state)
    return None


# --- operators ---------------------------------------------------------------------------------

def server_address() -> str | None:
    """The address the Streamlit server listens on (``server.address``; None = every
    interface), or None outside a server."""
    try:
        from streamlit import config as st_config

        return st_config.get_option("server.address") or None
    except Exception:  # noqa: BLE001 - unknown means "not loopback"
        return None


def on_loopback(address: str | None) -> bool:
    """True when ``address`` accepts local connections only (127.0.0.0/8, ::1, localhost).
    An unset address listens on every interface: not loopback."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_operator(state: MutableMapping | None = None, *, address: str | None = None,
                settings: config.Settings | None = None) -> bool:
    """May this session see the server-wide memory panel and clear caches? Yes when it signed
    in with ``OPTIONS_DASH_OPERATOR_TOKEN``, or when the server listens on loopback only (every
    visitor is local: ``make run``) and ``OPTIONS_DASH_OPERATOR_LOOPBACK`` is on."""
    s = settings or config.settings()
    if _state(state).get(OPERATOR_KEY) is True:
        return True
    return s.operator_loopback and on_loopback(address if address is not None
                                               else server_address())


def sign_in(typed: str, state: MutableMapping | None = None, *,
            settings: config.Settings | None = None) -> bool:
    """Compare ``typed`` with the operator token in constant time (``hmac.compare_digest``);
    True (and the session is an operator) on a match. No token set, or more than
    MAX_SIGN_IN_TRIES wrong tries in this session: always False."""
    s = settings or config.settings()
    state = _state(state)
    tries = int(state.get(SIGN_IN_TRIES_KEY, 0))
    if not s.operator_token or tries >= MAX_SIGN_IN_TRIES or not isinstance(typed, str):
        return False
    ok = hmac.compare_digest(typed.encode("utf-8"), s.operator_token.encode("utf-8"))
    if ok:
        put(OPERATOR_KEY, True, state)
    else:
        put(SIGN_IN_TRIES_KEY, tries + 1, state)
        log.warning("operator sign-in refused (try %d of %d)", tries + 1, MAX_SIGN_IN_TRIES)
    return ok


def sign_in_left(state: MutableMapping | None = None) -> int:
    return max(0, MAX_SIGN_IN_TRIES - int(_state(state).get(SIGN_IN_TRIES_KEY, 0)))


# --- server-wide numbers -----------------------------------------------------------------------

def active_sessions() -> int | None:
    """Sessions with an open websocket on this server, or None when not knowable (e.g. in
    AppTest or a bare script). Reads the runtime's public stats manager (the same gauge the
    ``/_stcore/metrics`` endpoint serves as ``active_sessions``)."""
    try:
        from collections.abc import Mapping

        from streamlit import runtime
        from streamlit.runtime.stats import ACTIVE_SESSIONS_FAMILY

        if not runtime.exists():
            return None
        stats = runtime.get_instance().stats_mgr.get_stats(family_names=[ACTIVE_SESSIONS_FAMILY])
        if not isinstance(stats, Mapping) or ACTIVE_SESSIONS_FAMILY not in stats:
            return None
        values = [getattr(s, "value", None) for s in stats[ACTIVE_SESSIONS_FAMILY]]
        values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return int(sum(values)) if values else None
    except Exception:  # noqa: BLE001 - a debug number must never break a page
        log.debug("active session count unavailable", exc_info=True)
        return None
