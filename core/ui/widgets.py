"""Shared inputs: symbol picker, expiry picker, watchlist editor.

Each returns a validated value and keeps its state small and in the right place: the symbol is
the session's *current symbol* (shared by pages), the expiry lives in the page's namespace, the
watchlist in the session and the URL. Invalid input never reaches :mod:`core.fetch`: the picker
shows why and keeps the last valid value.

Pure helpers (tested without Streamlit): :func:`dte`, :func:`expiry_label`,
:func:`zero_dte_or_next`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

import streamlit as st

from core import clock, fetch, symbols
from core.errors import InvalidSymbol, RateLimited
from core.ui import session

QUICK_SYMBOLS = ("SPY", "QQQ", "IWM", "^SPX", "NVDA", "TSLA", "AAPL", "META")
TRADING_QUICK = ("SPY", "QQQ", "NVDA", "TSLA", "AAPL", "PLTR", "META", "MSFT", "AMZN", "GOOGL",
                 "AMD", "NFLX", "CRWD", "^SPX")


# --- pure helpers ------------------------------------------------------------------------------

def dte(expiry: dt.date, today: dt.date | None = None) -> int:
    """Calendar days to expiry (0 on the expiry day)."""
    return (expiry - (today or clock.today())).days


def expiry_label(expiry: dt.date, today: dt.date | None = None) -> str:
    """``Fri 20 Nov 2026 · 0DTE`` / ``Mon 23 Nov 2026 · 3 DTE``."""
    days = dte(expiry, today)
    tag = "0DTE" if days == 0 else f"{days} DTE"
    return f"{expiry:%a %d %b %Y} · {tag}"


def zero_dte_or_next(expiries: Sequence[dt.date], today: dt.date | None = None
                     ) -> tuple[dt.date | None, str | None]:
    """Today's expiry, or the next one with a note saying why there is no 0DTE."""
    today = today or clock.today()
    if not expiries:
        return None, "No listed expiries."
    if expiries[0] == today:
        return today, None
    nxt = expiries[0]
    if not clock.is_session(today):
        why = "the market is closed today (weekend)" if today.weekday() >= 5 else \
            "the market is closed today (holiday)"
    else:
        why = "this symbol has no expiry today"
    return nxt, f"No 0DTE: {why}. Showing the next expiry, {expiry_label(nxt, today)}."


# --- symbol picker -----------------------------------------------------------------------------

def _canonical_key(scope: str, key: str) -> str:
    return session.SYMBOL_KEY if scope == "global" else session.page_state().key(key)


def _pick(symbol: str, canonical: str, widget: str) -> None:
    session.put(canonical, symbol)
    st.session_state[widget] = symbol


def symbol_picker(*, label: str = "Symbol", quick: Sequence[str] = QUICK_SYMBOLS,
                  key: str = "symbol", scope: str = "global", default: str | None = None,
                  help: str | None = None) -> str:
    """A validated symbol input with quick buttons. Returns the chosen symbol (normalised).

    ``scope="global"`` (default) reads and writes the session's current symbol, so the next
    page opens on the same symbol; ``scope="page"`` keeps it in the page's namespace under
    ``key``. Invalid input shows a warning and keeps the previous valid symbol.
    """
    canonical = _canonical_key(scope, key)
    # The input's own key is page-scoped even for the global symbol: a widget key carried over
    # from another page would come back empty, so each page seeds its input from the value.
    widget = session.page_state().key(f"{key}.input")
    state = st.session_state
    if canonical not in state:
        session.put(canonical, symbols.validate(default or session.DEFAULT_SYMBOL))
    if widget not in state:
        state[widget] = state[canonical]
    session.bound_text(widget, symbols.MAX_SYMBOL_LEN)
    cols = st.columns([2, 8], vertical_alignment="bottom")
    typed = cols[0].text_input(
        label, key=widget, max_chars=symbols.MAX_SYMBOL_LEN,
        help=help or "A ticker (AAPL, SPY) or an index (^SPX, SPX, ^NDX). Press Enter.")
    problem = refused = None
    try:
        chosen = symbols.validate(typed)
    except InvalidSymbol as exc:
        problem, chosen = exc, state[canonical]
    if chosen != state[canonical]:
        refused = session.admit_symbol(chosen, fetch.known(chosen))
        if refused:  # this tab's budget is spent: keep the symbol it had
            chosen = state[canonical]
        else:
            session.put(canonical, chosen)
    if quick:
        with cols[1].container(horizontal=True, gap="small"):
            for sym in quick:
                st.button(sym, key=session.page_state().key(f"{key}.quick.{sym}"),
                          on_click=_pick, args=(sym, canonical, widget),
                          type="primary" if sym == chosen else "secondary")
    if problem is not None:
        st.warning(f"**Invalid symbol.** {symbols.md_escape(problem.message)} Still showing "
                   f"{symbols.md_escape(chosen)}.", icon=":material/warning:")
    if refused:
        st.warning(f"**Slow down.** {symbols.md_escape(refused)} Still showing "
                   f"{symbols.md_escape(chosen)}.", icon=":material/hourglass_top:")
    return chosen


# --- expiry picker -----------------------------------------------------------------------------

def expiry_picker(symbol: str, *, label: str = "Expiry", key: str = "expiry",
                  max_options: int | None = None, prefer_0dte: bool = False,
                  help: str | None = None, width: int | str = 320) -> dt.date:
    """A select box of ``symbol``'s listed expiries labelled with DTE (0DTE marked), kept in
    the page's namespace. ``prefer_0dte`` starts on today's expiry and, when there is none
    (weekend, holiday, or no daily listing), says so and starts on the next one.

    Raises the fetch layer's DataError (e.g. SymbolNotFound); the page shell renders it.
    """
    expiries = fetch.expirations(symbol)
    if max_options:
        expiries = expiries[:max_options]
    today = clock.today()
    wkey = session.page_state().key(f"{key}.{symbol}")
    state = st.session_state
    if wkey in state and state[wkey] not in expiries:
        del state[wkey]
    note = None
    if prefer_0dte:
        _, note = zero_dte_or_next(expiries, today)
    choice = st.selectbox(label, expiries, key=wkey, format_func=lambda e: expiry_label(e, today),
                          width=width,
                          help=help or "Listed expiries with days to expiry; 0DTE = expires "
                                       "today at the close.")
    if note:
        st.info(note, icon=":material/event_busy:")
    return choice


# --- watchlist editor --------------------------------------------------------------------------

def _save_watchlist(text_key: str, notes_key: str) -> None:
    notes = session.set_watchlist(st.session_state.get(text_key, ""))
    session.put(notes_key, tuple(notes))
    st.session_state[text_key] = " ".join(session.watchlist())


def _reset_watchlist(text_key: str, notes_key: str) -> None:
    session.set_watchlist(session.default_watchlist())
    session.put(notes_key, ("Watchlist reset to the default.",))
    st.session_state[text_key] = " ".join(session.watchlist())


def watchlist_editor(*, label: str = "Watchlist") -> tuple[str, ...]:
    """Edit the session's watchlist (<= max_watchlist symbols). Saved to the URL (``?wl=``), so
    it survives reloads and can be bookmarked. Returns the current watchlist."""
    cap = fetch.settings().max_watchlist
    current = session.watchlist()
    ns = session.page_state()
    text_key, notes_key = ns.key("watchlist.text"), ns.key("watchlist.notes")
    if text_key not in st.session_state:
        st.session_state[text_key] = " ".join(current)
    limit = session.list_chars(cap)
    session.bound_text(text_key, limit)
    with st.form(ns.key("watchlist.form"), border=False):
        st.text_area(f"{label} ({len(current)}/{cap} symbols)", key=text_key, height=90,
                     max_chars=limit,
                     help=f"Symbols separated by spaces or commas, at most {cap}. Invalid "
                          "entries are rejected with a reason.")
        cols = st.columns([1, 1, 3])
        cols[0].form_submit_button("Save watchlist", on_click=_save_watchlist,
                                   args=(text_key, notes_key), type="primary")
        cols[1].form_submit_button("Reset to default", on_click=_reset_watchlist,
                                   args=(text_key, notes_key))
    show_notes(st.session_state.pop(notes_key, ()), icon=":material/playlist_remove:")
    return session.watchlist()


def show_notes(notes, *, kind: str = "warning", icon: str = ":material/warning:") -> None:
    """One box per note (callers pass one or two: rejects are summed up in one message), the
    text escaped (:func:`core.symbols.md_escape`): echoed input is never markdown or HTML."""
    for note in notes:
        getattr(st, kind)(symbols.md_escape(note), icon=icon)


def symbol_list_input(label: str, default: str, *, key: str, cap: int, where=None,
                      help: str | None = None) -> list[str]:
    """A one-line text box for a symbol list (``max_chars`` fits ``cap`` symbols), split into
    entries (not validated: the caller validates and reports rejects in one message)."""
    limit = session.list_chars(cap)
    session.bound_text(key, limit)
    text = (where or st).text_input(label, default, key=key, max_chars=limit,
                                    help=help or f"Separated by spaces or commas, at most {cap}.")
    return symbols.split_list(text, limit)[0]


SCAN_WAIT_S = 90.0  # longest one script run watches a shared scan before showing partial results


def scan(name: str, fn, symbol_list, **params):
    """:func:`core.fetch.scan` for this tab: joining or reading a scan someone already runs is
    free; starting a new one spends the tab's ``scans`` budget (a clear RateLimited message
    when it is spent; the page shell shows it)."""
    if not fetch.scan_known(name, symbol_list, **params):
        refused = session.spend("scans")
        if refused:
            raise RateLimited(refused)
    return fetch.scan(name, fn, symbol_list, **params)


def scan_text(job, what: str) -> str:
    """The progress line: the queue position while the scan waits for a slot, then counts."""
    position = fetch.scan_queue_position(job)
    if position is not None:
        return (f"Waiting for a scan slot: number {position} in the queue (scans run a few at "
                f"a time to keep the data source polite)…")
    return f"Scanning {what}: {job.completed}/{job.total} symbols"


def scan_progress(job, what: str, *, wait_s: float = SCAN_WAIT_S) -> bool:
    """Watch a shared :class:`core.fetch.ScanJob` with a progress bar until it is done (at most
    ``wait_s``); True when done. Every session asking for the same scan watches the same job;
    a scan waiting for a slot shows its place in the queue."""
    if job.done:
        return True
    first = scan_text(job, what) if job.queued else f"Scanning {what}…"
    bar = st.progress(job.progress, text=first)
    deadline = time.monotonic() + wait_s
    while not job.done and time.monotonic() < deadline:
        job.wait(0.2)
        bar.progress(job.progress, text=scan_text(job, what))
    bar.empty()
    return job.done
