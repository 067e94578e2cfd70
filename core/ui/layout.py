"""The page shell: one call at the top of every page.

::

    with layout.page("walls") as page:          # config, banner, clock, session, errors, debug
        sym = widgets.symbol_picker()
        chain = fetch.chain(sym, widgets.expiry_picker(sym))
        page.freshness(chain)                   # "as of 11:30:05 ET · 12 s old"
        layout.chart(charts.strike_bars(...), levels=lines)

:func:`page` sets the page config, enters the page's session namespace (deleting the previous
page's), syncs the watchlist / debug flag with the URL, shows the SIMULATED MARKET banner when
the data is simulated, the market clock and a freshness badge slot. Leaving the ``with`` block
turns any :class:`~core.errors.DataError` into a clear message (never a traceback), audits the
session state (see :func:`core.ui.session.audit`) and renders the memory debug panel when on.

Pure helpers (tested without Streamlit): :func:`clock_text`, :func:`format_age`,
:func:`freshness_text`, :func:`error_view`, :func:`cache_table`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging

import pandas as pd
import streamlit as st

from core import cache, clock, config, errors, fetch, governor, memory, shared, symbols
from core.schema import QUOTES_DELAYED, Chain, Quote, chain_notes
from core.ui import charts, session

log = logging.getLogger(__name__)

APP_NAME = "Options Dash"
SIM_BANNER = "SIMULATED MARKET — not real quotes"
MB = 1024 * 1024


# --- the pages ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PageSpec:
    page_id: str   # session namespace name
    path: str      # relative to Home.py
    title: str
    icon: str
    purpose: str   # one line, shown on Home and under the page title


HOME = PageSpec("home", "Home.py", "Home", ":material/home:",
                "Market clock, data source, index snapshot and the way to every page.")
PAGES: tuple[PageSpec, ...] = (
    PageSpec("command", "pages/1_Command_Center.py", "Command Center",
             ":material/space_dashboard:",
             "The watchlist at a glance: a 0–100 bias score per symbol, walls and flow."),
    PageSpec("trading", "pages/2_Trading_Dashboard.py", "Trading Dashboard",
             ":material/candlestick_chart:",
             "One symbol, everything live: price with option levels, GEX, unusual activity."),
    PageSpec("finder", "pages/3_Stock_Option_Finder.py", "Stock Option Finder",
             ":material/search:",
             "Find the strikes that matter: full chain with greeks, top GEX strikes, smile."),
    PageSpec("walls", "pages/4_Option_Volume_Walls.py", "Option Volume Walls",
             ":material/bar_chart:",
             "The levels for one expiry: volume and OI walls, zero gamma, max pain, pivot."),
    PageSpec("zero_dte", "pages/5_0DTE.py", "0DTE", ":material/timer:",
             "SPY, QQQ, ^SPX and IWM side by side for today's expiry, with a session timer."),
    PageSpec("zero_dte_index", "pages/6_0DTE_by_Index.py", "0DTE by Index",
             ":material/stacked_line_chart:",
             "One index in depth: price, volume and GEX by strike, key strikes, the Mag 7."),
    PageSpec("whales", "pages/7_Whale_Flows.py", "Whale Flows", ":material/waves:",
             "Where the big money is: whale score, fresh positioning, skew and implied move."),
)
_BY_ID = {p.page_id: p for p in (HOME, *PAGES)}


def spec(page_id: str) -> PageSpec:
    return _BY_ID[page_id]


# --- pure text helpers -------------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """``3d 4h`` / ``4h 29m`` / ``12m`` / ``45 s``."""
    seconds = max(int(seconds), 0)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs} s"


def format_age(seconds: float) -> str:
    """Age of data: ``12 s old``, ``5 min old``, ``3 h old``, ``2 d old``."""
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s old"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min old"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h old"
    return f"{seconds / 86400:.0f} d old"


STATE_LABEL = {"open": "Open", "pre-market": "Pre-market", "after-hours": "After hours",
               "closed": "Closed"}
STATE_COLOR = {"open": "green", "pre-market": "blue", "after-hours": "orange", "closed": "red"}


def clock_text(status: clock.MarketStatus) -> tuple[str, str]:
    """(time line, session line) for the header, e.g. ``("Fri 20 Nov · 11:30:00 ET",
    "Open · closes 16:00 ET, in 4h 30m")``."""
    at = status.at
    when = f"{at:%a %d %b} · {at:%H:%M:%S} ET"
    label = STATE_LABEL[status.state]
    if status.state == "open":
        close = status.closes_at
        early = " (early close)" if clock.is_early_close(close.date()) else ""
        line = (f"{label} · closes {close:%H:%M} ET{early}, "
                f"in {format_duration(status.seconds_to_close)}")
    elif status.state == "pre-market":
        line = (f"{label} · opens {status.opens_at:%H:%M} ET, "
                f"in {format_duration((status.opens_at - at).total_seconds())}")
    else:
        nxt = status.next_open
        why = ""
        if status.state == "closed":
            why = " (weekend)" if at.weekday() >= 5 else " (holiday)"
        line = (f"{label}{why} · next session {nxt:%a %d %b %H:%M} ET, "
                f"in {format_duration((nxt - at).total_seconds())}")
    return when, line


def freshness_text(as_of: dt.datetime, now: dt.datetime, stale: bool = False,
                   down_since: dt.datetime | None = None) -> str:
    """``as of 14:32:05 ET · 12 s old`` (+ `` · stale — upstream unavailable``, or
    `` · stale — source down since 14:02 ET`` while the source's breaker is open)."""
    local = as_of.astimezone(clock.ET)
    stamp = f"{local:%H:%M:%S}" if local.date() == now.date() else f"{local:%a %d %b %H:%M:%S}"
    text = f"as of {stamp} ET · {format_age((now - as_of).total_seconds())}"
    if not stale:
        return text
    return text + (f" · stale — {down_text(down_since)}" if down_since is not None
                   else " · stale — upstream unavailable")


def down_text(down_since: dt.datetime) -> str:
    """``source down since 14:02 ET``."""
    return f"source down since {down_since.astimezone(clock.ET):%H:%M} ET"


def _down_since() -> dt.datetime | None:
    try:
        out = fetch.outage()
    except Exception:  # noqa: BLE001 - a badge must not take the page down
        log.exception("outage state unavailable")
        return None
    return out and out.get("down_since")


def error_view(exc: errors.DataError) -> tuple[str, str]:
    """(kind, markdown) for a DataError: kind is ``warning``, ``info`` or ``error``. The
    message is escaped (:func:`core.symbols.md_escape`): it may echo what a user typed."""
    message = symbols.md_escape(exc.message)
    if isinstance(exc, errors.InvalidSymbol):
        return "warning", f"**Invalid symbol.** {message}"
    if isinstance(exc, errors.SymbolNotFound):
        return "warning", (f"**Symbol not found.** {message} Check the ticker; "
                           "only symbols with listed options can be shown.")
    if isinstance(exc, errors.NoExpiry):
        text = f"**No such expiry.** {message}"
        if exc.next_expiry is not None and f"{exc.next_expiry:%d %b}" not in exc.message:
            text += f" Next expiry: {exc.next_expiry:%a %d %b %Y}."
        return "info", text
    if isinstance(exc, errors.RateLimited):
        return "error", (f"**Data source is rate-limiting.** {message} "
                         "The page will work again in a few seconds.")
    if isinstance(exc, errors.UpstreamError):
        return "error", (f"**Data source unavailable.** {message} "
                         "No cached copy was available to show instead; try again shortly.")
    return "error", f"**{exc.title}.** {message}"


def show_error(exc: errors.DataError, where=None) -> None:
    """Render a DataError as a clear message (never a traceback)."""
    kind, text = error_view(exc)
    target = where or st
    getattr(target, kind)(text, icon={"warning": ":material/warning:", "info":
                                      ":material/info:", "error": ":material/error:"}[kind])


SECTION_FAILED = ("**This part of the page could not be shown.** The problem was logged for "
                  "the operator; the rest of the page works.")


@contextlib.contextmanager
def section(name: str, where=None):
    """An error boundary around one section of a page: a DataError becomes its clear message,
    any other exception is logged with its traceback and becomes one generic line, and the
    page goes on with its next section. Streamlit's own control flow (st.stop, st.rerun:
    BaseExceptions) and the session-state guard (a developer error) pass through."""
    try:
        yield
    except errors.DataError as exc:
        show_error(exc, where)
    except session.SessionStateMisuse:
        raise
    except Exception:  # noqa: BLE001 - the boundary: one section's failure stays in it
        log.exception("page section %r failed", name)
        (where or st).error(SECTION_FAILED, icon=":material/error:")


def cache_table(stats: list[dict]) -> pd.DataFrame:
    """The memory panel's per-cache table (one row per cache)."""
    rows = []
    for s in stats:
        ev = s.get("evictions_by_reason", {})
        rows.append({
            "cache": s["name"],
            "entries / cap": f"{s['entries']} / {s['max_entries']}",
            # frozen: kept as bytes until a second read makes them live (core.cache.Freezer)
            "frozen": s.get("frozen", 0),
            "MB": round(s["bytes"] / MB, 2),
            "hit rate": None if s.get("hit_rate") is None else round(100 * s["hit_rate"], 1),
            "evictions": " · ".join(f"{k} {v}" for k, v in ev.items() if v) or "0",
            "upstream calls": s["upstream_calls"],
            "errors": s["errors"],
            "fresh TTL s": s["fresh_ttl"],
        })
    return pd.DataFrame(rows, columns=["cache", "entries / cap", "frozen", "MB", "hit rate",
                                       "evictions", "upstream calls", "errors", "fresh TTL s"])


# --- rendering ---------------------------------------------------------------------------------

_CSS = """
<style>
.od-sim-banner {background: repeating-linear-gradient(45deg,#b91c1c,#b91c1c 14px,#991b1b 14px,
  #991b1b 28px); color: #fff; font-weight: 800; letter-spacing: .06em; text-align: center;
  padding: .45rem .8rem; border-radius: .4rem; font-size: 1.05rem; margin-bottom: .3rem;}
.od-sim-banner small {font-weight: 500; letter-spacing: 0; opacity: .9; font-size: .8rem;}
</style>
"""


def banner(provider: dict) -> None:
    """The unmissable simulated-data banner (nothing when the data is live)."""
    if not provider.get("simulated"):
        return
    st.markdown(_CSS + f'<div class="od-sim-banner" data-testid="od-sim-banner">{SIM_BANNER}'
                f'<br><small>source: simulated market — {provider.get("reason", "")}</small>'
                "</div>", unsafe_allow_html=True)


def freshness_badge(*sources, where=None) -> None:
    """An inline badge for Chains / Quotes / (as_of, stale) pairs: the oldest ``as_of`` wins and
    any stale source marks the badge stale. For fragments; pages use ``page.freshness``."""
    text = _freshness_markdown(sources)
    if text:
        (where or st).markdown(text)


def _as_of_pairs(sources) -> list[tuple[dt.datetime, bool]]:
    out = []
    for src in sources:
        if isinstance(src, (Chain, Quote)):
            out.append((src.as_of, bool(src.stale)))
        elif isinstance(src, tuple) and len(src) == 2:
            out.append((src[0], bool(src[1])))
        elif isinstance(src, dt.datetime):
            out.append((src, False))
    return out


def _freshness_markdown(sources) -> str:
    pairs = _as_of_pairs(sources)
    if not pairs:
        return ""
    as_of = min(p[0] for p in pairs)
    stale = any(p[1] for p in pairs)
    text = freshness_text(as_of, clock.now(), stale, _down_since() if stale else None)
    color = "orange" if stale else "gray"
    badge = f":{color}-badge[:material/schedule: {text}]"
    lags = [src.quotes_lag for src in sources if isinstance(src, Chain)
            and QUOTES_DELAYED in src.flags and src.quotes_lag is not None]
    if lags:
        badge += f" :orange-badge[options delayed {max(lags) / 60:.0f} min]"
    return badge


def chart(fig, *, levels=(), key: str | None = None, caption: str | None = None) -> None:
    """Show a plotly figure full width, then the definitions of the levels it draws."""
    st.plotly_chart(fig, width="stretch", key=key, theme="streamlit",
                    config={"displaylogo": False, "scrollZoom": False})
    notes = charts.level_notes(levels) if levels else ""
    text = "  \n".join(t for t in (caption, notes) if t)
    if text:
        st.caption(text)


def data_notes(chain: Chain) -> list[str]:
    """:func:`core.schema.chain_notes` of ``chain``, once per chain version for every session
    (shared, read-only)."""
    return fetch.derived("chain_notes", chain_notes, chain)


def flags_caption(chain: Chain) -> None:
    """The chain's data notes as one caption line (:func:`core.schema.chain_notes`: where its IVs
    come from, how old its option quotes are, which spot, then its data-quality flags)."""
    notes = data_notes(chain)
    if notes:
        st.caption(" · ".join(notes))


def _debug_toggle_changed(wkey: str) -> None:
    session.set_debug(bool(st.session_state.get(wkey)))


def _sidebar(provider: dict, ns: session.PageState) -> None:
    with st.sidebar:
        st.caption(f"**{APP_NAME}** · data: {provider.get('name')}"
                   + (" (SIMULATED)" if provider.get("simulated") else ""))
        wkey = ns.key("debug.toggle")  # page-scoped widget, seeded from the global flag
        if wkey not in st.session_state:
            st.session_state[wkey] = session.debug_enabled()
        operator = session.is_operator()
        st.toggle("Memory debug panel", key=wkey, on_change=_debug_toggle_changed, args=(wkey,),
                  help="Process and cache memory, sessions, upstream calls (also ?debug=memory)"
                       if operator else "This tab's own memory footprint (also ?debug=memory).")
        if not operator and config.settings().operator_token:
            _operator_sign_in(ns)


def _sign_in_submitted(wkey: str) -> None:
    typed = st.session_state.get(wkey, "")
    st.session_state[wkey] = ""  # the secret does not stay in the session
    if not session.sign_in(typed):
        st.session_state[wkey + ".refused"] = True


def _operator_sign_in(ns: session.PageState) -> None:
    wkey = ns.key("operator.token")
    with st.expander("Operator", icon=":material/admin_panel_settings:"):
        if session.sign_in_left() == 0:
            st.caption("Too many wrong tokens: sign-in is closed for this tab.")
            return
        st.text_input("Operator token", key=wkey, type="password", max_chars=256,
                      on_change=_sign_in_submitted, args=(wkey,),
                      help="OPTIONS_DASH_OPERATOR_TOKEN: server-wide memory and cache controls.")
        if st.session_state.pop(wkey + ".refused", False):
            st.caption(f"Wrong token ({session.sign_in_left()} tries left).")


class Page:
    """The shell of one page (see the module docstring). ``page.state`` is the page's session
    namespace; ``page.key(name)`` a widget key inside it."""

    def __init__(self, page_id: str, title: str | None = None, purpose: str | None = None,
                 icon: str | None = None):
        known = _BY_ID.get(page_id)
        self.page_id = page_id
        self.title = title or (known.title if known else page_id)
        self.purpose = purpose if purpose is not None else (known.purpose if known else "")
        self.icon = icon or (known.icon if known else None)
        self.state: session.PageState | None = None
        self.provider: dict = {}
        self._fresh_slot = None
        self._sources: list = []

    def key(self, name: str) -> str:
        return session.page_prefix(self.page_id) + name

    # -- header --
    def __enter__(self) -> "Page":
        page_title = self.title if self.title == APP_NAME else f"{self.title} · {APP_NAME}"
        st.set_page_config(page_title=page_title, page_icon=self.icon,
                           layout="wide", initial_sidebar_state="expanded")
        self.state = session.enter_page(self.page_id)
        governor.ensure_started()  # once per process: memory limit and RSS trend
        config.apply_to_process()  # the GIL switch interval
        notes = session.sync_url()
        try:
            self.provider = fetch.provider_info()
        except Exception:  # noqa: BLE001 - the banner must not take the page down
            log.exception("provider_info failed")
            self.provider = {"name": "unknown", "reason": "provider failed to start",
                             "simulated": False}
        banner(self.provider)
        from core.ui import history as history_ui  # recorder autostart, replay notice

        history_ui.header(self.provider)
        _sidebar(self.provider, self.state)
        head, clock_col, fresh_col = st.columns([5, 3, 2], vertical_alignment="bottom")
        with head:
            st.markdown(f"### {self.icon + ' ' if self.icon else ''}{self.title}")
            if self.purpose:
                st.caption(self.purpose)
        with clock_col:
            status = clock.market_status()
            when, line = clock_text(status)
            st.markdown(f"**{when}**  \n:{STATE_COLOR[status.state]}-badge[{line}]")
        with fresh_col:
            self._fresh_slot = st.empty()
        for note in notes:  # at most two: a link's rejects are summed up in one message
            st.warning(symbols.md_escape(note), icon=":material/warning:")
        return self

    def freshness(self, *sources) -> None:
        """Show (or update) the header's freshness badge from the data the page displays."""
        self._sources.extend(sources)
        text = _freshness_markdown(self._sources)
        if text and self._fresh_slot is not None:
            self._fresh_slot.markdown(text)

    # -- footer --
    def __exit__(self, exc_type, exc, tb) -> bool:
        handled = False
        if exc is not None:
            if not isinstance(exc, errors.DataError):
                return False  # st.stop / rerun / a bug: let Streamlit handle it
            show_error(exc)
            handled = True
        if not self._sources and self._fresh_slot is not None:
            down = _down_since()
            if down is not None:  # nothing cached to show: say since when the source is down
                self._fresh_slot.markdown(f":red-badge[:material/cloud_off: {down_text(down)}]")
        session.audit()
        if session.debug_enabled():
            if session.is_operator():
                memory_panel()
            else:
                session_panel()
        return handled


def page(page_id: str, title: str | None = None, purpose: str | None = None,
         icon: str | None = None) -> Page:
    """``with layout.page("walls") as page:`` — the shell of a page (see :class:`Page`).
    Known ids (:data:`PAGES`, ``home``) take their title, icon and purpose from the registry."""
    return Page(page_id, title, purpose, icon)


# --- the memory debug panel --------------------------------------------------------------------

shared.SESSIONS[0] = session.active_sessions  # what this replica's heartbeat reports


def fleet_panel(status: dict | None) -> None:
    """The fleet part of the memory panel: the shared cache (L2) and the replicas, or that it
    is unavailable (``core.shared.status_text``)."""
    text = shared.status_text(status)
    if status is not None and not status.get("available"):
        st.warning(text, icon=":material/cloud_off:")
    else:
        st.caption(text)


def session_panel() -> None:
    """What a public visitor may see: this tab's own footprint (server-wide numbers are the
    operator's: they would be live feedback for an attacker)."""
    st.divider()
    with st.container(border=True, key="od-session-panel"):
        st.markdown("#### :material/memory: This tab's memory")
        st.metric("This session's state", f"{session.state_bytes() / 1024:,.1f} KB",
                  help=f"st.session_state of this tab (budget "
                       f"{session.STATE_BUDGET_BYTES // 1024} KB; small values only).")
        st.caption("Server-wide memory, caches and upstream numbers are shown to the operator "
                   "only.")


def memory_limit_text(gov: dict) -> tuple[str, str | None]:
    """(headline, warning or None) of the governor's state: ``RSS 312 MB of 400 MB (78 %)``
    and, at 75 % / 85 %, what the server does about it."""
    if not gov.get("limit"):
        return "no memory limit set (OPTIONS_DASH_MEMORY_LIMIT_MB)", None
    share = 100 * gov["rss"] / gov["limit"]
    head = f"RSS {gov['rss'] / MB:,.0f} MB of {gov['limit'] / MB:,.0f} MB ({share:.0f} %)"
    if gov["level"] == "shed":
        shrunk = gov.get("shrunk_to")
        return head, ("Above 85 % of the memory limit: the cache budget is shrunk"
                      + (f" to {shrunk / MB:,.0f} MB" if shrunk else "")
                      + " and new scans wait in the queue.")
    if gov["level"] == "warn":
        return head, "Above 75 % of the memory limit."
    return head, None


def trend_text(gov: dict) -> tuple[str, bool]:
    """(``+0.12 MB/min over 30 min``, growing?) from the governor's RSS history."""
    slope = gov.get("slope_mb_min")
    if slope is None:
        return "not enough samples yet", False
    return f"{slope:+.2f} MB/min over {gov['trend_span_s'] / 60:.0f} min", bool(gov["growing"])


def memory_limit_row(gov: dict, budget: dict) -> None:
    head, warning = memory_limit_text(gov)
    trend, growing = trend_text(gov)
    c = st.columns(3)
    c[0].metric("Memory limit", head.split(" (")[0] if gov.get("limit") else "off",
                help=head + ". Warn at 75 %; at 85 % the cache budget shrinks and new scans "
                            "wait.")
    c[1].metric("Python heap", f"{gov['heap_blocks']:,} blocks",
                help="sys.getallocatedblocks(): memory blocks Python's allocator holds, next "
                     f"to RSS and the caches' {budget['bytes'] / MB:,.1f} MB.")
    c[2].metric("RSS trend", trend,
                help="Least-squares slope of RSS over the last 30 min (one sample per 30 s).")
    if warning:
        st.warning(warning, icon=":material/memory:")
    if growing:
        st.warning(f"RSS is growing: {trend} (threshold {governor.GROWING_MB_PER_MIN} MB/min).",
                   icon=":material/trending_up:")


def memory_panel() -> None:
    """Process RSS and its trend, system memory, caches, budget, sessions, provider."""
    snap = memory.snapshot()
    sessions = session.active_sessions()
    state_kb = session.state_bytes() / 1024
    budget = snap["budget"]
    system = snap["system"]
    st.divider()
    with st.container(border=True, key="od-memory-panel"):
        st.markdown("#### :material/memory: Memory debug")
        c = st.columns(6)
        samples = [round(b / MB, 1) for _, b in snap["rss_samples"]]
        c[0].metric("Process RSS", f"{snap['rss'] / MB:,.0f} MB",
                    chart_data=samples if len(samples) > 1 else None, chart_type="line",
                    help=f"Resident memory of the server process; sparkline = last "
                         f"{len(samples)} samples (one per ≥ 5 s, at most 120 kept).")
        c[1].metric("System memory", f"{system['percent']:.0f}% used",
                    help=f"{system['available'] / MB:,.0f} MB available of "
                         f"{system['total'] / MB:,.0f} MB")
        c[2].metric(f"Cache budget (of {budget['max_bytes'] / MB:,.0f} MB)",
                    f"{budget['bytes'] / MB:,.1f} MB",
                    help=f"One byte budget shared by every cache (LRU across caches): "
                         f"{100 * budget['bytes'] / max(budget['max_bytes'], 1):.1f}% used, "
                         f"{budget['entries']} entries, {budget['evictions']} budget evictions.")
        c[3].metric("Active sessions", "n/a" if sessions is None else f"{sessions}",
                    help="Browser tabs with an open connection to this server.")
        c[4].metric("This session's state", f"{state_kb:,.1f} KB",
                    help=f"st.session_state of this tab (budget "
                         f"{session.STATE_BUDGET_BYTES // 1024} KB; small values only).")
        c[5].metric("Upstream calls", f"{snap['upstream_calls']:,}",
                    delta=f"{snap['errors']} errors" if snap["errors"] else None,
                    delta_color="inverse",
                    help="Calls that reached the data source (all caches), and errors.")
        memory_limit_row(governor.status(), budget)
        provider = snap["provider"]
        lim = snap["limiter"]
        st.caption(f"Provider: **{provider['name']}** ({provider['reason']}) · rate limit "
                   f"{lim['rate_per_sec']:g}/s, waited {lim['waited_s']} s, rejected "
                   f"{lim['rejected']}, back-off level {lim['backoff_level']}"
                   + "".join(f" · breaker {b['name']}: {b['state']} ({b['opens']} opens, "
                             f"{b['fast_failures']} calls refused fast)"
                             for b in fetch.breaker_stats()))
        fleet_panel(snap.get("fleet"))
        st.dataframe(cache_table(snap["caches"]), hide_index=True, width="stretch",
                     column_config={"hit rate": st.column_config.NumberColumn(format="%.1f%%"),
                                    "MB": st.column_config.NumberColumn(format="%.2f")})
        if config.settings().allow_cache_clear and session.is_operator():
            if st.button("Clear all caches", key="od-clear-caches", type="secondary",
                         help="Operator action (OPTIONS_DASH_ALLOW_CACHE_CLEAR=1): every "
                              "session refetches."):
                if session.is_operator():  # checked again when the click arrives
                    cache.clear_all()
                    st.toast("Caches cleared.")
