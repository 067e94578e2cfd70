"""Renderers of the recorded history (issue 16): OI change, IV rank, level history, what
changed, real-ΔOI fresh positioning, the pre-market OI fallback, and the replay notice.

Each section reads through :mod:`core.fetch` (``oi_change``, ``iv_rank``, ``level_history``,
``what_changed``, ``previous_oi``) and computes nothing itself; with no recording it says so in
one plain sentence (:data:`NO_HISTORY`) instead of showing an empty chart. Figure builders
(:func:`iv_history_chart`, :func:`level_history_chart`) are pure: data in, figure out.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import clock, fetch
from core.analytics import history, levels
from core.errors import DataError
from core.ui import charts

NO_HISTORY = ("No recorded history for {sym} yet: the recorder (`make record`, or "
              "OPTIONS_DASH_RECORD=1) has not stored a previous session.")
OI_CHANGE_HELP = ("**ΔOI** = open interest now − open interest recorded during the previous "
                  "session: the contracts opened (+) or closed (−) in the last completed "
                  "session (OI is published once a day, as of the prior close). Summed over "
                  "calls and puts per strike; new listings count from 0.")
IV_RANK_HELP = ("**IV rank** = (IV now − lowest) ÷ (highest − lowest) × 100 over the recorded "
                "sessions (a year once 252 exist); **IV percentile** = % of those sessions whose "
                "IV was below today's. IV = 30-day ATM IV, interpolated in total variance between "
                "the expiries around 30 days; each past session at its last snapshot.")
LEVEL_HELP = ("Front expiry's levels at each session's first snapshot; **EM** = open × ATM IV × "
              "√T to that session's close (1σ); **inside** = |close − open| ≤ EM; a **call wall "
              "held** when the close stayed at or below a call wall that was above the open, a "
              "**put wall held** when it stayed at or above a put wall below the open.")
FRESH_OI_HELP = ("**Fresh positioning (real ΔOI)**: contracts within ±10 % of spot whose open "
                 "interest rose by ≥ 100 contracts and ≥ 25 % since the previous session's "
                 "recording (0DTE excluded). New premium = ΔOI × mid × 100; score = new premium "
                 "÷ 1000.")


def _pct(v, spec=".1f") -> str:
    return "n/a" if v is None else format(v, spec)


# --- the page header ---------------------------------------------------------------------------

def header(provider: dict) -> None:
    """Called by the page shell: starts the in-app recorder when enabled
    (``OPTIONS_DASH_RECORD=1``, once per process) and, in a replay, says what is replayed."""
    from core import recorder

    try:
        recorder.start_background(fetch.settings())
    except OSError:  # an unwritable folder must not take the page down
        pass
    if provider.get("name") != "replay":
        return
    status = fetch.replay_status()
    if status is None:
        return
    if "simulated" in status["sources"]:
        from core.ui import layout

        layout.banner({"simulated": True, "reason": "replay of a simulated recording"})
    last = status["last_date"]
    st.info(f"REPLAY of recorded snapshots ({', '.join(sorted(status['sources'])) or 'none'}), "
            f"clock {clock.now():%a %d %b %Y %H:%M} ET"
            + (f"; last recorded date {last:%a %d %b}." if last else "; nothing recorded yet."),
            icon=":material/replay:")


# --- figures -----------------------------------------------------------------------------------

def iv_history_chart(series: pd.DataFrame, current: float | None, *, title: str,
                     height: int = 260) -> go.Figure:
    """Recorded 30-day ATM IV per session (%, line) and today's value (a marker)."""
    fig = go.Figure(go.Scatter(
        x=[f"{d:%d %b}" for d in series["session"]], y=100 * series["iv"], mode="lines+markers",
        name="30-day ATM IV (close)", line=dict(color=charts.NEUTRAL_COLOR),
        hovertemplate="%{x}: %{y:.1f}%<extra></extra>"))
    if current is not None:
        fig.add_trace(go.Scatter(x=["now"], y=[100 * current], mode="markers", name="Now",
                                 marker=dict(size=10, color=charts.SPOT_COLOR),
                                 hovertemplate="now: %{y:.1f}%<extra></extra>"))
    fig.update_layout(charts.base_layout(title, "", "IV (%, annualised)", height))
    fig.update_xaxes(type="category")
    return fig


def level_history_chart(table: pd.DataFrame, *, title: str, height: int = 340) -> go.Figure:
    """Per session: the open with its expected move as a bar (open ± EM), the close (dot), and
    the call / put walls (OI) and zero gamma at the open (dashes)."""
    x = [f"{d:%d %b}" for d in table["session"]]
    em = table["expected_move"].astype("float64")
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x, y=table["open"], mode="markers", name="Open ± EM (1σ)",
        marker=dict(size=8, color=charts.NEUTRAL_COLOR, symbol="diamond"),
        error_y=dict(type="data", array=em, thickness=6, width=0,
                     color="rgba(96,165,250,0.45)"),
        hovertemplate="%{x}: open %{y:,.2f} ± %{error_y.array:,.2f}<extra></extra>"))
    for col, name, color, dash in (("call_wall_oi", "Call wall (OI)", charts.CALL_COLOR, "dash"),
                                   ("put_wall_oi", "Put wall (OI)", charts.PUT_COLOR, "dash"),
                                   ("zero_gamma", "Zero gamma", "#f59e0b", "dot")):
        fig.add_trace(go.Scatter(x=x, y=table[col].astype("float64"), mode="markers+lines",
                                 name=name, line=dict(color=color, dash=dash, width=1),
                                 marker=dict(symbol="line-ew-open", size=14)))
    fig.add_trace(go.Scatter(x=x, y=table["close"], mode="markers", name="Close",
                             marker=dict(size=9, color=charts.SPOT_COLOR)))
    fig.update_layout(charts.base_layout(title, "Session", "Price ($)", height))
    fig.update_xaxes(type="category")
    return fig


# --- sections ----------------------------------------------------------------------------------

def oi_change_section(sym: str, n: int) -> None:
    """ΔOI heatmap strike × expiry (the next ``n`` expiries, strikes nearest spot)."""
    st.markdown(f"##### Open interest change since the previous session · {sym}")
    try:
        ch = fetch.oi_change(sym, n=n)
    except DataError as exc:
        st.info(str(exc), icon=":material/info:")
        return
    if ch is None:
        st.info(NO_HISTORY.format(sym=sym), icon=":material/history:")
        return
    if ch.frame is None:
        st.info(f"{ch.reason} ΔOI will show once it is; the previous session's OI "
                f"({ch.previous.session:%a %d %b}) is recorded.", icon=":material/schedule:")
        return
    side = st.segmented_control("ΔOI of", ["all", "call", "put"], default="all", required=True,
                                help="Calls + puts, calls only or puts only.") or "all"
    grid = history.oi_change_grid(ch.frame, side)
    spot = fetch.quote(sym).price
    st.plotly_chart(charts.heatmap(grid, spot=spot, measure="ΔOI", unit="contracts",
                                   title=f"ΔOI ({side}) · {len(grid.columns)} expiries × "
                                         f"{len(grid)} strikes vs {ch.previous.session:%a %d %b}"),
                    width="stretch", config={"displaylogo": False})
    total = int(ch.frame["oi_change"].sum())
    left_out = n - len(grid.columns)
    st.caption(f"{OI_CHANGE_HELP} Net over the map: {total:+,} contracts. Previous: recorded "
               f"{ch.previous.snapshot:%a %d %b %H:%M} ET."
               + (f" {left_out} of the {n} expiries asked were not recorded then and are left "
                  "out (their change is unknown)." if left_out > 0 else ""))


def iv_rank_section(sym: str) -> None:
    st.markdown(f"##### IV rank · {sym}")
    try:
        r = fetch.iv_rank(sym)
        past = fetch.iv_history(sym)
    except DataError as exc:
        st.info(str(exc), icon=":material/info:")
        return
    cols = st.columns(4)
    cols[0].metric("30-day ATM IV", "n/a" if r.current is None else f"{100 * r.current:.1f}%")
    cols[1].metric("IV rank", _pct(r.rank, ".0f"), help=IV_RANK_HELP)
    cols[2].metric("IV percentile", _pct(r.percentile, ".0f"), help=IV_RANK_HELP)
    cols[3].metric("History", f"{r.days} days", help="recorded sessions used (max 252)")
    if r.days == 0:
        st.info(NO_HISTORY.format(sym=sym) + " IV rank needs at least one.",
                icon=":material/history:")
        return
    if not r.full_year:
        st.caption(f":orange[{r.days} days of history — rank and percentile are over those "
                   f"days, not a year yet.]")
    st.plotly_chart(iv_history_chart(past, r.current, title=f"{sym} · 30-day ATM IV by session"),
                    width="stretch", config={"displaylogo": False})
    st.caption(IV_RANK_HELP)


LEVEL_COLUMNS = {
    "session": st.column_config.DateColumn("Session", format="ddd D MMM"),
    "expiry": st.column_config.DateColumn("Front expiry", format="D MMM"),
    "open": st.column_config.NumberColumn("Open", format="%.2f"),
    "close": st.column_config.NumberColumn("Close", format="%.2f"),
    "call_wall_oi": st.column_config.NumberColumn("Call wall", format="%.2f"),
    "put_wall_oi": st.column_config.NumberColumn("Put wall", format="%.2f"),
    "zero_gamma": st.column_config.NumberColumn("Zero γ", format="%.2f"),
    "max_pain": st.column_config.NumberColumn("Max pain", format="%.2f"),
    "expected_move": st.column_config.NumberColumn("EM (1σ)", format="%.2f"),
    "inside": st.column_config.CheckboxColumn("Inside EM"),
    "call_wall_held": st.column_config.CheckboxColumn("Call wall held"),
    "put_wall_held": st.column_config.CheckboxColumn("Put wall held"),
}


def level_history_section(sym: str, sessions: int = history.LEVEL_SESSIONS) -> None:
    st.markdown(f"##### Level history · last {sessions} sessions · {sym}")
    try:
        table = fetch.level_history(sym, sessions)
    except DataError as exc:
        st.info(str(exc), icon=":material/info:")
        return
    if table.empty:
        st.info(NO_HISTORY.format(sym=sym) + " Level history needs completed sessions.",
                icon=":material/history:")
        return
    s = history.level_stats(table)
    cols = st.columns(3)
    cols[0].metric("Closed inside the EM", f"{s.inside}/{s.inside_of}",
                   help="sessions whose close was within open ± 1σ expected move")
    cols[1].metric("Call wall held", f"{s.call_held}/{s.call_of}",
                   help="closed at or below a call wall that was above the open")
    cols[2].metric("Put wall held", f"{s.put_held}/{s.put_of}",
                   help="closed at or above a put wall that was below the open")
    st.plotly_chart(level_history_chart(table, title=f"{sym} · levels at the open vs the close"),
                    width="stretch", config={"displaylogo": False})
    shown = table[[c for c in LEVEL_COLUMNS if c in table.columns]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=LEVEL_COLUMNS)
    st.caption(LEVEL_HELP)


def symbol_history(sym: str, n_expiries: int) -> None:
    """The Trading Dashboard's history block: OI change, IV rank, level history."""
    st.markdown("#### History (recorded)")
    left, right = st.columns(2)
    with left:
        oi_change_section(sym, n_expiries)
    with right:
        iv_rank_section(sym)
    level_history_section(sym)


def _fmt_change(triple, spec=",.2f", suffix="") -> str:
    now, then, d = triple
    if now is None:
        return "n/a"
    if then is None or d is None:
        return f"{now:{spec}}{suffix}"
    return f"{now:{spec}}{suffix} ({d:+{spec}})"


def what_changed_table(watchlist) -> tuple[pd.DataFrame, int]:
    """One row per symbol with a recording: price, ATM IV and the levels now, and their change
    since today's first snapshot and since the previous session's last. Returns (table, number
    of symbols without any recording)."""
    rows, missing = [], 0
    for sym in watchlist:
        try:
            w = fetch.what_changed(sym)
        except DataError:
            continue
        if w["open"] is None and w["yesterday"] is None:
            missing += 1
            continue
        row = {"symbol": sym, "expiry": w["now"]["expiry"], "price": w["now"]["price"]}
        for label, key in (("open", "since_open"), ("yday", "since_yesterday")):
            ch = w[key]
            row[f"price_{label}"] = None if ch is None else ch["price_pct"]
            row[f"iv_{label}"] = None if ch is None else ch["atm_iv"][2]
            for f in ("call_wall_oi", "put_wall_oi", "zero_gamma", "max_pain"):
                row[f"{f}_{label}"] = None if ch is None else ch[f][2]
        row["atm_iv"] = w["now"]["atm_iv"]
        for f in ("call_wall_oi", "put_wall_oi", "zero_gamma", "max_pain"):
            row[f] = w["now"][f]
        rows.append(row)
    return pd.DataFrame(rows), missing


CHANGE_COLUMNS = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "price": st.column_config.NumberColumn("Price", format="%.2f"),
    "price_open": st.column_config.NumberColumn("Δ% open", format="%+.2f%%"),
    "price_yday": st.column_config.NumberColumn("Δ% yday", format="%+.2f%%"),
    "atm_iv": st.column_config.NumberColumn("ATM IV", format="percent"),
    "iv_open": st.column_config.NumberColumn("ΔIV open (pts)", format="%+.1f"),
    "iv_yday": st.column_config.NumberColumn("ΔIV yday (pts)", format="%+.1f"),
    "call_wall_oi": st.column_config.NumberColumn("Call wall", format="%.2f"),
    "call_wall_oi_open": st.column_config.NumberColumn("Δ open", format="%+.2f"),
    "call_wall_oi_yday": st.column_config.NumberColumn("Δ yday", format="%+.2f"),
    "put_wall_oi": st.column_config.NumberColumn("Put wall", format="%.2f"),
    "put_wall_oi_open": st.column_config.NumberColumn("Δ open", format="%+.2f"),
    "put_wall_oi_yday": st.column_config.NumberColumn("Δ yday", format="%+.2f"),
    "zero_gamma": st.column_config.NumberColumn("Zero γ", format="%.2f"),
    "zero_gamma_open": st.column_config.NumberColumn("Δ open", format="%+.2f"),
    "zero_gamma_yday": st.column_config.NumberColumn("Δ yday", format="%+.2f"),
}


def what_changed_section(watchlist) -> None:
    """Command Center: what changed since the open and since yesterday, per symbol."""
    st.markdown("##### What changed · since the open / since yesterday")
    table, missing = what_changed_table(watchlist)
    if table.empty:
        st.info("No recorded history for the watchlist yet: nothing to compare with. The "
                "recorder stores the open and each close.", icon=":material/history:")
        return
    shown = table[[c for c in CHANGE_COLUMNS if c in table.columns]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=CHANGE_COLUMNS)
    st.caption("Now (live, nearest expiry) vs today's first recorded snapshot (open) and the "
               "previous session's last (yday), same expiry when it was recorded. IV changes in "
               "vol points." + (f" {missing} symbols have no recording yet." if missing else ""))


def fresh_oi_section(names, n_expiries: int, top_n: int) -> None:
    """Whale Flows: fresh positioning from real ΔOI for the scanned symbols, where recorded."""
    st.markdown("##### Fresh positioning from real ΔOI")
    parts, without = [], []
    today = clock.today()
    for sym in names:
        try:
            ch = fetch.oi_change(sym, n=n_expiries)
            spot = fetch.quote(sym).price if ch is not None and ch.frame is not None else None
        except DataError:
            continue
        if ch is None or ch.frame is None:
            without.append(sym)
            continue
        fresh = history.fresh_from_oi(ch.frame, spot, today=today).head(top_n)
        if len(fresh):
            parts.append(fresh.assign(symbol=sym))
    if not parts and without and len(without) == len(list(names)):
        st.info("No recorded history for these symbols yet: fresh positioning above uses the "
                "volume/OI proxy (labelled).", icon=":material/history:")
        return
    if not parts:
        st.info("No contract opened ≥ 100 contracts (≥ 25 %) near spot since the previous "
                "session.", icon=":material/info:")
    else:
        table = pd.concat(parts, ignore_index=True).sort_values("fresh_score", ascending=False)
        cols = ["symbol", "contract", "type", "strike", "expiry", "prev_oi", "open_interest",
                "oi_change", "mid", "new_premium", "fresh_score"]
        st.dataframe(table[cols], hide_index=True, width="stretch", column_config={
            "prev_oi": st.column_config.NumberColumn("OI before", format="localized"),
            "open_interest": st.column_config.NumberColumn("OI now", format="localized"),
            "oi_change": st.column_config.NumberColumn("ΔOI", format="%+d"),
            "new_premium": st.column_config.NumberColumn("New premium $", format="compact"),
            "fresh_score": st.column_config.NumberColumn("Fresh score", format="%.1f"),
            "expiry": st.column_config.DateColumn("Expiry", format="ddd D MMM")})
    note = f" No recording yet for: {', '.join(without)} (proxy only)." if without else ""
    st.caption(FRESH_OI_HELP + note)


def premarket_oi_section(sym: str, expiry: dt.date, chain) -> None:
    """Option Volume Walls: before today's OI is published, the previous session's recorded OI
    by strike and its OI walls, labelled as such. Nothing when today's OI is there."""
    if history.oi_published(chain.frame):
        return
    st.markdown("##### Open interest before the open")
    prev = fetch.previous_oi(sym)
    if prev is None:
        st.info(f"Today's open interest for {sym} is not published yet, and no previous "
                "session was recorded: OI walls are not available until the open.",
                icon=":material/history:")
        return
    frame = history.fill_oi(chain.frame, prev.frame)
    if not history.oi_published(frame):
        st.info(f"No recorded OI for {sym} {expiry:%d %b} in the previous session.",
                icon=":material/history:")
        return
    table = levels.by_strike(frame)
    walls = levels.oi_walls(frame, chain.spot)
    st.plotly_chart(charts.strike_bars(
        table["strike"], table["call_oi"], table["put_oi"], measure="Open interest",
        title=f"OI by strike · {expiry:%d %b} · as recorded {prev.snapshot:%a %d %b %H:%M} ET",
        levels=[lv for lv in (charts.level("call_wall_oi", walls.call),
                              charts.level("put_wall_oi", walls.put),
                              charts.level("spot", chain.spot)) if lv]),
        width="stretch", config={"displaylogo": False})
    st.caption(f":orange[Yesterday's OI: today's is not published yet, so these bars and walls "
               f"use the open interest recorded on {prev.session:%a %d %b} (as of the close "
               f"before it).] Call wall (OI) {_price(walls.call)} · put wall (OI) "
               f"{_price(walls.put)}.")


def _price(v) -> str:
    return "n/a" if v is None else f"{v:,.2f}"
